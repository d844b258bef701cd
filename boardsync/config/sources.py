"""Where postings come from: YAML files (one file, or a folder of them) or a SQL table.

Both sources give the same thing: postings validated by the same model, each with an
`Origin` that can say where any of its fields was written, and the problems found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from boardsync.config.model import CROSS_CHECKS, Posting
from boardsync.config.problems import DataPath, from_validation_error
from boardsync.config.parsed import FileMarks, ParsedFiles
from boardsync.config.yamlfile import (
    FileProblem,
    Marks,
    display_path,
    format_mark,
    nearest_mark,
    resolve_all,
    shown_from,
    yaml_files_under,
)
from boardsync.errors import Problem

if TYPE_CHECKING:
    import sqlalchemy

# SQLAlchemy is imported by the functions that read a table, when one is read: loading it is
# a good part of the start of a command (`validate`, `status`) that reads postings from files.


@dataclass(frozen=True)
class Origin:
    """Where one posting was written: a file with marks, or a table row (no marks)."""

    source: str
    """The file as shown in messages, or ``table postings, key=designer``."""
    marks: Marks | None = None
    """Marks relative to the posting itself, for a posting read from YAML."""

    def where(self, path: DataPath = ()) -> str:
        if self.marks is None:
            return self.source
        return f"{self.source}:{format_mark(nearest_mark(self.marks, path))}"


@dataclass
class Read:
    """What a source gave: the valid postings, and the problems and warnings found."""

    postings: list[tuple[Posting, Origin]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """Every file or table read, in order, so problems can be listed in that order."""
    keys: list[tuple[str, Origin]] = field(default_factory=list)
    """Every key written, valid posting or not, to find duplicates across the whole source."""
    unchecked: list[tuple[Posting, Origin]] = field(default_factory=list)
    """Postings invalid only by a rule between fields: never loaded, but the boards' own
    checks still run on them so that `validate` reports every problem at once."""
    table: TableVersion | None = None
    """For a SQL source read whole: the table's version as it was read."""


@dataclass(frozen=True)
class TableVersion:
    """What tells a postings table changed without reading it: its row count and newest
    `updated_at` (a row written without moving `updated_at` is not noticed)."""

    url: str = field(repr=False)
    """Resolved: it may hold a password."""
    table: str
    rows: int
    newest: str | None

    def current(self) -> TableVersion:
        """The table's version now; raises `SourceUnreadable` naming what failed."""
        try:
            return table_version(self.url, self.table)
        except _SourceProblem as exc:
            raise SourceUnreadable(str(exc)) from None


# ------------------------------------------------------------------------------ YAML


def read_yaml_source(target: Path, *, exclude: Path, where: str, files: ParsedFiles | None = None) -> Read:
    """Postings from a file or from every *.yaml / *.yml under a folder (recursive, sorted).

    `where` is the root file's place of the `postings:` value, for problems with the target
    itself; `exclude` is the root file, which never counts as a posting file. `files` holds
    the files parsed before (each is parsed here otherwise).
    """
    read = Read()
    shown = display_path(target)
    if not target.exists():
        read.problems.append(Problem(where, "postings", f"'{shown}' does not exist"))
        return read
    found = [(str(target), target.is_symlink())] if target.is_file() else yaml_files_under(str(target))
    root, cwd = str(exclude.resolve()), str(Path.cwd().resolve())
    paths = [real for real in resolve_all(found) if real != root]
    if not paths:
        read.warnings.append(Problem(where, "postings", f"no *.yaml or *.yml files in '{shown}'; no postings"))
    files = files if files is not None else ParsedFiles()
    for real in paths:
        _read_yaml_file(real, shown_from(real, cwd), files, read)
    return read


def _read_yaml_file(real: str, source: str, files: ParsedFiles, read: Read) -> None:
    read.sources.append(source)
    try:
        document = files.document(real, source)
    except FileProblem as exc:
        read.problems.append(exc.problem)
        return
    data = document.data
    if data is None:
        read.warnings.append(Problem(f"{source}:1:1", "", "empty file: no postings"))
        return
    if isinstance(data, dict):
        items: list[tuple[DataPath, Any]] = [((), data)]
    elif isinstance(data, list):
        items = [((index,), item) for index, item in enumerate(data)]
    else:
        read.problems.append(
            Problem(document.where(()), "", "a posting file holds one posting (a mapping) or a list of them")
        )
        return
    for prefix, item in items:
        origin = Origin(source, _marks_under(document.marks, prefix))
        _validate_posting(item, origin, read)


def _marks_under(marks: Marks, prefix: DataPath) -> Marks:
    if not prefix:
        return marks  # one posting a file: all of them (never changed once made)
    if isinstance(marks, FileMarks):
        return marks.under(prefix)  # found only if asked
    size = len(prefix)
    return {path[size:]: mark for path, mark in marks.items() if path[:size] == prefix}


