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


def _touch_later_from(path: Path, text: str, before: int) -> None:
    """Write `path` anew with an mtime later than `before`."""
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_watched_files_are_the_root_and_every_yaml_under_the_postings_folder(tmp_path: Path) -> None:
    """Nested .yml files count; the SQL source watches only the root file."""
    root = _repo(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in config_files(root, _root())]
    assert names == ["boardsync.yaml", "postings/a.yaml", "postings/team/b.yml"]
    assert config_files(root, _root({"sql": "sqlite://"})) == [root]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settled(watch: ConfigWatch, clock: FakeClock) -> bool:
    """Look once (the change is seen), let the settle time pass, and look again."""
    first = watch.changed()
    clock.now += watch.settle
    return first or watch.changed()


def test_an_edit_a_new_file_and_a_removal_are_each_noticed_once(tmp_path: Path) -> None:
    """Each change is reported by exactly one look, once it has settled."""
    root = _repo(tmp_path)
    clock = FakeClock()
    watch = ConfigWatch(root, _root(), clock=clock)
    assert not watch.changed()
    _touch_later(tmp_path / "postings" / "a.yaml", "key: a2\n")
    assert _settled(watch, clock) and not watch.changed()
    (tmp_path / "postings" / "c.yaml").write_text("key: c\n")
    assert _settled(watch, clock) and not watch.changed()
    (tmp_path / "postings" / "team" / "b.yml").unlink()
    assert _settled(watch, clock) and not watch.changed()
    _touch_later(root, "version: 1\n# edited\n")
    assert _settled(watch, clock)


def test_a_change_counts_only_once_the_files_have_settled(tmp_path: Path) -> None:
    """A burst of edits a second apart is one change, reported `settle` seconds after the
    last edit and not before."""
    root = _repo(tmp_path)
    clock = FakeClock()
    watch = ConfigWatch(root, _root(), settle=5.0, clock=clock)
    for i in range(4):
        _touch_later(tmp_path / "postings" / "a.yaml", f"key: a{i}\n")
        assert not watch.changed()
        clock.now += 1
    clock.now += 3.9  # 4.9 s after the last edit
    assert not watch.changed()
    clock.now += 0.1
    assert watch.changed() and not watch.changed()


def test_a_file_gone_for_a_moment_is_never_reported_missing(tmp_path: Path) -> None:
    """A posting file removed and put back as it was (a checkout of another branch and back,
    an editor's save-by-rename) within the settle time is no change at all; put back rewritten,
    it is one change, seen with the file present."""
    root = _repo(tmp_path)
    clock = FakeClock()
    watch = ConfigWatch(root, _root(), settle=5.0, clock=clock)
    a = tmp_path / "postings" / "a.yaml"
    st = a.stat()
    a.rename(tmp_path / "a.yaml.bak")
    assert not watch.changed()
    clock.now += 2
    (tmp_path / "a.yaml.bak").rename(a)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not watch.changed()
    clock.now += 10
    assert not watch.changed()

    a.unlink()
    assert not watch.changed()
    clock.now += 2
    _touch_later_from(a, "key: a\n", st.st_mtime_ns)
    assert not watch.changed()  # back, but just now: wait for it to settle
    clock.now += 5
    assert watch.changed()
    assert a.exists()


def test_follow_switches_to_the_new_postings_source(tmp_path: Path) -> None:
    """After a reload that points elsewhere, the old folder's edits no longer count."""
    root = _repo(tmp_path)
    (tmp_path / "other.yaml").write_text("- key: x\n")
    clock = FakeClock()
    watch = ConfigWatch(root, _root(), clock=clock)
    watch.follow(_root("other.yaml"))
    _touch_later(tmp_path / "postings" / "a.yaml", "key: a3\n")
    assert not _settled(watch, clock)
    _touch_later(tmp_path / "other.yaml", "- key: y\n")
    assert _settled(watch, clock)
