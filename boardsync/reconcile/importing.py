"""``boardsync import``: the jobs already on the boards, written down as postings and bound.

Every configured board that holds jobs is read (its `observe`, the reads a run makes). Each
job no binding points at is turned into a posting's words by its connector
(`Connector.as_posting`, the reverse of `render`); jobs with the same title and place (the
posting's identity, as `identity` has it) become one posting naming each of their boards.
Where the boards word the job differently, the title, description or salary of the others is
kept under their ``boards.<name>``. Before anything is written, each posting is rendered for
each of its boards and must give back what the board shows of the job: a job that would not is
left out, with the fields that differ, so the next plan has nothing to change.

What is not certain is listed, never guessed: a job with the title and place of a posting the
config has already, and every job of a title and place that one board shows more than once (it
could be either posting). Closed and expired jobs are skipped unless asked for.

Files are written first (never over an existing one: a taken name gets ``-2``, ``-3``, …), then
the bindings, in one run with an ``import`` audit row per job, as `adopt` binds: what the job
shows is what is applied, and what a board takes but does not show back (a Sorce
qualification's kind) is taken to be what the posting file says.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from boardsync.config.loader import Desired
from boardsync.config.model import OVERRIDABLE, Policy, Posting, Workplace
from boardsync.connectors.base import Connector, NotAPosting, Remote, Unrenderable
from boardsync.errors import ConfigError
from boardsync.log import get_logger
from boardsync.reconcile import record
from boardsync.reconcile.adoption import UnmanagedJob as Job
from boardsync.reconcile.adoption import _job_boards
from boardsync.reconcile.identity import ENDED
from boardsync.reconcile.waits import BoardWaits, read_jobs
from boardsync.state import Store

log = get_logger(__name__)

Clock = Callable[[], datetime]
Identity = tuple[str, Hashable]

IMPORT = "import"
"""The audit log's action for a job bound by ``boardsync import``."""
DEFAULT_FOLDER = "imported"
"""Where the files go by default: this folder inside the postings folder."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Written:
    """A posting file written (or, in a dry run, that would be), and the jobs bound to it."""

    key: str
    path: str
    jobs: tuple[Job, ...]
    text: str = field(repr=False)


@dataclass(frozen=True)
class LeftOut:
    """A job not imported, and why."""

    job: Job
    reason: str


@dataclass(frozen=True)
class Imported:
    written: tuple[Written, ...]
    ambiguous: tuple[LeftOut, ...]
    """Jobs that could be more than one posting: listed, unbound."""
    skipped: tuple[LeftOut, ...]
    """Jobs left out on purpose (closed, expired) or that cannot be a posting as they are."""
    dry_run: bool

    @property
    def bound(self) -> int:
        return sum(len(w.jobs) for w in self.written)


@dataclass
class _Found:
    provider: str
    connector: Connector
    remote: Remote
    draft: dict[str, Any]
    job: Job


# ------------------------------------------------------------------------------ the command


def import_jobs(
    desired: Desired, store: Store, connectors: Mapping[str, Connector], out: Path, *,
    board: str | None = None, include_ended: bool = False, dry_run: bool = False, clock: Clock = _utcnow,
) -> Imported:
    """Write a posting file under `out` for each job (or group of jobs) no posting owns, and
    bind them; with `dry_run`, only say what would be written. A board that cannot be read
    is a `ProviderError`: nothing is written then."""
    boards = _boards(desired, connectors, board)
    bound = {p: {j.remote_id for j in jobs} for p, jobs in record.bound_jobs(store, list(boards)).items()}
    waits = BoardWaits(store, clock, keep=False)
    read = {name: read_jobs(name, connector, waits) for name, connector in boards.items()}  # all, before any write
    skipped: list[LeftOut] = []
    free: list[_Found] = []
    for name, remotes in read.items():
        for remote in remotes:
            if remote.remote_id in bound.get(name, set()):
                continue
            found, why = _draft(name, boards[name], remote, desired, include_ended)
            if found is None:
                skipped.append(LeftOut(_job(name, boards[name], remote), why))
            else:
                free.append(found)
    groups, ambiguous = _grouped(free, desired)
    written: list[Written] = []
    taken = _taken_keys(desired, store)
    for group in groups:
        made = _posting_file(group, desired.root.policy, taken, out, _schema_line(desired, out))
        if isinstance(made, str):
            skipped += [LeftOut(f.job, made) for f in group]
        else:
            taken.add(made.key)
            written.append(made)
    result = Imported(tuple(written), tuple(ambiguous), tuple(skipped), dry_run)
    if not dry_run and written:
        _write_files(written)
        _bind(desired, store, written, groups, clock)
    return result


def _boards(desired: Desired, connectors: Mapping[str, Connector], only: str | None) -> dict[str, Connector]:
    boards = _job_boards(desired, connectors)
    if only is None:
        return boards
    if only not in boards:
        raise ConfigError(f"--board {only}: not a configured board that holds jobs "
                          f"(configured: {', '.join(sorted(boards))})")
    return {only: boards[only]}


def postings_folder(desired: Desired) -> Path:
    """The folder the config reads its postings from: an imported file must land inside it,
    or the posting it binds would not be in the config."""
    source = desired.root.postings
    if desired.root.source is not None or not isinstance(source, str):
        raise ConfigError("import writes posting files: it needs `postings:` to be a folder of this repository "
                          "(not a database table or a git branch); import in a clone, then push")
    folder = (desired.path.parent / source).resolve()
    if not folder.is_dir():
        raise ConfigError(f"postings: {source} is a file; import writes one file per posting into a folder")
    return folder


def check_out_folder(desired: Desired, out: Path) -> Path:
    """`out`, made absolute, when it lies in the postings folder; else a `ConfigError`."""
    folder = postings_folder(desired)
    resolved = out.resolve()
    if resolved != folder and folder not in resolved.parents:
        raise ConfigError(f"--out {out}: not inside the postings folder {folder}: the postings written there "
                          "would not be in the config, and the jobs bound to them would read as removed")
    return resolved


# ------------------------------------------------------------------------------ reading


def _job(provider: str, connector: Connector, remote: Remote) -> Job:
    title, place = connector.label(remote.spec)
    return Job(provider, remote.remote_id, title, remote.status, place)


def _draft(
    name: str, connector: Connector, remote: Remote, desired: Desired, include_ended: bool,
) -> tuple[_Found | None, str]:
    """The job as a posting's words, or None and why it is left out."""
    if remote.status in ENDED and not include_ended:
        return None, f"{remote.status} (--all imports it too)"
    known = {p.key for p in desired.postings}
    if remote.posting_key in known:
        return None, f"its slug names posting {remote.posting_key}: the next run takes it over"
    try:
        draft = connector.as_posting(remote)
    except NotAPosting as exc:
        return None, f"cannot be a posting as it is: {exc}"
    return _Found(name, connector, remote, draft, _job(name, connector, remote)), ""