# ------------------------------------------------------------------------------ SQL


def read_sql_source(url: str, table: str, *, where: str) -> Read:
    """Postings from rows (key, spec JSON, updated_at) of `table`, ordered by key.

    `url` is resolved already (secrets in, relative SQLite paths made absolute); it never
    appears in a problem. `where` is the root file's place of `postings.sql`.
    """
    read = Read()
    label = f"table {table}"
    read.sources.append(label)
    try:
        version, rows = _read_table(url, table)
    except _SourceProblem as exc:
        read.problems.append(Problem(where, "postings", str(exc)))
        return read
    read.table = version
    if not rows:
        read.warnings.append(Problem(where, "postings", f"{label} has no rows; no postings"))
    for key, spec in rows:
        origin = Origin(f"{label}, key={key}")
        data = _row_spec(key, spec, origin, read)
        if data is not None:
            _validate_posting(data, origin, read)
    return read


class _SourceProblem(Exception):
    pass


class SourceUnreadable(Exception):
    """The postings table could not be read."""


def table_version(url: str, table: str) -> TableVersion:
    """The table's row count and newest `updated_at`, in one query."""
    with _connected(url, table) as connection:
        return _version(connection, url, table)


def _read_table(url: str, table: str) -> tuple[TableVersion, list[tuple[Any, Any]]]:
    """The table's version, then its (key, spec) rows by key. In that order: a row written
    between the two makes the daemon's next look see a change (one read too many), never
    hides one."""
    import sqlalchemy

    rows_table = _postings_table(table)
    query = sqlalchemy.select(rows_table.c.key, rows_table.c.spec).order_by(rows_table.c.key)
    with _connected(url, table) as connection:
        version = _version(connection, url, table)
        return version, [(row[0], row[1]) for row in connection.execute(query)]


def _version(connection: sqlalchemy.Connection, url: str, table: str) -> TableVersion:
    import sqlalchemy

    updated_at = _postings_table(table).c.updated_at
    query = sqlalchemy.select(sqlalchemy.func.count(), sqlalchemy.func.max(updated_at))
    count, newest = connection.execute(query).one()
    return TableVersion(url, table, int(count), None if newest is None else str(newest))


def _postings_table(table: str) -> sqlalchemy.TableClause:
    import sqlalchemy

    schema, _, name = table.rpartition(".")
    return sqlalchemy.table(
        name, sqlalchemy.column("key"), sqlalchemy.column("spec"), sqlalchemy.column("updated_at"),
        schema=schema or None,
    )


