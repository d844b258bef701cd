"""Loading the desired state: the root file, its secrets, and every posting.

`collect` reads everything and gathers every problem without stopping at the first;
`load` turns a clean collection into `Desired` or raises one `ConfigError` listing them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from boardsync.config.boards import boards
from boardsync.config.gitsource import Checkout, checkout_folder, live_checkout, sqlite_file
from boardsync.config import parsed
from boardsync.config.parsed import ParsedFiles, beside
from boardsync.config.model import Posting, PostingsSource, RootConfig, SqlSource, Status
from boardsync.config.problems import DataPath, format_path, from_validation_error, parse_path
from boardsync.config.secrets import Resolution, Resolver, looks_like_key, scrub, suggested_variable
from boardsync.config.sources import (
    Origin,
    Read,
    TableVersion,
    duplicate_keys,
    previous_key_problems,
    read_sql_source,
    read_yaml_source,
    shared_handles,
)
from boardsync.config.yamlfile import Document, FileProblem, display_path, load_file
from boardsync import workspaces
from boardsync.errors import ConfigError, Problem, StateError, no_such_posting
from boardsync.log import register_secret



def secret_fields() -> list[DataPath]:
    """``("providers", board, field)`` of every secret a board's settings declare (each
    `SecretStr` field), by board and field."""
    return sorted(
        ("providers", board.name, name)
        for board in boards().values()
        for name, info in board.settings.model_fields.items()
        if SecretStr in (info.annotation, *typing.get_args(info.annotation))
    )


@dataclass(frozen=True)
class Desired:
    """The desired state, valid and complete: what every board should hold."""

    root: RootConfig
    """The root file, with secrets resolved into `SecretStr`."""
    path: Path
    """The root file."""
    postings: tuple[Posting, ...]
    """Sorted by key."""
    warnings: tuple[Problem, ...]
    digest: str
    """sha256 of the normalised desired state, secrets left out: recorded with every run."""
    state_url: str
    """The state database URL, a relative SQLite path made absolute."""
    origins: Mapping[str, Origin] = field(default_factory=dict, repr=False, compare=False)
    commit: str | None = None
    """The commit the postings were read from, when `source:` follows a git branch."""
    root_digest: str = ""
    """sha256 of the root file alone, normalised as `digest`: a saved plan narrowed to some
    postings is stale when it or one of them changed, not when another posting did."""
    table: TableVersion | None = field(default=None, repr=False, compare=False)
    """For postings read from a database: the table's version they were read at, so the
    daemon can tell cheaply, before each run, whether to read them again."""
    notify_written: tuple[str | None, ...] = ()
    """Each `notify:` target's URL as written, when it is a reference (``${SLACK_WEBHOOK_URL}``),
    else None: a name for the target that holds no secret, the same with or without secrets."""
    posting_digests: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Posting key → a digest of the posting alone, normalised as `digest`: a saved plan names
    the postings edited since it was made by these."""

    def posting(self, key: str) -> Posting:
        for posting in self.postings:
            if posting.key == key:
                return posting
        raise KeyError(key)

    def chosen(self, keys: Collection[str] | None) -> list[Posting]:
        """The postings of `keys` (all of them for None); a key that names none is a
        `ConfigError` that suggests the nearest key."""
        if keys is None:
            return list(self.postings)
        chosen = [p for p in self.postings if p.key in keys]
        if missing := set(keys) - {p.key for p in chosen}:
            raise no_such_posting(missing, (p.key for p in self.postings))
        return chosen

    def pairs(self, now: datetime | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(every (posting, board) pair on a configured board, those of postings closed —
        as written, or by their `close_at` at `now` — which are never posted): what `status`
        and the daemon's health expect."""
        configured = set(self.root.providers.names())
        expected = [(p, board) for p in self.postings for board in p.boards.names() if board in configured]
        closed = [(p, board) for p, board in expected
                  if (p.status_at(now) if now is not None else p.status) is Status.CLOSED]
        return ([(p.key, board) for p, board in expected], [(p.key, board) for p, board in closed])

    def where(self, key: str, field: str = "") -> str:
        """``postings/designer.yaml:14:7`` of that posting's field (or its nearest written
        parent), or the SQL row's location ``table postings, key=<key>``."""
        return self.origins[key].where(parse_path(field))


@dataclass
class Collected:
    """Everything read, valid or not; `problems` empty means `load` succeeds."""

    path: Path
    root: RootConfig | None = None
    postings: list[tuple[Posting, Origin]] = field(default_factory=list)
    unchecked: list[tuple[Posting, Origin]] = field(default_factory=list)
    """Postings that break a rule between fields; see `sources.Read.unchecked`."""
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    resolution: Resolution | None = None
    state_url: str = ""
    checkout: Checkout | None = None
    """The commit of a git source the postings were read from."""
    table: TableVersion | None = None
    """The postings table's version, for postings read from a database."""

    def scrubbed(self, problems: list[Problem]) -> list[Problem]:
        secrets = self.resolution.secrets if self.resolution else set()
        if not secrets:
            return problems
        return [Problem(p.location, p.field, scrub(p.message, secrets)) for p in problems]


ROOT_HINT = "no boardsync config here (-c names the root file; default ./boardsync.yaml)"


def load(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None, resolve_secrets: bool = True,
    checkout: Checkout | None = None, start_cache: bool = False,
) -> Desired:
    """Read the root file and every posting; raise `ConfigError` listing every problem.

    Relative paths (the postings folder, a SQLite database) start at the root file's folder.
    With `resolve_secrets=False` references are only checked for form; each secret then
    holds its reference text (for `boardsync validate --no-secrets` in a pull request).
    With `source:` (a git branch), the postings are read from `checkout`, by default the
    live commit of boardsync's own checkout.

    Posting files parsed before come from the cache beside a SQLite state database
    (`config.parsed`) when that database exists; `start_cache` (for a command that creates
    the database) starts the cache before it does.
    """
    collected = collect(path, env=env, resolve_secrets=resolve_secrets, checkout=checkout, start_cache=start_cache)
    if collected.problems:
        raise ConfigError(collected.problems)
    assert collected.root is not None
    return _desired(collected)


def collect(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None, resolve_secrets: bool = True,
    checkout: Checkout | None = None, start_cache: bool = False,
) -> Collected:
    """Read everything there is to read and gather every problem, in file order."""
    root_path = Path(path)
    collected = Collected(path=root_path.resolve(), checkout=checkout)
    shown = display_path(root_path)
    collected.sources.append(shown)
    try:
        document = load_file(root_path, shown)
    except FileProblem as exc:
        # Said as the config it is: a wrong -c is the usual cause.
        problem = exc.problem
        collected.problems.append(Problem(problem.location, problem.field, f"{problem.message}; {ROOT_HINT}"))
        return collected
    data = _root_mapping(document, collected)
    if data is None:
        return collected
    resolver = Resolver(env=os.environ if env is None else env, base=collected.path.parent, resolve=resolve_secrets)
    resolution = resolver.resolve_tree(data)
    collected.resolution = resolution
    for where, message in resolution.problems:
        collected.problems.append(Problem(document.where(where), format_path(where), message))
    collected.root = _validate_root(resolution.data, document, collected, resolve_secrets)
    if collected.root is not None and resolve_secrets:
        register_secret(*_secret_values(collected.root))  # a secret written literally, too
    workspace = (os.environ if env is None else env).get(workspaces.ENV) or workspaces.DEFAULT
    if collected.root is not None:
        collected.warnings.extend(_literal_secrets(resolution, document))
        collected.state_url = _state_url(collected.root.state, document, collected, resolve_secrets, workspace)
    files = _parsed_files(collected.state_url, start_cache, collected.path, workspace)
    _read_postings(resolution.data, document, collected, resolve_secrets, files)
    collected.problems = collected.scrubbed(sort_problems(collected.problems, collected.sources))
    collected.warnings = collected.scrubbed(sort_problems(collected.warnings, collected.sources))
    return collected


def _root_mapping(document: Document, collected: Collected) -> dict[str, Any] | None:
    if isinstance(document.data, dict):
        return document.data
    what = "empty" if document.data is None else "not a mapping"
    collected.problems.append(
        Problem(document.where(()), "", f"the root file is {what}; it needs at least `version: 1` and `providers:`")
    )
    return None


def _validate_root(
    data: dict[str, Any], document: Document, collected: Collected, resolve: bool
) -> RootConfig | None:
    try:
        return RootConfig.model_validate(data)
    except ValidationError as exc:
        problems = from_validation_error(exc, model=RootConfig, data=data, where=document.where, echo_inputs=False)
    written = collected.resolution.written if collected.resolution else {}
    unknowable = {parse_path(p.field) for p in problems} & set(written) if not resolve else set()
    if not unknowable:
        collected.problems.extend(problems)
        return None
    # Without secrets, a value that is still a reference cannot be judged (`${RATE}` is not a
    # number yet): leave it out, so the field's default stands in, and check the rest.
    return _validate_root(_without(data, unknowable), document, collected, resolve)


def _without(data: Any, paths: set[DataPath]) -> Any:
    """A copy of `data` with the values at `paths` removed."""

    def walk(value: Any, path: DataPath) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, path + (k,)) for k, v in value.items() if path + (k,) not in paths}
        if isinstance(value, list):
            return [walk(v, path + (i,)) for i, v in enumerate(value) if path + (i,) not in paths]
        return value

    return walk(data, ())