# ------------------------------------------------------------------------------ grouping


def _folded(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


def _identity(title: Any, workplace: Any, remote_country: Any, locations: Sequence[Any]) -> Identity:
    """The title and the place, as a person reads them: one posting across boards."""
    if str(workplace) == Workplace.REMOTE.value:
        return _folded(title), ("remote", _folded(remote_country))
    places = sorted({(_folded(_get(loc, "city")), _folded(_get(loc, "country"))) for loc in locations})
    return _folded(title), ("at", tuple(places))


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _draft_identity(draft: Mapping[str, Any]) -> Identity:
    return _identity(draft["title"], draft["workplace"], draft.get("remote_country"), draft.get("locations") or [])


def _posting_identities(postings: Sequence[Posting]) -> dict[Identity, set[str]]:
    """Each posting's identity on each of its boards (a board may give it its own title)."""
    found: dict[Identity, set[str]] = {}
    for posting in postings:
        for board in posting.boards.names():
            shown = posting.on_board(board)
            identity = _identity(shown.title, posting.workplace.value, posting.remote_country, posting.locations)
            found.setdefault(identity, set()).add(posting.key)
    return found


def _grouped(free: Sequence[_Found], desired: Desired) -> tuple[list[list[_Found]], list[LeftOut]]:
    """One group per identity, at most one job per board in it; the rest listed as ambiguous."""
    existing = _posting_identities(desired.postings)
    by_identity: dict[Identity, list[_Found]] = {}
    ambiguous: list[LeftOut] = []
    for found in free:
        identity = _draft_identity(found.draft)
        if identity in existing:
            keys = ", ".join(sorted(existing[identity]))
            ambiguous.append(LeftOut(found.job, f"has the title and place of posting {keys}: bind it with "
                                                f"`boardsync adopt KEY --board {found.provider} --id {found.remote.remote_id}`"))
            continue
        by_identity.setdefault(identity, []).append(found)
    groups: list[list[_Found]] = []
    for identity, members in sorted(by_identity.items(), key=lambda item: str(item[0])):
        crowded = sorted({f.provider for f in members if sum(g.provider == f.provider for g in members) > 1})
        if crowded:
            ids = ", ".join(f"{f.provider} {f.remote.remote_id}" for f in members)
            reason = (f"{', '.join(crowded)} shows this title and place more than once ({ids}): which jobs are one "
                      "posting is not certain; close the duplicates or adopt each by hand")
            ambiguous += [LeftOut(f.job, reason) for f in members]
        else:
            groups.append(sorted(members, key=lambda f: (-_leaves(f.draft), f.provider)))
    return groups, ambiguous


def _leaves(value: Any) -> int:
    """How much a draft says: its values, counted inside lists and mappings."""
    if isinstance(value, Mapping):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value)
    return 1


