"""`boardsync import`: forty jobs made by hand on Sorce and Hirempire written down as postings
and bound, against the sandbox boards over loopback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from boardsync.sandbox.server import Sandbox
from tests.reconcile_helpers import HIREMPIRE_COMPANY, SORCE_COMPANY, Workspace, writes

pytestmark = pytest.mark.slow

PLACES = {  # Sorce's locationId → (city, state, country) as its location search names them
    "loc_us_tx_austin": ("Austin", "Texas", "United States"),
    "loc_us_co_denver": ("Denver", "Colorado", "United States"),
    "loc_us_wa_seattle": ("Seattle", "Washington", "United States"),
}


# ------------------------------------------------------------------------------ the boards, by hand


def _role(n: int, title: str, *, place: str | None = None) -> dict[str, Any]:
    """One role as a person types it in both dashboards: remote in the United States, or at `place`."""
    return {"title": title, "description": f"{title}: the work of team {n}.\nSecond line of the description.",
            "place": place, "min": 50000 + n * 1000, "max": 60000 + n * 1000}


def _sorce_job(ws: Workspace, role: dict[str, Any], *, close: bool = False) -> str:
    place = role["place"]
    body: dict[str, Any] = {
        "title": role["title"], "description": role["description"], "jobType": "FULL_TIME", "jobLevel": "MID",
        "salaryMin": role["min"], "salaryMax": role["max"], "salaryPeriod": "ANNUAL",
        "bidPerQualifiedApplicantCents": 900, "publish": True,
        "qualifications": [{"text": "Two years doing this", "kind": "REQUIRED"}],
        "questions": [{"prompt": "When can you start?", "options": ["Now", "Later"]}],
        **({"remoteOption": "REMOTE", "remoteCountry": "United States"} if place is None
           else {"remoteOption": "IN_PERSON", "locations": [{"locationId": place}]}),
    }
    made = ws.sandbox.sorce.api_create(SORCE_COMPANY, body)
    if close:
        ws.sandbox.sorce.api_transition(SORCE_COMPANY, made["id"], "close")
    return str(made["id"])


def _hirempire_job(ws: Workspace, role: dict[str, Any], *, status: str = "active",
                   description: str | None = None) -> str:
    place = role["place"]
    city, _, country = PLACES[place] if place else (None, None, "United States")
    body = {
        "company_id": HIREMPIRE_COMPANY, "job_title": role["title"],
        "job_description": description or role["description"], "department": "Operations",
        "job_country": country, "city": city, "salary": role["max"], "currency": "USD",
        "salary_period": "Per year", "job_type": "Full-time", "workplace": "Remote" if place is None else "On-site",
        "career_level": "Mid-level", "job_sources": ["careers-page"], "status": status,
    }
    return str(ws.sandbox.hirempire.add_job(body)["job_id"])


class Seeded:
    """The forty jobs, by what `import` should do with them."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []  # (sorce id, hirempire id): one role on both boards
        self.single: list[tuple[str, str]] = []  # (board, id): a role on one board only
        self.closed: list[tuple[str, str]] = []
        self.ambiguous: list[tuple[str, str]] = []

    def importable(self) -> set[tuple[str, str]]:
        return {("sorce", s) for s, _ in self.pairs} | {("hirempire", h) for _, h in self.pairs} | set(self.single)


def _seed(ws: Workspace) -> Seeded:
    seeded = Seeded()
    places = [None, "loc_us_tx_austin", "loc_us_co_denver", "loc_us_wa_seattle"]
    for n in range(8):  # 16 jobs: the same role on both boards; one with Hirempire's own description
        role = _role(n, f"Clinic Role {n}", place=places[n % 4])
        own = "Written for Hirempire's readers." if n == 3 else None
        seeded.pairs.append((_sorce_job(ws, role), _hirempire_job(ws, role, description=own)))
    for n in range(9):  # 9 on Sorce only
        seeded.single.append(("sorce", _sorce_job(ws, _role(20 + n, f"Sorce Role {n}", place=places[n % 4]))))
    for n in range(8):  # 8 on Hirempire only, one of them paused
        role = _role(40 + n, f"Hirempire Role {n}", place=places[n % 4])
        seeded.single.append(("hirempire", _hirempire_job(ws, role, status="paused" if n == 0 else "active")))
    for n in range(3):  # 5 closed
        seeded.closed.append(("sorce", _sorce_job(ws, _role(60 + n, f"Old Sorce Role {n}"), close=True)))
    for n in range(2):
        seeded.closed.append(("hirempire", _hirempire_job(ws, _role(70 + n, f"Old Hirempire Role {n}"),
                                                          status="closed")))
    twin = _role(80, "Front Desk Lead", place="loc_us_tx_austin")  # 2 with one title and place on one board
    seeded.ambiguous += [("sorce", _sorce_job(ws, twin)), ("sorce", _sorce_job(ws, twin))]
    assert len(seeded.pairs) * 2 + len(seeded.single) + len(seeded.closed) + len(seeded.ambiguous) == 40
    return seeded