def _secret_values(model: BaseModel) -> list[str]:
    """The value of every `SecretStr` in the model, nested models included."""
    values: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, SecretStr):
                values.append(item.get_secret_value())
            elif isinstance(item, BaseModel):
                values.extend(_secret_values(item))
    return values


def _literal_secrets(resolution: Resolution, document: Document) -> list[Problem]:
    """Warn about a secret written into the file (a literal key shaped like a board's is an
    error already): it would be committed with the rest."""
    warnings = []
    targets = document.data.get("notify") if isinstance(document.data, dict) else None
    notify_urls: list[DataPath] = [("notify", i, "url") for i in range(len(targets))] if isinstance(targets, list) else []
    for path in [*secret_fields(), *notify_urls]:
        written = _value_at(document.data, path)
        if isinstance(written, str) and path not in resolution.written and not looks_like_key(written):
            variable = suggested_variable(path)
            warnings.append(
                Problem(
                    document.where(path),
                    format_path(path),
                    f'written literally; reference it instead, e.g. "${{{variable}}}", so it stays out of the repository',
                )
            )
    return warnings


# ------------------------------------------------------------------------------ databases


def database_url(text: str, base: Path) -> str:
    """A SQLAlchemy URL; a bare path means a SQLite file; relative SQLite paths start at `base`.
    Raises `ValueError` when `text` is not a database URL."""
    if "://" not in text:
        return f"sqlite:///{(base / text).resolve() if not Path(text).is_absolute() else Path(text)}"
    plain = _plain_sqlite_url(text, base)
    if plain is not None:
        return plain
    if _backend(text) != "sqlite":
        return _checked_url(text)  # another database's URL is kept as written
    import sqlalchemy  # only for unusual SQLite URLs: loading it is a good part of a short command's start

    try:
        url = sqlalchemy.engine.make_url(text)
    except sqlalchemy.exc.ArgumentError as exc:
        raise ValueError(f"not a database URL: {type(exc).__name__}") from None
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return text
    if Path(database).is_absolute():
        return text
    return url.set(database=str((base / database).resolve())).render_as_string(hide_password=False)


