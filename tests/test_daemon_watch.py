"""Noticing config file changes: the root file and every posting file under its source."""

from __future__ import annotations

import os
from pathlib import Path

from boardsync.config.model import RootConfig
from boardsync.daemon.watch import ConfigWatch, config_files


def _root(postings: object = "postings/") -> RootConfig:
    return RootConfig.model_validate({"version": 1, "postings": postings, "providers": {}})


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "postings" / "team").mkdir(parents=True)
    (tmp_path / "postings" / "a.yaml").write_text("key: a\n")
    (tmp_path / "postings" / "team" / "b.yml").write_text("key: b\n")
    root = tmp_path / "boardsync.yaml"
    root.write_text("version: 1\n")
    return root


def _touch_later(path: Path, text: str) -> None:
    """Rewrite `path` with a later mtime, as an editor would a moment later."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_watched_files_are_the_root_and_every_yaml_under_the_postings_folder(tmp_path: Path) -> None:
    """Nested .yml files count; the SQL source watches only the root file."""
    root = _repo(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in config_files(root, _root())]
    assert names == ["boardsync.yaml", "postings/a.yaml", "postings/team/b.yml"]
    assert config_files(root, _root({"sql": "sqlite://"})) == [root]


def test_an_edit_a_new_file_and_a_removal_are_each_noticed_once(tmp_path: Path) -> None:
    """Each change is reported by exactly one look."""
    root = _repo(tmp_path)
    watch = ConfigWatch(root, _root())
    assert not watch.changed()
    _touch_later(tmp_path / "postings" / "a.yaml", "key: a2\n")
    assert watch.changed() and not watch.changed()
    (tmp_path / "postings" / "c.yaml").write_text("key: c\n")
    assert watch.changed() and not watch.changed()
    (tmp_path / "postings" / "team" / "b.yml").unlink()
    assert watch.changed() and not watch.changed()
    _touch_later(root, "version: 1\n# edited\n")
    assert watch.changed()


def test_follow_switches_to_the_new_postings_source(tmp_path: Path) -> None:
    """After a reload that points elsewhere, the old folder's edits no longer count."""
    root = _repo(tmp_path)
    (tmp_path / "other.yaml").write_text("- key: x\n")
    watch = ConfigWatch(root, _root())
    watch.follow(_root("other.yaml"))
    _touch_later(tmp_path / "postings" / "a.yaml", "key: a3\n")
    assert not watch.changed()
    _touch_later(tmp_path / "other.yaml", "- key: y\n")
    assert watch.changed()