# ------------------------------------------------------------------------------ one posting


def _merged(group: Sequence[_Found]) -> dict[str, Any]:
    """The first job's words (the one that says most), completed by the others' fields it
    lacks; each board's own section kept."""
    first = group[0].draft
    merged = {k: v for k, v in first.items() if k != "boards"}
    for found in group[1:]:
        for name, value in found.draft.items():
            if name != "boards":
                merged.setdefault(name, value)
    merged["boards"] = {f.provider: dict(f.draft["boards"][f.provider]) for f in group}
    return merged


def _posting_file(
    group: Sequence[_Found], policy: Policy, taken: set[str], out: Path, schema_line: str,
) -> Written | str:
    """The posting file of a group, or why the group cannot be one posting as the boards show it."""
    key = _unique_key(_slug(group[0].draft["title"]), taken, out)
    doc = {"key": key, **_merged(group)}
    for _ in range(2):  # once as merged, once more with the other boards' own words where they differ
        posting = _valid(doc)
        if isinstance(posting, str):
            return posting
        differing = {f.provider: _differing(posting, f, policy) for f in group}
        if not any(differing.values()):
            text = _yaml_text(doc, schema_line)
            return Written(key, str(out / f"{key}.yaml"), tuple(f.job for f in group), text)
        for found in group:
            _override(doc, found, differing[found.provider])
    said = "; ".join(f"{board}: {', '.join(fields)}" for board, fields in differing.items() if fields)
    return f"one posting cannot say what each board shows ({said})"


def _valid(doc: Mapping[str, Any]) -> Posting | str:
    try:
        posting = Posting.model_validate(doc)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return f"not a valid posting as the board shows it: {errors}"
    return posting


