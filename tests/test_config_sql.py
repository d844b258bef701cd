"""Postings kept in a SQL table are validated exactly like YAML, each problem naming its row."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from boardsync.config import ConfigError, load

ROOT = """\
version: 1
postings: {{sql: "{url}", table: {table}}}
providers:
  hirempire:
    token: "${{HIREMPIRE_TOKEN}}"
    company_id: cmp_test
"""
ENV = {"HIREMPIRE_TOKEN": "tok"}


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Data Analyst",
        "description": "Numbers for clinic managers.",
        "workplace": "remote",
        "remote_country": "United States",
        "employment_type": "full_time",
        "level": "mid",
        "boards": {"hirempire": {}},
    }
    return {**base, **changes}


def database(path: Path, rows: list[tuple[str, Any]], table: str = "postings") -> Path:
    """A real SQLite file holding (key, spec, updated_at) rows."""
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {table} (key TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_at TEXT NOT NULL)")
        db.executemany(
            f"INSERT INTO {table} VALUES (?, ?, '2025-01-06T09:00:00Z')",
            [(key, value if isinstance(value, str) else json.dumps(value)) for key, value in rows],
        )
    db.close()
    return path


def root_file(tmp_path: Path, url: str = "sqlite:///postings.db", table: str = "postings") -> Path:
    path = tmp_path / "boardsync.yaml"
    path.write_text(ROOT.format(url=url, table=table))
    return path


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(root, env=ENV)
    return [str(p) for p in caught.value.problems]


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def test_rows_load_as_postings_sorted_by_key_and_located_by_key(tmp_path: Path) -> None:
    """Rows become postings; where() names the table and the row's key."""
    database(tmp_path / "postings.db", [("zeta", spec(title="Zeta")), ("alpha", spec(title="Alpha"))])
    desired = load(root_file(tmp_path), env=ENV)
    assert [(p.key, p.title) for p in desired.postings] == [("alpha", "Alpha"), ("zeta", "Zeta")]
    assert desired.where("zeta", "salary.max") == "table postings, key=zeta"


def test_a_row_is_validated_like_yaml_and_its_problems_name_its_key(tmp_path: Path) -> None:
    """Unknown keys, enums and salary ranges read the same as in YAML, at the row's key."""
    database(
        tmp_path / "postings.db",
        [("a", spec(titel="x")), ("b", spec(level="medium", salary={"min": 9, "max": 1}))],
    )
    assert problems(root_file(tmp_path)) == [
        "table postings, key=a: titel: unknown key 'titel'; did you mean 'title'?",
        "table postings, key=b: level: 'medium' is not allowed; use one of: entry, mid, senior",
        "table postings, key=b: salary.max: must be ≥ salary.min (1 < 9)",
    ]


def test_a_spec_whose_key_differs_from_the_row_key_is_refused(tmp_path: Path) -> None:
    """The row's key is the identity; a spec that disagrees is a mistake, not an override."""
    database(tmp_path / "postings.db", [("analyst", spec(key="designer"))])
    assert problems(root_file(tmp_path)) == [
        "table postings, key=analyst: key: the spec says key 'designer' but the row's key is 'analyst'"
    ]


def test_a_spec_that_is_json_but_not_an_object_is_refused(tmp_path: Path) -> None:
    """A list or a string is valid JSON but not a posting."""
    database(tmp_path / "postings.db", [("analyst", "[1, 2]")])
    assert problems(root_file(tmp_path)) == ["table postings, key=analyst: spec: must be a JSON object (one posting)"]


def test_a_missing_table_is_named_at_the_root_files_sql_line(tmp_path: Path) -> None:
    """The database exists but the table does not: the message says which table."""
    database(tmp_path / "postings.db", [], table="other")
    assert problems(root_file(tmp_path, table="jobs")) == [
        "boardsync.yaml:2:12: postings: cannot read table jobs: no such table: jobs"
    ]


def test_a_missing_sqlite_file_is_reported_and_not_created(tmp_path: Path) -> None:
    """Connecting would create an empty database; the loader refuses instead."""
    assert problems(root_file(tmp_path)) == [
        "boardsync.yaml:2:12: postings: the SQLite database 'postings.db' does not exist"
    ]
    assert not (tmp_path / "postings.db").exists()


def test_an_empty_table_is_a_warning(tmp_path: Path) -> None:
    """No rows yet is allowed, and said."""
    database(tmp_path / "postings.db", [])
    desired = load(root_file(tmp_path), env=ENV)
    assert [str(w) for w in desired.warnings] == ["boardsync.yaml:2:12: postings: table postings has no rows; no postings"]


def test_the_sql_url_may_hold_a_secret_reference_and_never_shows_it(tmp_path: Path) -> None:
    """`${DB_FILE}` in the URL resolves; with secrets unresolved the table is not read, with a warning."""
    database(tmp_path / "rows.db", [("analyst", spec())])
    root = root_file(tmp_path, url="sqlite:///${DB_FILE}")
    assert [p.key for p in load(root, env={**ENV, "DB_FILE": "rows.db"}).postings] == ["analyst"]
    unresolved = load(root, env={}, resolve_secrets=False)
    assert unresolved.postings == ()
    assert [w.message for w in unresolved.warnings] == [
        "not read: the URL holds secret references and secrets are not resolved"
    ]


def test_a_row_key_must_follow_the_posting_key_rules(tmp_path: Path) -> None:
    """The key comes from the row, and the posting key pattern applies to it."""
    database(tmp_path / "postings.db", [("Not A Key", spec())])
    assert problems(root_file(tmp_path)) == [
        "table postings, key=Not A Key: key: must be lowercase letters, digits, '.', '_' or '-', starting "
        "with a letter or digit, at most 100 characters (got 'Not A Key')"
    ]


def test_a_database_whose_driver_is_not_installed_names_the_driver_not_the_url(tmp_path: Path) -> None:
    """A URL for a driver that is not installed says which module to install, and the URL's
    password never shows."""
    pytest.importorskip("sqlalchemy.dialects.mysql")
    if importlib.util.find_spec("pymysql") is not None:
        pytest.skip("pymysql is installed here")
    [problem] = problems(root_file(tmp_path, url="mysql+pymysql://jobs:hunter2@db.internal/jobs"))
    assert problem == (
        "boardsync.yaml:2:12: postings: cannot use this database URL: its driver 'pymysql' is not "
        "installed (for mysql+pymysql); install it, or name another driver in the URL"
    )


def test_a_database_sqlalchemy_does_not_know_is_named(tmp_path: Path) -> None:
    """A URL whose scheme names no SQLAlchemy dialect says so, without the URL's password."""
    assert problems(root_file(tmp_path, url="nosuchdb://jobs:hunter2@db.internal/jobs")) == [
        "boardsync.yaml:2:12: postings: cannot use this database URL: SQLAlchemy knows no database 'nosuchdb'"
    ]