_PLAIN = re.compile(r"[A-Za-z0-9_./ -]+")
"""Characters that SQLAlchemy neither reads nor writes escaped in a SQLite file's path."""


_SCHEME = re.compile(r"[\w+]+")
"""A URL's dialect and driver, as SQLAlchemy reads them (``postgresql+psycopg``)."""


def _backend(url: str) -> str:
    """The database a URL names (``postgresql`` of ``postgresql+psycopg://…``)."""
    return url.split("://", 1)[0].split("+", 1)[0]


def _checked_url(text: str) -> str:
    """`text`, when it reads as a database URL; a `ValueError` otherwise (a scheme SQLAlchemy
    would not read, a port that is no number, a host in brackets left open)."""
    scheme = text.split("://", 1)[0]
    if not _SCHEME.fullmatch(scheme):
        raise ValueError("not a database URL")
    _ = urlsplit(text).port  # a port that is no number raises ValueError
    return text


def _plain_sqlite_url(text: str, base: Path) -> str | None:
    """What `database_url` makes of a SQLite file's URL written plainly (``sqlite:///state.db``),
    worked out without SQLAlchemy; None for any other URL."""
    prefix = "sqlite:///"
    database = text.removeprefix(prefix)
    if database == text or not _PLAIN.fullmatch(database):
        return None
    if Path(database).is_absolute():
        return text
    resolved = str((base / database).resolve())
    return f"{prefix}{resolved}" if _PLAIN.fullmatch(resolved) else None