@contextmanager
def _connected(url: str, table: str) -> Iterator[sqlalchemy.Connection]:
    """A connection to the postings database; every failure a `_SourceProblem` that names
    what went wrong and never the URL (it may hold a password)."""
    import sqlalchemy
    import sqlmodel

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise _SourceProblem("postings.sql is not a database URL (e.g. sqlite:///postings.db)") from None
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        # Connecting would create an empty database file: say it is missing instead.
        if not database.startswith("file:") and not Path(database).is_file():
            raise _SourceProblem(f"the SQLite database '{display_path(Path(database))}' does not exist")
    try:
        engine = sqlmodel.create_engine(parsed)
    except ImportError as exc:
        # The module's name says which driver to install; the URL (it may hold a password) stays out.
        raise _SourceProblem(
            f"cannot use this database URL: its driver {exc.name or 'module'!r} is not installed "
            f"(for {parsed.drivername}); install it, or name another driver in the URL"
        ) from None
    except sqlalchemy.exc.NoSuchModuleError:
        raise _SourceProblem(f"cannot use this database URL: SQLAlchemy knows no database {parsed.drivername!r}") from None
    except sqlalchemy.exc.ArgumentError as exc:
        raise _SourceProblem(f"cannot use this database URL: {type(exc).__name__}") from None
    try:
        with engine.connect() as connection:
            yield connection
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise _SourceProblem(f"cannot read table {table}: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def _first_line(exc: sqlalchemy.exc.SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _row_spec(key: Any, spec: Any, origin: Origin, read: Read) -> dict[str, Any] | None:
    if isinstance(spec, (bytes, bytearray, memoryview)):
        try:
            spec = bytes(spec).decode("utf-8")
        except UnicodeDecodeError:
            read.problems.append(Problem(origin.where(), "spec", "not UTF-8 text"))
            return None
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            read.problems.append(
                Problem(origin.where(), "spec", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
            )
            return None
    if not isinstance(spec, dict):
        read.problems.append(Problem(origin.where(), "spec", "must be a JSON object (one posting)"))
        return None
    if "key" in spec and spec["key"] != key:
        read.problems.append(
            Problem(origin.where(), "key", f"the spec says key {spec['key']!r} but the row's key is {key!r}")
        )
        return None
    return {"key": key, **spec}


# ------------------------------------------------------------------------------ both


def _validate_posting(data: Any, origin: Origin, read: Read) -> None:
    if not isinstance(data, dict):
        read.problems.append(Problem(origin.where(), "", "expected a posting (a mapping of fields)"))
        return
    if isinstance(data.get("key"), str):
        read.keys.append((data["key"], origin))
    try:
        posting = Posting.model_validate(data)
    except ValidationError as exc:
        read.problems.extend(
            from_validation_error(exc, model=Posting, data=data, where=origin.where, echo_inputs=True)
        )
        _keep_unchecked(data, origin, read)
        return
    read.postings.append((posting, origin))


def _keep_unchecked(data: dict[str, Any], origin: Origin, read: Read) -> None:
    try:
        posting = Posting.model_validate(data, context={CROSS_CHECKS: False})
    except ValidationError:
        return
    read.unchecked.append((posting, origin))


def previous_key_problems(postings: Iterable[tuple[Posting, Origin]]) -> list[Problem]:
    """A problem for every previous key (a rename's old key) that is also a posting's key
    now, or that another posting already claims: its bindings would have two owners."""
    current = {posting.key: origin for posting, origin in postings}
    claimed: dict[str, tuple[str, Origin]] = {}
    problems = []
    for posting, origin in postings:
        for index, old in enumerate(posting.previous_keys):
            where = origin.where(("previous_keys", index))
            field_name = f"previous_keys[{index}]"
            if old in current:
                problems.append(Problem(where, field_name, f"'{old}' is a posting's key now (at "
                                        f"{current[old].where(('key',))}); a previous key must be one no posting has"))
            elif old in claimed:
                other, at = claimed[old]
                problems.append(Problem(where, field_name, f"'{old}' is also a previous key of '{other}' (at "
                                        f"{at.where(('previous_keys',))}); the old key's history can move to one "
                                        "posting only"))
            else:
                claimed[old] = (posting.key, origin)
    return problems


@dataclass(frozen=True)
class _Handled:
    """One posting's handle on one board (`BoardRules.handle`) and where it comes from."""

    key: str
    origin: Origin
    field: str | None
    """The section's field that gives the handle; None: the default made from the key."""

    def path(self, board: str) -> DataPath:
        return ("boards", board, self.field) if self.field else ("key",)


def shared_handles(postings: Iterable[tuple[Posting, Origin]]) -> list[Problem]:
    """A problem for every posting whose job would carry the handle another posting's job
    carries on the same board (Hirempire: one public_slug given twice, or one that is
    another posting's ``bs-KEY``): the board would hold one job for both, and each would take
    it for its own. Both places are named; the problem is put at a handle written out
    rather than at a default one. Two postings with one key are left to `duplicate_keys`."""
    first: dict[tuple[str, str], tuple[str, Origin, str | None]] = {}
    problems = []
    for posting, origin in postings:
        for board in posting.boards.names():
            rules = posting.rules(board)
            given = rules.handle(posting.key) if rules is not None else None
            if given is None:
                continue
            # Kept as a plain tuple: made a `_Handled` only for a problem (one a posting, at thousands).
            found = first.setdefault((board, given[1]), (posting.key, origin, given[0]))
            if found[0] == posting.key:
                continue
            mine, theirs = _Handled(posting.key, origin, given[0]), _Handled(*found)
            if mine.field is None and theirs.field is not None:
                mine, theirs = theirs, mine
            problems.append(_shared_handle(board, given[1], mine, theirs))
    return problems


def _shared_handle(board: str, handle: str, mine: _Handled, theirs: _Handled) -> Problem:
    name = mine.field or theirs.field or "handle"
    default = "" if theirs.field else ", by default from its key"
    return Problem(
        mine.origin.where(mine.path(board)),
        f"boards.{board}.{mine.field}" if mine.field else "key",
        f"'{handle}' is also the {board} {name} of posting '{theirs.key}'{default} (at "
        f"{theirs.origin.where(theirs.path(board))}): the two postings would share one {board} job",
    )


def duplicate_keys(keys: Iterable[tuple[str, Origin]]) -> list[Problem]:
    """A problem for every posting whose key was already used, naming both places."""
    first: dict[str, Origin] = {}
    problems = []
    for key, origin in keys:
        if key in first:
            problems.append(
                Problem(
                    origin.where(("key",)),
                    "key",
                    f"duplicate posting key '{key}': also at {first[key].where(('key',))}",
                )
            )
        else:
            first[key] = origin
    return problems
