"""Noticing that the config files changed, by polling their metadata.

The root file and the YAML files of the postings source are stat'ed every few seconds; a file
added, removed, rewritten or replaced (a `git pull` renames files into place) changes the
fingerprint. Polling a few files is cheap, needs nothing beyond the standard library, and
works on every filesystem, including ones inotify does not see into. Postings kept in a SQL
table are not files: SIGHUP (``systemctl reload``) picks those up.
"""

from __future__ import annotations

import os
import threading
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


class ConfigWatch:
    """Says whether the config files changed since it last looked."""

    def __init__(self, root_path: Path, root: RootConfig | None) -> None:
        self.root_path = root_path
        self.root = root
        self._seen = fingerprint(config_files(root_path, root))
        self._lock = threading.Lock()  # the watch job asks; the reloading thread follows

    def changed(self) -> bool:
        with self._lock:
            now = fingerprint(config_files(self.root_path, self.root))
            if now == self._seen:
                return False
            self._seen = now
            return True

    def follow(self, root: RootConfig | None) -> None:
        """Watch the files of a newly loaded root config (its postings source may differ),
        as they are now."""
        with self._lock:
            self.root = root
            self._seen = fingerprint(config_files(self.root_path, root))
