"""Posting files parsed once: the cache beside the state database (`boardsync.config.parsed`).

Each load here is what a new `boardsync` process does: nothing is kept in memory between two
loads, so what one load finds in the cache another process would find too.
"""

from __future__ import annotations

import os
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from boardsync.config import ConfigError, load, parsed, yamlfile
from tests.reconcile_helpers import Workspace

ENV = {"HIREMPIRE_TOKEN": "sk-example"}

ROOT = """\
version: 1
state: sqlite:///state.db
postings: postings/
providers:
  hirempire:
    token: "${HIREMPIRE_TOKEN}"
    company_id: cmp_test
"""

POSTING = """\
key: {key}
title: {title}
description: Design the booking flow.
workplace: remote
remote_country: United States
employment_type: full_time
level: mid
boards:
  hirempire: {{}}
"""

SECOND = 1_000_000_000


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The posting files the YAML reader parses, as shown in messages, in order."""
    seen: list[str] = []
    parse = yamlfile.parse

    def counting(text: str, source: str) -> yamlfile.Document:
        if source.startswith("postings"):
            seen.append(source)
        return parse(text, source)

    monkeypatch.setattr(yamlfile, "parse", counting)
    return seen


def repo(tmp_path: Path, **postings: str) -> Path:
    """A config repository with a state database (only its file matters to the loader)."""
    (tmp_path / "state.db").touch()
    (tmp_path / "postings").mkdir(exist_ok=True)
    (tmp_path / "boardsync.yaml").write_text(ROOT)
    for key, title in postings.items():
        (tmp_path / "postings" / f"{key}.yaml").write_text(POSTING.format(key=key, title=title))
    return tmp_path / "boardsync.yaml"


def titles(root: Path, **options: bool) -> dict[str, str]:
    return {p.key: p.title for p in load(root, env=ENV, **options).postings}


def problems_of(root: Path) -> list[str]:
    """The problems a load of `root` reports, as printed."""
    with pytest.raises(ConfigError) as caught:
        load(root, env=ENV)
    return [str(problem) for problem in caught.value.problems]


def settle(monkeypatch: pytest.MonkeyPatch, path: Path, seconds: float = 10) -> None:
    """The clock `seconds` past the file's last change, as if the file had been left alone."""
    stat = path.stat()
    now = max(stat.st_mtime_ns, stat.st_ctime_ns) + int(seconds * SECOND)
    monkeypatch.setattr(parsed, "clock", lambda: now)


def test_a_second_load_parses_no_posting_file(tmp_path: Path, parses: list[str]) -> None:
    """The first load parses every posting file and keeps them beside the database; the next
    parses none and gives the same postings."""
    root = repo(tmp_path, designer="Product Designer", writer="Technical Writer")
    first = titles(root)
    assert sorted(parses) == ["postings/designer.yaml", "postings/writer.yaml"]
    assert (tmp_path / "state.postings.cache").is_file()
    parses.clear()
    assert titles(root) == first
    assert parses == []


def test_without_a_database_nothing_is_kept_unless_asked(tmp_path: Path, parses: list[str]) -> None:
    """A command that only reads the state (status, validate) leaves no cache where there is no
    database; a command that creates the database starts it."""
    root = repo(tmp_path, designer="Product Designer")
    (tmp_path / "state.db").unlink()
    titles(root)
    titles(root)
    assert parses == ["postings/designer.yaml"] * 2
    assert not (tmp_path / "state.postings.cache").exists()
    titles(root, start_cache=True)
    parses.clear()
    titles(root, start_cache=True)
    assert parses == []