def _differing(posting: Posting, found: _Found, policy: Policy) -> list[str]:
    """The spec fields (and the status) on which the posting, rendered for the board, is not
    what the board shows of the job; also what the board itself would refuse."""
    connector, remote = found.connector, found.remote
    refused = [f"{p.field} ({p.message})" for p in connector.check(posting)]
    if refused:
        return refused
    try:
        spec = connector.render(posting.on_board(found.provider))
    except (LookupError, Unrenderable) as exc:
        return [str(exc)]
    ignored = connector.spec_fields(posting.ignored(found.provider, policy))
    shown, have = connector.shown_back, remote.spec
    fields = [n for n in spec if n not in ignored and shown(n, spec[n]) != shown(n, have.get(n))]
    status = "closed" if remote.status == "expired" else remote.status
    return fields + ([] if posting.status.value == status else ["status"])


def _override(doc: dict[str, Any], found: _Found, differing: Sequence[str]) -> None:
    """The board's own title, description or salary under its section, where the posting's
    renders otherwise on it."""
    spec_fields = set(differing)
    for name in OVERRIDABLE:
        if name in found.draft and spec_fields & found.connector.spec_fields([name]) and doc.get(name) != found.draft[name]:
            doc["boards"][found.provider][name] = found.draft[name]


# ------------------------------------------------------------------------------ keys and files


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-")[:60].strip("-")
    return slug or "posting"


def _taken_keys(desired: Desired, store: Store) -> set[str]:
    """Keys a new posting must not have: the config's (and their previous keys) and those the
    state still binds."""
    taken = {p.key for p in desired.postings} | {k for p in desired.postings for k in p.previous_keys}
    taken |= {row.posting for row in store.status_rows()}
    return taken


def _unique_key(base: str, taken: set[str], out: Path) -> str:
    """`base`, else `base-2`, `base-3`, …: the first that no posting has and no file in `out` is
    named after, so that no file is ever written over."""
    key, n = base, 1
    while key in taken or (out / f"{key}.yaml").exists() or (out / f"{key}.yml").exists():
        n += 1
        key = f"{base}-{n}"
    return key


def _schema_line(desired: Desired, out: Path) -> str:
    schema = os.path.relpath(desired.path.parent.resolve() / "posting.schema.json", out)
    return f"# yaml-language-server: $schema={Path(schema).as_posix()}\n"


def _yaml_text(doc: Mapping[str, Any], schema_line: str) -> str:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 100
    stream = io.StringIO()
    yaml.dump(_block_text(doc), stream)
    return schema_line + "# Imported from the boards by `boardsync import`.\n" + stream.getvalue()


def _block_text(value: Any) -> Any:
    """Text of several lines as a YAML block (``|``), as a person writes a description."""
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, Mapping):
        return {k: _block_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_block_text(v) for v in value]
    return value


def _write_files(written: Sequence[Written]) -> None:
    for item in written:
        path = Path(item.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x") as stream:  # "x": a file that appeared meanwhile is never written over
                stream.write(item.text)
        except FileExistsError as exc:
            raise ConfigError(f"{path}: exists already; nothing written over it") from exc


def _bind(desired: Desired, store: Store, written: Sequence[Written], groups: Sequence[Sequence[_Found]],
          clock: Clock) -> None:
    by_job = {(f.provider, f.remote.remote_id): f for group in groups for f in group}
    now = clock()
    run_id = record.start_run(store, kind=IMPORT, trigger="cli", digest=desired.digest, commit=desired.commit, now=now)
    pairs = 0
    for item in written:
        posting = Posting.model_validate(_loaded(item.text))
        for job in item.jobs:
            found = by_job[(job.provider, job.remote_id)]
            applied = found.connector.render(posting.on_board(job.provider))
            record.imported(store, run_id, (item.key, job.provider), found.remote, applied, item.path, now)
            pairs += 1
    boards = sorted({j.provider for w in written for j in w.jobs})
    record.finish_run(store, run_id, outcome="converged", counts={IMPORT: pairs},
                      boards={b: "converged" for b in boards}, error=None, now=clock())
    log.info("imported", files=len(written), jobs=pairs)


def _loaded(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)
