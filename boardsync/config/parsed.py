"""Posting files as parsed before, kept beside the state database, so that a run over files
that did not change parses none of them.

What is kept is what a file *says*, never what it means: the plain values the YAML reader
made of its bytes, keyed by the sha256 of those bytes. The models, the boards' rules and the
root file's `providers:` are applied to them afresh on every run, exactly as to a file just
parsed, so nothing that depends on the root file, on the secrets or on the boards installed can
go stale. Where each value was written (its line and column) is not kept: only a posting with a
problem is ever asked, so its file is parsed again then (`FileMarks`), and the problem is
reported at the same file, line and column as from a file just parsed. A file that cannot be
parsed is never kept: it is read again and says why again.

Whether a file changed is told by its bytes. Reading and hashing a file costs far less than
parsing it, but is not free, so a file whose size, modification and change times, inode and
device are what they were is taken as unchanged without being read — only when those times
were already `SETTLED` seconds old when it was last read. A file written twice within one
tick of the filesystem's clock keeps its times (and, edited in place, often its size): times
taken that close to a write prove nothing, so such a file is read and hashed again next time,
until its times have settled. The change time cannot be set back by a program (`touch -d`,
``cp -p`` and ``rsync -t`` set only the modification time), so restoring an old time is seen.

The cache is one file (``state.db`` → ``state.postings.cache``), rewritten whole (a new file
renamed over the old one) when a run read something it did not hold, and holding only the
files that run read. It is stamped with what made its content (boardsync's version and the
very source of its YAML reader, the YAML library's version, Python's) and carries its own
sha256: a cache made by another version, a truncated or a damaged one is ignored and rebuilt,
and a cache that cannot be written is left alone. Neither is ever an error: the worst a bad
cache costs is parsing every file once.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from boardsync import __version__
from boardsync.config import yamlfile
from boardsync.config.yamlfile import Document, Marks, Path_
from boardsync.log import get_logger

log = get_logger(__name__)

SETTLED = 2.0
"""Seconds after which a file's times can be trusted to change with its content: more than
the coarsest clock tick of a common filesystem (FAT's two seconds)."""
MAGIC = b"boardsync parsed postings 3\n"
clock: Callable[[], int] = time.time_ns
"""Now, in nanoseconds since the epoch, as file times are kept."""
_DIGEST_SIZE = hashlib.sha256().digest_size


@dataclass(frozen=True)
class Seen:
    """A file as it was when last read: its stat and the digest of its bytes."""

    signature: tuple[int, ...]
    """(size, mtime ns, ctime ns, inode, device)."""
    digest: str
    settled: bool
    """Whether its times were `SETTLED` seconds old when read: only then do they vouch for it."""


class ParsedFiles:
    """Parsed posting files by content, with the stat of each file they were read from.

    `document` stands in for `yamlfile.load_file`; `save` writes what this run used (files
    no longer read, such as a deleted posting or an old commit's checkout, are dropped).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        """The cache file; None keeps the cache in memory only."""
        self.parsed = 0
        """Files parsed by this instance: their content was not in the cache."""
        self._files: dict[str, Seen] = {}
        self._contents: dict[str, bytes] = {}
        """By digest: the file's values, packed by marshal. They are unpacked one file at a
        time, as its postings are validated: unpacked all at once, every posting's values would
        be made before any model, and the strings the models keep of them would pin the memory
        of all the rest after the load (the allocator can only give back a block of memory with
        nothing left in it)."""
        self._used_files: dict[str, Seen] = {}
        self._used_contents: dict[str, bytes] = {}
        self._unread = path is not None
        """The cache file is read when the first posting file is asked for (a SQL source never does)."""

    def document(self, real: str, source: str) -> Document:
        """The file at `real` (a resolved path) parsed, from the cache when its content is
        there; raises `FileProblem` as `load_file` does."""
        if self._unread and self.path is not None:
            self._files, self._contents = _read_cache(self.path)
            self._unread = False
        now = clock()
        try:
            stat = os.stat(real)
        except OSError:
            return yamlfile.load_file(Path(real), source)  # says what is wrong with it
        signature = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)
        seen = self._files.get(real)
        if seen is None or not seen.settled or seen.signature != signature or seen.digest not in self._contents:
            settled = max(stat.st_mtime_ns, stat.st_ctime_ns) < now - int(SETTLED * 1e9)
            seen = self._read(Path(real), source, signature, settled)
        data = self._used_contents[seen.digest] = self._contents[seen.digest]
        self._used_files[real] = seen
        return Document(source, marshal.loads(data), FileMarks(real, source, seen.digest))

    def _read(self, path: Path, source: str, signature: tuple[int, ...], settled: bool) -> Seen:
        raw = yamlfile.read_bytes(path, source)
        digest = hashlib.sha256(raw).hexdigest()
        if digest not in self._contents:
            document = yamlfile.parse(yamlfile.decode_utf8(raw, source), source)
            self._contents[digest] = marshal.dumps(document.data)
            self.parsed += 1
        return Seen(signature, digest, settled)

    @property
    def reused(self) -> int:
        """Files whose parse came from the cache."""
        return len(self._used_files) - self.parsed

    @property
    def changed(self) -> bool:
        """Whether the cache file would change: a file read anew, or one no longer read."""
        return self._used_files != self._files or self._used_contents.keys() != self._contents.keys()

    def save(self) -> None:
        """Write what this run used, when it differs from what the cache file holds."""
        log.debug("posting_files_read", parsed=self.parsed, from_cache=self.reused)
        if self.path is None or not self.changed:
            return
        files = {name: (seen.signature, seen.digest, seen.settled) for name, seen in self._used_files.items()}
        payload = marshal.dumps({"files": files, "contents": self._used_contents})
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a cache folder, the first time
            _write_atomically(self.path, (MAGIC, _checksum(payload), payload))
        except OSError as exc:
            log.debug("posting_cache_not_saved", path=str(self.path), error=exc.strerror)


class FileMarks(Mapping[Path_, tuple[int, int]]):
    """Where each value of a posting file was written (of the posting at `prefix` in it),
    found when first asked by parsing the file again. Only a posting with a problem or a
    warning is ever asked, and keeping the marks of every posting would cost a run more memory
    than its postings' values. A file no longer holding the bytes it was read with (`digest`)
    has no marks: they would point at other values, so a problem points at its first line."""

    __slots__ = ("_path", "_source", "_digest", "_prefix", "_found")

    def __init__(self, path: str, source: str, digest: str, prefix: Path_ = ()) -> None:
        self._path, self._source, self._digest, self._prefix = path, source, digest, prefix
        self._found: Marks | None = None

    def under(self, prefix: Path_) -> FileMarks:
        """The marks of the value at `prefix`, relative to it (a posting in a list)."""
        return FileMarks(self._path, self._source, self._digest, (*self._prefix, *prefix))

    @property
    def _marks(self) -> Marks:
        if self._found is None:
            self._found = self._parse()
        return self._found

    def _parse(self) -> Marks:
        try:
            raw = yamlfile.read_bytes(Path(self._path), self._source)
            if hashlib.sha256(raw).hexdigest() != self._digest:
                return {}
            marks = yamlfile.parse(yamlfile.decode_utf8(raw, self._source), self._source).marks
        except yamlfile.FileProblem:
            return {}
        size = len(self._prefix)
        return {path[size:]: mark for path, mark in marks.items() if path[:size] == self._prefix}

    def __getitem__(self, path: Path_) -> tuple[int, int]:
        return self._marks[path]

    def __iter__(self) -> Iterator[Path_]:
        return iter(self._marks)

    def __len__(self) -> int:
        return len(self._marks)


def beside(database: Path) -> Path:
    """The cache file of a SQLite state database: ``state.db`` → ``state.postings.cache``."""
    return database.with_name(f"{database.stem}.postings.cache")


CACHE_DIR_ENV = "BOARDSYNC_CACHE_DIR"


def cache_folder(env: Mapping[str, str]) -> Path | None:
    """Where the caches of states kept in no file of their own go (PostgreSQL):
    ``$BOARDSYNC_CACHE_DIR``; else the folder systemd made for the service
    (``CacheDirectory=``, which it passes as ``$CACHE_DIRECTORY``); else
    ``$XDG_CACHE_HOME/boardsync``, ``~/.cache/boardsync`` by default. None for a user with
    no home, where nothing is kept."""
    if env.get(CACHE_DIR_ENV):
        return Path(env[CACHE_DIR_ENV])
    if env.get("CACHE_DIRECTORY"):
        return Path(env["CACHE_DIRECTORY"].split(":")[0])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "boardsync"
    try:
        return Path.home() / ".cache" / "boardsync"
    except RuntimeError:  # no $HOME, and no home in the user database
        return None


def in_folder(folder: Path, config: Path, workspace: str) -> Path:
    """The cache file in `folder` of the root file `config` (resolved) in `workspace`: one a
    config and workspace, so that two of them never rewrite each other's cache."""
    owner = hashlib.sha256(f"{config}\0{workspace}".encode()).hexdigest()[:20]
    return folder / f"postings-{owner}.cache"


def _read_cache(path: Path) -> tuple[dict[str, Seen], dict[str, bytes]]:
    """The cache's files and contents, or nothing when it is missing, from another version,
    or damaged."""
    try:
        blob = path.read_bytes()
    except OSError:
        return {}, {}
    header = len(MAGIC) + _DIGEST_SIZE
    payload = memoryview(blob)[header:]  # megabytes at thousands of postings: not copied
    if blob[: len(MAGIC)] != MAGIC or blob[len(MAGIC): header] != _checksum(payload):
        log.debug("posting_cache_ignored", path=str(path))
        return {}, {}
    try:
        cache = marshal.loads(payload)
        files = {name: Seen(tuple(signature), digest, settled)
                 for name, (signature, digest, settled) in cache["files"].items()}
        return files, dict(cache["contents"])
    except (EOFError, ValueError, TypeError, KeyError):
        # A checksum that matches a payload of another shape: written by a bug, not by chance.
        log.debug("posting_cache_ignored", path=str(path))
        return {}, {}


def _checksum(payload: bytes | memoryview) -> bytes:
    """The sha256 of the stamp and the payload, as the cache file carries it."""
    hashed = hashlib.sha256(_stamp())
    hashed.update(payload)
    return hashed.digest()


@functools.cache
def _stamp() -> bytes:
    """What made a cache's content: boardsync and its YAML reader (its source itself, so an
    edited reader never trusts what an older one made), the YAML library, Python (marshal's
    format is Python's own)."""
    import ruamel.yaml

    reader = Path(yamlfile.__file__).read_bytes()
    made_by = f"{__version__} {ruamel.yaml.__version__} {sys.version} {marshal.version}".encode()
    return made_by + hashlib.sha256(reader).digest()


def _write_atomically(path: Path, parts: tuple[bytes, ...]) -> None:
    """Write a new file beside `path` and rename it over: a reader sees the old or the new."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")  # one per writer
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            for part in parts:
                handle.write(part)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