def _state_url(text: str, document: Document, collected: Collected, resolve: bool, workspace: str) -> str:
    written = collected.resolution.written if collected.resolution else {}
    if not resolve and ("state",) in written:
        return text  # still holds references; nothing to resolve against
    try:
        url = database_url(text, collected.path.parent)
    except ValueError:
        collected.problems.append(
            Problem(document.where(("state",)), "state", "not a database URL (e.g. sqlite:///boardsync.db)")
        )
        return text
    try:
        return workspace_url(url, workspace)
    except StateError as exc:
        collected.problems.append(Problem(document.where(("state",)), "state", str(exc)))
        return url


def workspace_url(url: str, workspace: str) -> str:
    """The state URL of `workspace` in the database at `url`: on PostgreSQL the URL naming it,
    on SQLite its own file beside the named one (`boardsync.workspaces`)."""
    if workspace == workspaces.DEFAULT:
        return url
    workspaces.check(workspace)
    if _backend(url) != "sqlite":
        return workspaces.in_url(url, workspace)
    plain = sqlite_file(url) if _PLAIN.fullmatch(url.removeprefix("sqlite:///")) else None
    if plain is not None:
        return f"sqlite:///{plain.with_name(f'{plain.stem}.{workspace}{plain.suffix}')}"
    import sqlalchemy  # only for unusual SQLite URLs

    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return parsed.update_query_dict({workspaces.URL_PARAM: workspace}).render_as_string(hide_password=False)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise StateError("an in-memory state database holds only the default workspace")
    path = Path(database)
    return parsed.set(database=str(path.with_name(f"{path.stem}.{workspace}{path.suffix}"))).render_as_string(
        hide_password=False)


# ------------------------------------------------------------------------------ postings


def _read_postings(
    data: dict[str, Any], document: Document, collected: Collected, resolve: bool, files: ParsedFiles
) -> None:
    source = _postings_source(collected.root, data)
    if source is None:
        return  # the root's own problems already say what is wrong with `postings`
    if isinstance(source, SqlSource):
        read = _read_sql(source, document, collected, resolve)
    elif collected.root is not None and collected.root.source is not None:
        read = _read_git_checkout(collected.root, document, collected, files)
    else:
        target = Path(source)
        target = target if target.is_absolute() else collected.path.parent / target
        read = read_yaml_source(target, exclude=collected.path, where=document.where(("postings",)), files=files)
    files.save()
    problems = list(read.problems) + duplicate_keys(read.keys) + previous_key_problems(read.postings)
    problems += shared_handles([*read.postings, *read.unchecked])
    problems += _unconfigured_boards(read, collected.root)
    collected.problems.extend(problems)
    collected.warnings.extend(read.warnings + _boardless(read))
    collected.sources.extend(read.sources)
    collected.postings = read.postings
    collected.unchecked = read.unchecked
    collected.table = read.table


