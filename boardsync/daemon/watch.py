"""Noticing that the config files changed, by polling their metadata.

The root file and the YAML files of the postings source are stat'ed every few seconds; a file
added, removed, rewritten or replaced (a `git pull` renames files into place) changes the
fingerprint. A change counts once the files have settled (`SETTLE`), so a burst of edits is
one reload and a file missing for a moment is never reloaded without it. Polling a few files
is cheap, needs nothing beyond the standard library, and works on every filesystem, including
ones inotify does not see into. Postings kept in a SQL
table are not files: SIGHUP (``systemctl reload``) picks those up.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from boardsync.config.model import RootConfig
from boardsync.config.yamlfile import walk_yaml_files

Fingerprint = tuple[tuple[str, int, int, int], ...]


def config_files(root_path: Path, root: RootConfig | None) -> list[Path]:
    """The root file and, for a YAML postings source, every file in it."""
    files = [root_path]
    if root is not None and isinstance(root.postings, str):
        target = root_path.parent / root.postings
        if target.is_dir():
            files.extend(walk_yaml_files(target))
        else:
            files.append(target)
    return files


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

    def follow(self, root: RootConfig | None) -> None:
        """Watch the files of a newly loaded root config (its postings source may differ),
        as they are now."""
        with self._lock:
            self.root = root
            self._seen = fingerprint(config_files(self.root_path, root))
            self._moving = None