def test_an_edit_within_one_clock_tick_is_seen(tmp_path: Path, parses: list[str]) -> None:
    """A file rewritten with the same size and the same modification time, as two writes
    within one tick of the filesystem's clock leave it, is read again: its times were too
    fresh to vouch for it."""
    root = repo(tmp_path, designer="Product Designer")
    path = tmp_path / "postings" / "designer.yaml"
    titles(root)
    before = path.stat()
    path.write_text(POSTING.format(key="designer", title="Product Designex"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert titles(root) == {"designer": "Product Designex"}
    assert parses == ["postings/designer.yaml"] * 2


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The posting files read from disk, as shown in messages, in order."""
    seen: list[str] = []
    read_bytes = yamlfile.read_bytes

    def counting(path: Path, source: str, **limit: int) -> bytes:
        if source.startswith("postings"):
            seen.append(source)
        return read_bytes(path, source, **limit)

    monkeypatch.setattr(yamlfile, "read_bytes", counting)
    return seen


def test_a_fresh_file_is_read_again_until_its_times_settle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str], reads: list[str]
) -> None:
    """A file whose times were less than `SETTLED` seconds old when it was read is read and
    hashed again next time, even with the same stat (a second write in the same clock tick
    would leave it so); once read with settled times, it is no longer read."""
    root = repo(tmp_path, designer="Product Designer")
    settle(monkeypatch, tmp_path / "postings" / "designer.yaml", seconds=parsed.SETTLED / 2)
    titles(root)
    titles(root)
    assert reads == ["postings/designer.yaml"] * 2
    settle(monkeypatch, tmp_path / "postings" / "designer.yaml", seconds=parsed.SETTLED * 2)
    titles(root)
    titles(root)
    assert reads == ["postings/designer.yaml"] * 3
    assert parses == ["postings/designer.yaml"]


def test_a_settled_file_is_not_even_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str], reads: list[str]
) -> None:
    """Once a file's times are old enough when it is read, the next load trusts its stat:
    the file is neither parsed nor read."""
    root = repo(tmp_path, designer="Product Designer")
    settle(monkeypatch, tmp_path / "postings" / "designer.yaml")
    titles(root)
    assert titles(root) == {"designer": "Product Designer"}
    assert reads == parses == ["postings/designer.yaml"]


def test_an_old_time_put_back_after_an_edit_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    """A settled file edited and given its old modification time back (`cp -p`, `touch -d`)
    is read again: its change time moved, and no program can set that one."""
    root = repo(tmp_path, designer="Product Designer")
    path = tmp_path / "postings" / "designer.yaml"
    settle(monkeypatch, path)
    titles(root)
    before = path.stat()
    path.write_text(POSTING.format(key="designer", title="Product Designex"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    settle(monkeypatch, path)
    assert titles(root) == {"designer": "Product Designex"}


def test_a_deleted_file_is_gone(tmp_path: Path, parses: list[str]) -> None:
    """A posting whose file was deleted is not loaded from the cache, and another file with
    the same content is not parsed again."""
    root = repo(tmp_path, designer="Product Designer", writer="Technical Writer")
    titles(root)
    (tmp_path / "postings" / "writer.yaml").rename(tmp_path / "postings" / "writer-2.yaml")
    (tmp_path / "postings" / "designer.yaml").unlink()
    assert titles(root) == {"writer": "Technical Writer"}
    assert sorted(parses) == ["postings/designer.yaml", "postings/writer.yaml"]


def test_a_cached_file_still_reports_its_problem_at_its_line(tmp_path: Path, parses: list[str]) -> None:
    """A posting with a problem reports it at the same file, line and column whether its
    file was parsed now or came from the cache. The cache keeps no lines: the file of a
    posting with a problem is parsed again to find its line, and only that file."""
    root = repo(tmp_path, designer="Product Designer", writer="Technical Writer")
    path = tmp_path / "postings" / "designer.yaml"
    path.write_text(path.read_text().replace("level: mid", "level: wizard"))
    reported = [problems_of(root), problems_of(root)]
    assert reported[0] == reported[1]
    assert reported[0][0].startswith("postings/designer.yaml:7:1: level: 'wizard' is not allowed")
    # Each load: the file with the problem is parsed once more for its line; the other is
    # parsed on the first load only.
    assert sorted(parses) == ["postings/designer.yaml"] * 3 + ["postings/writer.yaml"]


def test_a_cached_list_of_postings_reports_a_problem_at_its_line(tmp_path: Path) -> None:
    """A posting further down a file of several reports its problem at its own line, from
    the cache as from a file just parsed."""
    root = repo(tmp_path)
    first = POSTING.format(key="designer", title="Product Designer")
    second = POSTING.format(key="writer", title="Technical Writer").replace("level: mid", "level: wizard")
    listed = "".join("- " + text.replace("\n", "\n  ").rstrip() + "\n" for text in (first, second))
    (tmp_path / "postings" / "both.yaml").write_text(listed)
    line = 1 + first.count("\n") + second.splitlines().index("level: wizard")
    reported = [problems_of(root), problems_of(root)]
    assert reported[0] == reported[1]
    assert reported[0][0].startswith(f"postings/both.yaml:{line}:3: level: 'wizard' is not allowed")


def test_a_posting_is_placed_at_its_line_until_its_file_changes(tmp_path: Path) -> None:
    """Where a loaded posting's field was written (for a problem a board finds later) is
    found by parsing its file again: the line it was read at, and once the file no longer
    holds what was read, the file alone (a line would point at another value)."""
    root = repo(tmp_path, designer="Product Designer")
    load(root, env=ENV)
    desired = load(root, env=ENV)  # from the cache
    path = tmp_path / "postings" / "designer.yaml"
    assert desired.where("designer", "level") == "postings/designer.yaml:7:1"
    fresh = load(root, env=ENV)
    path.write_text("# edited since\n" + path.read_text())
    assert fresh.where("designer", "level") == "postings/designer.yaml:1:1"


def test_a_file_that_cannot_be_parsed_is_never_kept(tmp_path: Path, parses: list[str]) -> None:
    """A YAML syntax error is found by parsing: the file is parsed on every load and says
    so every time."""
    root = repo(tmp_path, designer="Product Designer")
    (tmp_path / "postings" / "broken.yaml").write_text("key: broken\ntitle: [unclosed\n")
    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            load(root, env=ENV)
        assert str(caught.value.problems[0]).startswith("postings/broken.yaml:3:1: YAML syntax")
    assert parses == ["postings/broken.yaml", "postings/designer.yaml", "postings/broken.yaml"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped"])
def test_a_damaged_cache_is_ignored_and_rebuilt(tmp_path: Path, parses: list[str], damage: str) -> None:
    """Whatever happened to the cache file, a load parses the files again and writes a
    good cache; it is never an error."""
    root = repo(tmp_path, designer="Product Designer")
    titles(root)
    cache = tmp_path / "state.postings.cache"
    blob = cache.read_bytes()
    damaged = {
        "garbage": b"\x00not a cache at all",
        "truncated": blob[: len(blob) // 2],
        "empty": b"",
        "flipped": blob[:-1] + bytes([blob[-1] ^ 1]),
    }[damage]
    cache.write_bytes(damaged)
    assert titles(root) == {"designer": "Product Designer"}
    assert cache.read_bytes() != damaged
    parses.clear()
    titles(root)
    assert parses == []


def test_a_cache_that_cannot_be_written_is_left_alone(tmp_path: Path, parses: list[str]) -> None:
    """Where the cache cannot be written, loads parse every time and succeed."""
    root = repo(tmp_path, designer="Product Designer")
    (tmp_path / "state.postings.cache").mkdir()
    assert titles(root) == titles(root) == {"designer": "Product Designer"}
    assert parses == ["postings/designer.yaml"] * 2


def test_another_reader_never_trusts_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    """A cache is stamped with what made it (boardsync's reader, the YAML library, Python):
    made by another, it is not used."""
    root = repo(tmp_path, designer="Product Designer")
    titles(root)
    monkeypatch.setattr(parsed, "_stamp", lambda: b"another reader")
    titles(root)
    assert parses == ["postings/designer.yaml"] * 2


@pytest.mark.slow
@pytest.mark.both_engines
def test_a_steady_reconcile_parses_no_posting_file(synced: Workspace, parses: list[str]) -> None:
    """After a first reconcile, the next one (a process of its own in real use) parses no
    posting file; an edited one is parsed and applied, and only that one. With the state in
    PostgreSQL too, whose cache is kept in the cache folder."""
    assert synced.run("reconcile").code == 0
    assert parses == []
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Staff Backend Engineer (Python)")
    assert synced.run("reconcile").code == 0
    assert parses == ["postings/backend-engineer.yaml"]
    assert synced.sorce_job("backend-engineer")["title"] == "Staff Backend Engineer (Python)"


PG_ROOT = ROOT.replace("state: sqlite:///state.db", "state: postgresql://boardsync@127.0.0.1:5432/boardsync")


def test_a_postgresql_state_keeps_its_cache_in_the_cache_folder(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state in no file of its own keeps its cache in the cache folder, one a config and
    workspace: made by a command that writes the state, then used by every command. Loading
    the config connects to no database."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(parsed.CACHE_DIR_ENV, str(folder))
    root = repo(tmp_path, designer="Product Designer")
    (tmp_path / "state.db").unlink()
    root.write_text(PG_ROOT)

    titles(root)  # status, validate: nothing made
    assert not folder.exists()
    titles(root, start_cache=True)  # reconcile, the daemon
    assert [p.name for p in folder.iterdir()] == [parsed.in_folder(folder, root.resolve(), "default").name]
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    parses.clear()
    assert titles(root) == {"designer": "Product Designer"}
    assert parses == []

    load(root, env={**ENV, "BOARDSYNC_WORKSPACE": "acme"}, start_cache=True)  # a cache of its own
    assert parses == ["postings/designer.yaml"]
    assert len(list(folder.iterdir())) == 2


def test_the_cache_folder_is_the_first_the_environment_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parsed.cache_folder({}) == tmp_path / "home" / ".cache" / "boardsync"
    assert parsed.cache_folder({"XDG_CACHE_HOME": "/x"}) == Path("/x/boardsync")
    systemd = {"XDG_CACHE_HOME": "/x", "CACHE_DIRECTORY": "/var/cache/boardsync:/var/cache/other"}
    assert parsed.cache_folder(systemd) == Path("/var/cache/boardsync")
    assert parsed.cache_folder({**systemd, parsed.CACHE_DIR_ENV: "/mine"}) == Path("/mine")


def test_each_folder_is_resolved_once_yet_links_are_followed(tmp_path: Path) -> None:
    """A posting file that is a link is shown (and kept) as the file it points to, as before."""
    root = repo(tmp_path, designer="Product Designer")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "writer.yaml").write_text(textwrap.dedent(POSTING.format(key="writer", title="Writer")))
    (tmp_path / "postings" / "writer.yaml").symlink_to(tmp_path / "shared" / "writer.yaml")
    desired = load(root, env=ENV)
    assert desired.where("writer", "title") == "shared/writer.yaml:2:1"


def test_posting_files_are_found_and_ordered_as_os_walk_finds_them(tmp_path: Path) -> None:
    """The folder of postings is listed without a `Path` or a system call per file, and
    gives what a walk with `os.walk` gives: sorted by parts, hidden entries skipped, a
    linked folder not entered, a linked file kept (and said to be a link)."""
    folder = tmp_path / "postings"
    for name in ("b.yaml", "a/z.yml", "a/b/c.yaml", "a-b.yaml", ".hidden/x.yaml", "a/.x.yaml", "notes.txt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("key: x\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.yaml").write_text("key: far\n")
    (folder / "linked").symlink_to(tmp_path / "elsewhere")
    (folder / "link.yaml").symlink_to(tmp_path / "elsewhere" / "far.yaml")

    walked = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        walked += [Path(current) / f for f in files if not f.startswith(".") and f.endswith((".yaml", ".yml"))]
    expected = sorted(walked, key=lambda path: path.parts)

    listed = yamlfile.yaml_files_under(str(folder))
    assert [Path(path) for path, _ in listed] == expected
    assert [Path(path).name for path, linked in listed if linked] == ["link.yaml"]
    assert yamlfile.walk_yaml_files(folder) == expected
    assert yamlfile.resolve_all(listed)[expected.index(folder / "link.yaml")] == str(tmp_path / "elsewhere" / "far.yaml")


def test_a_small_file_is_read_without_a_buffer_of_the_size_limit(tmp_path: Path) -> None:
    """A posting file is read as large as stat says it is (and on, up to the limit, when there
    is more): a read of the limit made a buffer of a megabyte for every file of a first sync or
    a `validate`, which cost as much as reading it."""
    path = tmp_path / "a.yaml"
    path.write_bytes(b"key: a\n" * 100)
    tracemalloc.start()
    try:
        raw = yamlfile.read_bytes(path, "a.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raw == b"key: a\n" * 100
    assert peak < 64 * 1024, f"{peak} bytes allocated to read a 700-byte file"