def _postings_source(root: RootConfig | None, data: dict[str, Any]) -> str | SqlSource | None:
    if root is not None:
        return root.postings
    # The root has problems elsewhere: still read the postings, if `postings` itself is fine.
    if "source" in data:
        return None  # a git source is read only once the root is valid: it says where the checkout is
    try:
        source: str | SqlSource = TypeAdapter(PostingsSource).validate_python(data.get("postings", "postings/"))
        return source
    except ValidationError:
        return None


def _read_sql(source: SqlSource, document: Document, collected: Collected, resolve: bool) -> Read:
    where = document.where(("postings", "sql"))
    written = collected.resolution.written if collected.resolution else {}
    if not resolve and ("postings", "sql") in written:
        read = Read()
        read.warnings.append(
            Problem(where, "postings.sql", "not read: the URL holds secret references and secrets are not resolved")
        )
        return read
    try:
        url = database_url(source.sql, collected.path.parent)
    except ValueError:
        read = Read()
        read.problems.append(Problem(where, "postings.sql", "not a database URL (e.g. sqlite:///postings.db)"))
        return read
    return read_sql_source(url, source.table, where=where)


def _read_git_checkout(root: RootConfig, document: Document, collected: Collected, files: ParsedFiles) -> Read:
    """The postings at `source.path` of the commit given, or of the live one."""
    assert root.source is not None
    where = document.where(("source",))
    if collected.checkout is None:
        collected.checkout = live_checkout(checkout_folder(root, collected.path, collected.state_url))
    if collected.checkout is None:
        read = Read()
        read.problems.append(Problem(where, "source", "no commit of the branch checked out yet: "
                                     "`boardsync daemon` fetches it and checks it out"))
        return read
    target = collected.checkout.folder / root.source.path
    return read_yaml_source(target, exclude=collected.path, where=f"{where} (commit {collected.checkout.short})",
                            files=files)


def _parsed_files(state_url: str, start: bool, config: Path, workspace: str) -> ParsedFiles:
    """The cache of parsed posting files: beside a SQLite state database that exists (or whose
    folder does, when `start`); for a state kept elsewhere (PostgreSQL), in the cache folder
    (`parsed.cache_folder`), where one is kept for each config and workspace once a command
    that writes the state (`start`) has made it. Else one that lasts this read only. A
    command that only reads the state never leaves a cache where there was none."""
    database = sqlite_file(state_url)
    if database is not None:
        if database.exists() or (start and database.parent.is_dir()):
            return ParsedFiles(beside(database))
        return ParsedFiles()
    if not state_url:  # the root file did not say where the state is
        return ParsedFiles()
    folder = parsed.cache_folder(os.environ)
    if folder is None:
        return ParsedFiles()
    kept = parsed.in_folder(folder, config, workspace)
    return ParsedFiles(kept) if start or kept.is_file() else ParsedFiles()


def _unconfigured_boards(read: Read, root: RootConfig | None) -> list[Problem]:
    if root is None:
        return []
    configured = set(root.providers.names())
    return [
        Problem(
            origin.where(("boards", name)),
            f"boards.{name}",
            f"{name} is not configured under `providers:` in the root file",
        )
        for posting, origin in read.postings
        for name in posting.boards.names()
        if name not in configured
    ]


