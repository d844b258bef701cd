"""Noticing config file changes: the root file and every posting file under its source."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from boardsync.config.model import RootConfig
from boardsync.daemon.watch import (
    Batches,
    ConfigWatch,
    ConfigWatcher,
    config_files,
    inotify_batches,
    relevant,
    watched_folders,
)


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


# ------------------------------------------------------------------------------ the watching thread


def test_only_the_config_files_and_folders_under_the_postings_source_matter(tmp_path: Path) -> None:
    """The root file, a YAML file or a folder under the postings folder count; an editor's swap
    or backup file, a hidden folder, or a file beside the root file do not."""
    root = _repo(tmp_path)
    matters = relevant(root, _root())
    base = tmp_path.resolve()
    assert matters(base / "boardsync.yaml")
    assert matters(base / "postings" / "team" / "c.yml") and matters(base / "postings" / "moved-in")
    assert not matters(base / "postings" / ".a.yaml.swp") and not matters(base / "postings" / "a.yaml~")
    assert not matters(base / "postings" / ".git" / "x.yaml") and not matters(base / "notes.yaml")
    assert watched_folders(root, _root()) == [base]  # the postings folder is inside the root's
    outside = tmp_path.parent / f"{tmp_path.name}-jobs"
    outside.mkdir()
    assert watched_folders(root, _root(str(outside))) == [base, outside.resolve()]


Step = Callable[[], set[Path]]


def _scripted(steps: list[Step], folders_seen: list[list[Path]] | None = None) -> Batches:
    """Bursts as the test makes them: each step changes the files and moves the clock, then
    hands over the relevant paths it touched (none: a quiet spell, or other files)."""

    def batches(folders: list[Path], matters: Callable[[Path], bool], stop: threading.Event) -> Iterator[set[Path]]:
        if folders_seen is not None:
            folders_seen.append(folders)
        while steps:
            yield steps.pop(0)()

    return batches


def test_a_burst_of_edits_is_one_reload_once_the_files_settle(tmp_path: Path) -> None:
    """Three edits a second apart, then quiet spells: one reload, after the quiet, not before."""
    root = _repo(tmp_path)
    clock = FakeClock()
    a = tmp_path / "postings" / "a.yaml"
    reloads: list[float] = []

    def edit(i: int) -> Step:
        def step() -> set[Path]:
            _touch_later(a, f"key: a{i}\n")
            clock.now += 1
            return {a}
        return step

    def other_files() -> set[Path]:
        clock.now += 3  # the state database written beside the root file: no relevant path
        return set()

    def quiet() -> set[Path]:
        clock.now += 5
        return set()

    watch = ConfigWatch(root, _root(), settle=5.0, clock=clock)
    steps = [edit(1), edit(2), edit(3), other_files, other_files, quiet, quiet]
    ConfigWatcher(watch, lambda: reloads.append(clock.now), _scripted(steps)).run()
    assert reloads == [1009.0]  # the first look once 5 s passed since the last edit: 6 s, other files


def test_an_edit_without_an_event_is_seen_at_the_next_quiet_spell(tmp_path: Path) -> None:
    """A posting edited while the watch was restarting (no event ever comes for it) is still
    reloaded, once, after quiet spells: each one is a look."""
    root = _repo(tmp_path)
    clock = FakeClock()
    reloads: list[float] = []

    def unseen_edit() -> set[Path]:
        _touch_later(tmp_path / "postings" / "a.yaml", "key: unseen\n")
        return set()

    def quiet() -> set[Path]:
        clock.now += 5
        return set()

    watch = ConfigWatch(root, _root(), settle=5.0, clock=clock)
    ConfigWatcher(watch, lambda: reloads.append(clock.now), _scripted([unseen_edit, quiet, quiet, quiet])).run()
    assert reloads == [1005.0]


def test_an_idle_watch_looks_once_and_then_only_after_a_relevant_burst(tmp_path: Path) -> None:
    """A look stats every config file: it is taken at the start of a round, after a burst
    that touched one, and while a change settles, never on a quiet spell or a burst of other
    files alone (an idle daemon of 10,000 postings would otherwise stat them all every 5 s)."""
    root = _repo(tmp_path)
    clock = FakeClock()
    a = tmp_path / "postings" / "a.yaml"
    reloads: list[float] = []

    def quiet() -> set[Path]:
        clock.now += 5
        return set()

    def edit() -> set[Path]:
        _touch_later(a, "key: edited\n")
        clock.now += 1
        return {a}

    watch = ConfigWatch(root, _root(), settle=5.0, clock=clock)
    looks = 0
    look = watch.changed

    def counted() -> bool:
        nonlocal looks
        looks += 1
        return look()

    watch.changed = counted  # type: ignore[method-assign]
    steps: list[Step] = [quiet, quiet, quiet, edit, quiet, quiet, quiet, quiet]
    ConfigWatcher(watch, lambda: reloads.append(clock.now), _scripted(steps)).run()
    assert reloads == [1021.0]
    assert looks == 3  # the first quiet spell, the edit, the quiet spell it settles in; then none


def test_a_file_gone_for_a_moment_causes_no_reload(tmp_path: Path) -> None:
    """A save-by-rename (the file moved away, then back as it was) within the settle time,
    followed by quiet spells: no reload at all."""
    root = _repo(tmp_path)
    clock = FakeClock()
    a = tmp_path / "postings" / "a.yaml"
    st = a.stat()
    reloads: list[float] = []

    def away() -> set[Path]:
        a.rename(tmp_path / "a.yaml.bak")
        clock.now += 1
        return {a}

    def back() -> set[Path]:
        (tmp_path / "a.yaml.bak").rename(a)
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
        clock.now += 1
        return {a}

    def quiet() -> set[Path]:
        clock.now += 5
        return set()

    watch = ConfigWatch(root, _root(), settle=5.0, clock=clock)
    ConfigWatcher(watch, lambda: reloads.append(clock.now), _scripted([away, back, quiet, quiet])).run()
    assert reloads == []


def test_following_a_new_source_watches_its_folder(tmp_path: Path) -> None:
    """After a reload that points the postings elsewhere, the watch starts over on the new
    folders."""
    root = _repo(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-jobs"
    outside.mkdir()
    folders: list[list[Path]] = []
    watcher: ConfigWatcher

    def reloaded() -> set[Path]:
        watcher.follow(_root(str(outside)))
        return set()

    watch = ConfigWatch(root, _root(), clock=FakeClock())
    watcher = ConfigWatcher(watch, lambda: None, _scripted([reloaded, set], folders))
    watcher.run()
    assert folders == [[tmp_path.resolve()], [tmp_path.resolve(), outside.resolve()]]


def test_inotify_sees_an_edit_and_the_watch_stops_promptly(tmp_path: Path) -> None:
    """Through watchfiles, a real edit of a posting file leads to a reload once the files
    settle; `stop()` then ends the thread at once, not after a poll interval."""
    root = _repo(tmp_path)
    changed = threading.Event()
    watch = ConfigWatch(root, _root(), settle=0.2)
    watcher = ConfigWatcher(watch, changed.set, inotify_batches(watch.settle)).start()
    try:
        # The thread sets its inotify watches up after it starts: an edit made before that
        # goes unseen, so edit again until one is seen (the first, almost always).
        for i in range(5):
            _touch_later(tmp_path / "postings" / "a.yaml", f"key: a-edited-{i}\n")
            if changed.wait(timeout=5):
                break
        assert changed.is_set()
    finally:
        started = time.monotonic()
        watcher.stop()
        stopped_in = time.monotonic() - started
    assert not watcher.running and stopped_in < 1.0