@pytest.fixture
def empty(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A config repository with no posting yet, on the sandbox boards."""
    workspace = Workspace(tmp_path, sandbox, monkeypatch)
    workspace.postings.mkdir()
    workspace.write_config()
    return workspace


def _ids(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["provider"], i["remote_id"]) for i in items}


def _bound(ws: Workspace) -> set[tuple[str, str]]:
    connection = sqlite3.connect(ws.root / "state.db")
    try:
        return set(connection.execute("SELECT provider, remote_id FROM binding WHERE remote_id IS NOT NULL"))
    finally:
        connection.close()


def _imported(ws: Workspace) -> list[Path]:
    return sorted((ws.postings / "imported").glob("*.yaml"))


# ------------------------------------------------------------------------------ the tests


def test_import_writes_valid_postings_binds_them_and_the_plan_after_changes_nothing(empty: Workspace) -> None:
    """Forty jobs: each role becomes one valid posting naming its boards, the two jobs of one
    title and place on one board are listed and left unbound (exit 2), the closed ones
    skipped; `plan` right after reads the boards and has nothing to change (exit 0)."""
    seeded = _seed(empty)
    empty.clear_counts()
    ran = empty.run("import", "--json")
    assert ran.code == 2, ran.out + ran.err
    done = json.loads(ran.out)
    assert {board: writes(c) for board, c in empty.counts().items()} == {"sorce": {}, "hirempire": {},
                                                                        "recruitifi": {}}
    written_jobs = {(j["provider"], j["remote_id"]) for w in done["written"] for j in w["jobs"]}
    assert written_jobs == seeded.importable()
    assert len(done["written"]) == len(seeded.pairs) + len(seeded.single) == len(_imported(empty))
    both = [w for w in done["written"] if len(w["jobs"]) == 2]
    assert {tuple(sorted(j["provider"] for j in w["jobs"])) for w in both} == {("hirempire", "sorce")}
    assert len(both) == len(seeded.pairs)
    assert _ids(done["ambiguous"]) == set(seeded.ambiguous)
    assert all("more than once" in a["reason"] for a in done["ambiguous"])
    assert _ids(done["skipped"]) == set(seeded.closed)
    assert _bound(empty) == seeded.importable()

    first = _imported(empty)[0].read_text()
    assert first.startswith("# yaml-language-server: $schema=../../posting.schema.json\n")
    own = next(p for p in _imported(empty) if p.name == "clinic-role-3.yaml").read_text()
    assert "Written for Hirempire's readers." in own and "hirempire:" in own

    valid = empty.run("validate")
    assert valid.code == 0, valid.out + valid.err
    empty.clear_counts()
    planned = empty.run("plan", "--json")
    assert planned.code == 0, planned.out + planned.err
    assert json.loads(planned.out)["changes"] == []
    assert {board: writes(c) for board, c in empty.counts().items()} == {"sorce": {}, "hirempire": {},
                                                                        "recruitifi": {}}
    audit = sqlite3.connect(empty.root / "state.db").execute(
        "SELECT count(*) FROM action WHERE action = 'import' AND ok = 1").fetchone()
    assert audit == (len(seeded.importable()),)

    unmanaged = json.loads(empty.run("status", "--unmanaged", "--json").out)
    assert _ids(unmanaged["jobs"]) == set(seeded.ambiguous) | set(seeded.closed)


def test_an_edit_to_an_imported_file_is_one_update(empty: Workspace) -> None:
    """After an import, a description changed in one imported file is exactly one update, on
    the one board that posting names."""
    _seed(empty)
    assert empty.run("import").code == 2
    path = empty.postings / "imported" / "sorce-role-1.yaml"
    text = path.read_text()
    path.write_text(text.replace("Second line of the description.", "A better second line."))
    planned = json.loads(empty.run("plan", "--json").out)
    assert [(c["provider"], c["posting"], c["action"]) for c in planned["changes"]] == [
        ("sorce", "sorce-role-1", "update")]
    empty.clear_counts()
    assert empty.run("reconcile").code == 0
    assert {k: v for k, v in writes(empty.counts()["sorce"]).items()} == {
        next(k for k in empty.counts()["sorce"] if k.startswith("PATCH")): 1}
    assert writes(empty.counts()["hirempire"]) == {}


def test_dry_run_writes_and_binds_nothing(empty: Workspace) -> None:
    """`import --dry-run` prints the files it would write, and writes no file, binds no job and
    sends nothing to a board."""
    seeded = _seed(empty)
    empty.clear_counts()
    ran = empty.run("import", "--dry-run")
    assert ran.code == 2, ran.err
    assert "--- " in ran.out and "key: clinic-role-0" in ran.out and "would write" in ran.out
    assert not (empty.postings / "imported").exists()
    assert not (empty.root / "state.db").exists() or _bound(empty) == set()
    assert {board: writes(c) for board, c in empty.counts().items()} == {"sorce": {}, "hirempire": {},
                                                                        "recruitifi": {}}
    assert len(seeded.importable()) == 33


def test_a_second_import_overwrites_no_file_and_binds_nothing_twice(empty: Workspace) -> None:
    """A second import finds nothing new to write; a job made since gets a file of its own,
    named `-2` beside a file of the same name it never writes over, and is bound once."""
    _seed(empty)
    assert empty.run("import").code == 2
    before = {p: p.read_text() for p in _imported(empty)}
    again = json.loads(empty.run("import", "--json").out)
    assert again["written"] == []
    assert {p: p.read_text() for p in _imported(empty)} == before
    bound = _bound(empty)

    # A posting file that nothing binds yet takes the name the next job would have (with a
    # Hirempire slug of its own: two postings with one slug are refused).
    stray = empty.postings / "imported" / "night-porter.yaml"
    stray.write_text(before[_imported(empty)[0]].replace("key: ", "key: stray-", 1).replace(
        "Clinic Role", "Stray Role").replace("public_slug: ", "public_slug: stray-", 1))
    new_id = _sorce_job(empty, _role(90, "Night Porter"))
    ran = json.loads(empty.run("import", "--json").out)
    assert [(w["key"], Path(w["path"]).name) for w in ran["written"]] == [("night-porter-2", "night-porter-2.yaml")]
    assert stray.read_text().startswith("# yaml-language-server")
    assert "Stray Role" in stray.read_text()
    assert _bound(empty) == bound | {("sorce", new_id)}


def test_board_limits_the_import_to_one_board(empty: Workspace) -> None:
    """`import --board hirempire` reads only Hirempire and imports only its jobs: a role on both
    boards becomes a posting naming Hirempire alone."""
    seeded = _seed(empty)
    empty.clear_counts()
    ran = empty.run("import", "--board", "hirempire", "--json")
    assert ran.code == 0, ran.out + ran.err
    done = json.loads(ran.out)
    jobs = {(j["provider"], j["remote_id"]) for w in done["written"] for j in w["jobs"]}
    assert jobs == {(b, i) for b, i in seeded.importable() if b == "hirempire"}
    assert empty.counts()["sorce"] == {}
    assert _bound(empty) == jobs


def test_a_board_that_cannot_be_read_writes_nothing(empty: Workspace) -> None:
    """When a board cannot be read, import exits 1 naming it, and writes no file and no binding."""
    _seed(empty)
    config = empty.root / "boardsync.yaml"
    config.write_text(config.read_text().replace(empty.sandbox.sorce_url, "http://127.0.0.1:9/api"))
    ran = empty.run("import")
    assert ran.code == 1 and "sorce" in ran.err
    assert not (empty.postings / "imported").exists()