def _boardless(read: Read) -> list[Problem]:
    return [
        Problem(origin.where(("boards",)), "boards", "names no board; the posting goes nowhere")
        for posting, origin in read.postings
        if not posting.boards.names()
    ]


# ------------------------------------------------------------------------------ the result


def _desired(collected: Collected) -> Desired:
    assert collected.root is not None
    ordered = sorted(collected.postings, key=lambda pair: pair[0].key)
    postings = tuple(posting for posting, _ in ordered)
    # Each posting is encoded once, for its own digest and the whole state's: by pydantic, in
    # one call, at half the cost of dumping it to plain values and encoding those.
    encoded = [posting.model_dump_json() for posting in postings]
    root = _normalised_root(collected.root, collected.resolution)
    return Desired(
        root=collected.root,
        path=collected.path,
        postings=postings,
        warnings=tuple(collected.warnings),
        digest=_state_digest(root, encoded),
        state_url=collected.state_url,
        origins={posting.key: origin for posting, origin in ordered},
        commit=collected.checkout.commit if collected.checkout is not None else None,
        root_digest=_state_digest(root, []),
        table=collected.table,
        notify_written=_notify_written(collected),
        posting_digests={
            posting.key: hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
            for posting, text in zip(postings, encoded, strict=True)
        },
    )


def _notify_written(collected: Collected) -> tuple[str | None, ...]:
    assert collected.root is not None
    written = collected.resolution.written if collected.resolution else {}
    return tuple(written.get(("notify", i, "url")) for i in range(len(collected.root.notify)))


_encoded = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""The JSON text the root's digest is taken over: keys sorted, no spaces. Each value that
held a reference counts as the reference written, so a rotated secret does not change the
digest, and none is hashed. A posting is digested as pydantic encodes it (`_desired`): its
fields in the order the model declares them, whatever order the file wrote them in."""


def _normalised_root(root: RootConfig, resolution: Resolution | None) -> str:
    """The root as JSON text, each value that held a reference as the reference written."""
    normalised = root.model_dump(mode="json")
    for path, written in (resolution.written if resolution else {}).items():
        _replace(normalised, path, written)
    return _encoded(normalised)


def _state_digest(root: str, postings: list[str]) -> str:
    """sha256 of ``{"postings": [...], "root": ...}``, put together from the parts already
    encoded."""
    hashed = hashlib.sha256(b'{"postings":[')
    for index, text in enumerate(postings):
        hashed.update(b"," + text.encode("utf-8") if index else text.encode("utf-8"))
    hashed.update(b'],"root":' + root.encode("utf-8") + b"}")
    return hashed.hexdigest()


def _value_at(tree: Any, path: DataPath) -> Any:
    for part in path:
        if isinstance(tree, list) and isinstance(part, int) and 0 <= part < len(tree):
            tree = tree[part]
        elif isinstance(tree, dict) and part in tree:
            tree = tree[part]
        else:
            return None
    return tree


def _replace(tree: Any, path: DataPath, value: str) -> None:
    for part in path[:-1]:
        try:
            tree = tree[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(tree, dict) and path and path[-1] in tree:
        tree[path[-1]] = value
    elif isinstance(tree, list) and path and isinstance(path[-1], int) and path[-1] < len(tree):
        tree[path[-1]] = value


_LOCATION = re.compile(r"^(?P<source>.*?)(?::(?P<line>\d+):(?P<col>\d+))?$")


def sort_problems(problems: list[Problem], sources: list[str]) -> list[Problem]:
    """In the order files were read, then by line and column; stable otherwise."""
    rank = {source: index for index, source in enumerate(sources)}

    def key(problem: Problem) -> tuple[int, int, int]:
        match = _LOCATION.match(problem.location)
        assert match is not None
        source = match.group("source")
        order = rank.get(source, rank.get(source.split(", key=")[0], len(rank)))
        return (order, int(match.group("line") or 0), int(match.group("col") or 0))

    return sorted(problems, key=key)
