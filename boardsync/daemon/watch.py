"""Noticing that the config files changed.

`watchfiles` (inotify on Linux) watches the root file's folder and the postings folder, and
hands over each burst of events once it is over (its debounce). What a burst did is then
judged by a fingerprint of the files: the root file and the YAML files of the postings source,
by inode, size and mtime. A file added, removed, rewritten or replaced (a `git pull` renames
files into place) changes it. A change counts once the files have settled (`SETTLE`), so a
burst of edits is one reload and a file missing for a moment is never reloaded without it.
Postings kept in a SQL table are not files: SIGHUP (``systemctl reload``) picks those up.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import watchfiles

from boardsync.config.model import RootConfig
from boardsync.config.yamlfile import walk_yaml_files
from boardsync.log import get_logger

log = get_logger(__name__)

Fingerprint = tuple[tuple[str, int, int, int], ...]


def config_files(root_path: Path, root: RootConfig | None) -> list[Path]:
    """The root file and, for a YAML postings source, every file in it."""
    files = [root_path]
    if root is not None and isinstance(root.postings, str) and root.source is None:
        target = root_path.parent / root.postings
        if target.is_dir():
            files.extend(walk_yaml_files(target))
        else:
            files.append(target)
    return files


def postings_target(root_path: Path, root: RootConfig | None) -> Path | None:
    """The postings folder or file, for a YAML postings source (a git branch's are fetched)."""
    if root is not None and isinstance(root.postings, str) and root.source is None:
        return root_path.parent / root.postings
    return None


def watched_folders(root_path: Path, root: RootConfig | None) -> list[Path]:
    """The folders to watch, recursively: the root file's, and the postings folder (or the
    postings file's folder) unless it lies inside one already watched."""
    folders = [root_path.parent.resolve()]
    target = postings_target(root_path, root)
    if target is not None:
        folder = (target if target.is_dir() else target.parent).resolve()
        if folder.is_dir() and not any(folder.is_relative_to(f) for f in folders):
            folders.append(folder)
    return folders


def relevant(root_path: Path, root: RootConfig | None) -> Callable[[Path], bool]:
    """Whether a changed path can change the config: the root file, the postings file, or a
    YAML file or a folder (moved in or out whole) under the postings folder, hidden ones aside.
    An editor's swap and backup files are not."""
    root_file = root_path.resolve()
    target = postings_target(root_path, root)
    target = target.resolve() if target is not None else None

    def matters(path: Path) -> bool:
        if path == root_file or path == target:
            return True
        if target is None or not path.is_relative_to(target):
            return False
        parts = path.relative_to(target).parts
        if any(part.startswith(".") for part in parts):
            return False
        return path.suffix in (".yaml", ".yml") or path.suffix == ""

    return matters


def fingerprint(files: list[Path]) -> Fingerprint:
    """(path, inode, size, mtime) of each file; a missing file counts as all zeros."""
    marks = []
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            marks.append((str(path), 0, 0, 0))
            continue
        marks.append((str(path), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(marks)


SETTLE = 5.0
"""Seconds the files must stay as they are before a change counts: a burst of edits, a
`git checkout` or an editor's save-by-rename (the file gone for a moment) is one change, seen
once it is over."""


class ConfigWatch:
    """Says whether the config files changed since it last looked, once they have settled.

    A change is reported when the files differ from what was last reported and have not
    changed again for `settle` seconds (by `clock`), so a file that disappears and comes back
    between looks is never reloaded without it."""

    def __init__(
        self, root_path: Path, root: RootConfig | None, *, settle: float = SETTLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root_path = root_path
        self.root = root
        self.settle = settle
        self.clock = clock
        self._seen = fingerprint(config_files(root_path, root))
        self._moving: tuple[Fingerprint, float] | None = None
        """The files as last seen while differing from `_seen`, and since when they look so."""
        self._lock = threading.Lock()  # the watch job asks; the reloading thread follows

    def changed(self) -> bool:
        with self._lock:
            now = fingerprint(config_files(self.root_path, self.root))
            if now == self._seen:
                self._moving = None  # changed and changed back: nothing to reload
                return False
            if self._moving is None or self._moving[0] != now:
                self._moving = (now, self.clock())  # still changing: wait for it to settle
                return False
            if self.clock() - self._moving[1] < self.settle:
                return False
            self._seen, self._moving = now, None
            return True

    @property
    def settling(self) -> bool:
        """Whether a change was seen that has not settled yet: it needs another look."""
        return self._moving is not None

    def follow(self, root: RootConfig | None) -> None:
        """Watch the files of a newly loaded root config (its postings source may differ),
        as they are now."""
        with self._lock:
            self.root = root
            self._seen = fingerprint(config_files(self.root_path, root))
            self._moving = None


WATCH_STEP_MS = 500
"""How often watchfiles wakes to look at the stop event and group events (its default, 50,
wakes an idle daemon twenty times a second); also the longest a stop or a restart waits."""


Batches = Callable[[list[Path], Callable[[Path], bool], threading.Event], Iterable[set[Path]]]
"""Where bursts of changes come from: given the folders to watch, the filter and an event that
ends the stream, the relevant paths of each burst (maybe none: other files changed), or an
empty set after a quiet spell. `inotify_batches` in the daemon; a list in the tests."""


def inotify_batches(settle: float) -> Batches:
    """Bursts from watchfiles, its debounce grouping the events of each; an empty set after
    `settle` seconds without any event.

    The filter is applied here, not by watchfiles: a burst of other files only (a SQLite state
    database beside the root file writes on every run) must still yield, empty, because
    watchfiles restarts its quiet-spell timer on every event it sees, filtered or not, and a
    change waiting to settle needs a look after it."""

    def batches(folders: list[Path], matters: Callable[[Path], bool], stop: threading.Event) -> Iterator[set[Path]]:
        for changes in watchfiles.watch(
            *folders, watch_filter=None, stop_event=stop, rust_timeout=int(settle * 1000),
            yield_on_timeout=True, raise_interrupt=False, step=WATCH_STEP_MS,
        ):
            yield {Path(path) for _change, path in changes if matters(Path(path))}

    return batches


class ConfigWatcher:
    """A thread that calls `on_change` once per settled change of the config files.

    Each burst (relevant or not) and each quiet spell asks `watch` whether the files changed
    and have settled; `follow` restarts the watch on the folders of a new postings source.
    `stop()` ends the thread within a debounce step."""

    def __init__(self, watch: ConfigWatch, on_change: Callable[[], None], batches: Batches) -> None:
        self.watch = watch
        self._on_change = on_change
        self._batches = batches
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._round_over = threading.Event()
        """Set to end the current round of watching: on stop, or to watch other folders."""
        self._thread = threading.Thread(target=self.run, name="config-watch", daemon=True)

    def start(self) -> ConfigWatcher:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def follow(self, root: RootConfig | None) -> None:
        """Watch the files of a newly loaded root config, from now on."""
        self.watch.follow(root)
        self._restart.set()
        self._round_over.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._round_over.set()
        self._thread.join(timeout)

    def run(self) -> None:
        """Watch until stopped or the stream of bursts ends; the thread's body."""
        while not self._stop.is_set():
            self._restart.clear()
            self._round_over.clear()
            try:
                self._watch_round()
            except Exception as exc:  # a watch that fails must not end the daemon; SIGHUP still works
                log.exception("config_watch_failed", error=str(exc))
                self._stop.wait(self.watch.settle)
            if not self._restart.is_set():
                return  # stopped, or the stream ended of itself

    def _watch_round(self) -> None:
        root_path, root = self.watch.root_path, self.watch.root
        first = True
        for paths in self._batches(watched_folders(root_path, root), relevant(root_path, root), self._round_over):
            if self._round_over.is_set():
                return
            # A look stats every config file, so it is taken only when it can find something:
            # after a relevant burst, while a change settles, and once at the start of a round
            # (an edit made while the watch restarted sent no event). Not on every quiet spell.
            if (paths or first or self.watch.settling) and self.watch.changed():
                self._on_change()
            first = False
