"""Every kind of bad input, each kept as a broken file under tests/bad/, fails `boardsync
validate` with exit 1 and a message that says where and what to do."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from boardsync.cli import main

BAD = Path(__file__).parent / "bad"
GOOD_ROOT = BAD / "good" / "boardsync.yaml"
SECRETS = {"SORCE_API_KEY": "sk_ext_test_sorce", "HIREMPIRE_TOKEN": "sk-test-hirempire", "RECRUITIFI_CLIENT_SECRET": "rf-test"}
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?:(?P<field>[\w.\[\]]+): )?(?P<message>.+)$")


@pytest.fixture(autouse=True)
def _secrets_and_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)


def validate(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, list[str]]:
    code = main(["validate", "-c", str(root), *extra])
    out = capsys.readouterr()
    return code, (out.out + out.err).splitlines()


def root_with_postings(tmp_path: Path, postings: Path) -> Path:
    """The good root file, pointed at one broken posting file or folder."""
    text = GOOD_ROOT.read_text().replace("postings: postings/", f"postings: {postings}")
    root = tmp_path / "boardsync.yaml"
    root.write_text(text)
    return root


def problems_of(lines: list[str]) -> list[re.Match[str]]:
    """The `file:line:col: field: message` lines, warnings left out; anything else must be
    the closing line."""
    matches = [LINE.match(line) for line in lines[:-1]]
    assert all(matches), lines
    return [m for m in matches if m is not None and m.group("field") != "warning"]


def only_problem(capsys: pytest.CaptureFixture[str], root: Path) -> re.Match[str]:
    code, lines = validate(capsys, root)
    assert code == 1, lines
    found = [m for m in problems_of(lines) if " warning: " not in m.group(0)]
    assert len(found) == 1, lines
    assert lines[-1].startswith("1 problem")
    return found[0]


def test_the_good_files_used_by_every_case_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    """The root and posting that the broken files are checked with pass on their own."""
    code, lines = validate(capsys, GOOD_ROOT)
    assert code == 0, lines
    assert problems_of(lines) == []
    assert lines[-1:] == ["valid: 1 posting (1 active), 3 boards (sorce, hirempire, recruitifi), 1 channel"]


def test_malformed_yaml_points_at_the_line_where_the_quote_opens(capsys, tmp_path) -> None:
    """An unclosed quote is reported where it starts, not at the end of the file."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "malformed.yaml"))
    assert problem.group("file").endswith("malformed.yaml")
    assert (problem.group("line"), problem.group("col")) == ("2", "8")
    assert "YAML syntax" in problem.group("message") and "quoted scalar" in problem.group("message")


def test_tab_indentation_names_the_line_and_says_to_use_spaces(capsys, tmp_path) -> None:
    """YAML forbids tabs in indentation; the message says so in those words."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "tabs.yaml"))
    assert problem.group("line") == "4"
    assert problem.group("message") == "tab character in indentation on line 4; indent with spaces"


def test_unknown_key_suggests_the_nearest_known_one(capsys, tmp_path) -> None:
    """`titel` is refused, `title` is suggested, and the missing `title` is not reported twice."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "unknown-key.yaml"))
    assert (problem.group("line"), problem.group("col"), problem.group("field")) == ("2", "1", "titel")
    assert problem.group("message") == "unknown key 'titel'; did you mean 'title'?"


def test_wrong_type_names_the_field_the_type_and_what_was_written(capsys, tmp_path) -> None:
    """A bid written as words points at the bid and quotes the words."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "wrong-type.yaml"))
    assert problem.group("field") == "boards.sorce.bid_cents"
    assert problem.group("line") == "15"
    assert problem.group("message") == "expected a whole number, got 'ten dollars'"


def test_unknown_enum_value_lists_the_allowed_values(capsys, tmp_path) -> None:
    """An employment type that does not exist lists every one that does, and the closest."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "unknown-enum.yaml"))
    assert problem.group("field") == "employment_type"
    message = problem.group("message")
    assert message.startswith("'fulltime' is not allowed; use one of: full_time, part_time, contract")
    assert message.endswith("(did you mean 'full_time'?)")


def test_salary_min_above_max_points_at_max(capsys, tmp_path) -> None:
    """The inverted range is reported on `salary.max`, with both amounts."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "salary-min-above-max.yaml"))
    assert (problem.group("line"), problem.group("field")) == ("11", "salary.max")
    assert problem.group("message") == "must be ≥ salary.min (100000 < 120000)"


def test_hybrid_posting_without_location_asks_for_one(capsys, tmp_path) -> None:
    """A hybrid posting must say where people work (and Hirempire, which takes its country from
    the first location, says what it misses too)."""
    code, lines = validate(capsys, root_with_postings(tmp_path, BAD / "postings" / "hybrid-without-location.yaml"))
    assert code == 1
    found = [(m.group("field"), m.group("message")) for m in problems_of(lines)]
    assert found == [
        ("locations", "a hybrid posting needs at least one location"),
        ("locations", "hirempire: Hirempire needs the job's country"),
    ]


def test_duplicate_posting_keys_name_both_places(capsys, tmp_path) -> None:
    """The second use of a key is an error that also names the file and line of the first."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "duplicate-keys"))
    assert problem.group("file").endswith("b-more.yaml") and problem.group("line") == "12"
    assert problem.group("field") == "key"
    assert re.fullmatch(r"duplicate posting key 'designer': also at .*a-designer\.yaml:1:1", problem.group("message"))


def test_two_postings_giving_one_hirempire_slug_name_both_places(capsys, tmp_path) -> None:
    """One public_slug in two postings would be one Hirempire job bound to both: the second
    is an error naming the file and line of the first."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "shared-slug"))
    assert problem.group("file").endswith("b-night-shift.yaml") and problem.group("line") == "17"
    assert problem.group("field") == "boards.hirempire.public_slug"
    assert re.fullmatch(r"'clinic-shifts' is also the hirempire public_slug of posting 'day-shift' \(at "
                        r".*a-day-shift\.yaml:17:5\): the two postings would share one hirempire job",
                        problem.group("message"))


def test_a_postings_folder_that_does_not_exist_is_named(capsys) -> None:
    """The root file's `postings:` line is blamed, with the folder as resolved."""
    problem = only_problem(capsys, BAD / "root" / "missing-postings-folder.yaml")
    assert problem.group("file").endswith("missing-postings-folder.yaml")
    assert (problem.group("line"), problem.group("field")) == ("2", "postings")
    assert re.fullmatch(r"'.*root/postingz' does not exist", problem.group("message"))


def test_an_empty_postings_folder_is_a_warning_not_a_failure(capsys) -> None:
    """No postings at all is allowed (a new repository), but said out loud."""
    code, lines = validate(capsys, BAD / "root" / "empty-postings-folder.yaml")
    assert code == 0
    assert "warning: postings: no *.yaml or *.yml files in" in lines[0]
    assert lines[-1] == "valid: 0 postings, 1 board (hirempire), 0 channels"


def test_an_unset_variable_without_default_names_the_reference(capsys) -> None:
    """The reference is named, with how to set it or to check without secrets."""
    problem = only_problem(capsys, BAD / "root" / "unset-env.yaml")
    assert (problem.group("line"), problem.group("field")) == ("5", "providers.sorce.api_key")
    assert problem.group("message").startswith(
        "${BOARDSYNC_TEST_UNSET_KEY}: the environment variable BOARDSYNC_TEST_UNSET_KEY is not set"
    )
    assert "--no-secrets" in problem.group("message")


def test_a_missing_credential_file_is_named(capsys, monkeypatch, tmp_path) -> None:
    """With $CREDENTIALS_DIRECTORY set but no such file, the credential's name is given."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    problem = only_problem(capsys, BAD / "root" / "missing-credential.yaml")
    assert problem.group("field") == "providers.hirempire.token"
    assert problem.group("message") == (
        "${cred:hirempire}: the credential 'hirempire' in $CREDENTIALS_DIRECTORY does not exist"
    )


def test_a_credential_without_credentials_directory_explains_systemd(capsys) -> None:
    """Outside systemd there is no $CREDENTIALS_DIRECTORY; the message says what sets it."""
    problem = only_problem(capsys, BAD / "root" / "missing-credential.yaml")
    assert "$CREDENTIALS_DIRECTORY is not set" in problem.group("message")
    assert "LoadCredential=hirempire" in problem.group("message")


def test_a_literal_key_is_refused_with_how_to_reference_it(capsys) -> None:
    """A Sorce key pasted into the file is refused, the key itself is never echoed."""
    code, lines = validate(capsys, BAD / "root" / "literal-key.yaml")
    assert code == 1
    problem = problems_of(lines)[0]
    assert problem.group("field") == "providers.sorce.api_key"
    assert '"${SORCE_API_KEY}"' in problem.group("message") and "${cred:sorce}" in problem.group("message")
    assert not any("0123456789abcdef" in line for line in lines)


def test_an_alias_bomb_is_refused_before_it_expands(capsys, tmp_path) -> None:
    """Nine levels of nine aliases (387 million values) are refused in well under a second."""
    started = time.perf_counter()
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "alias-bomb.yaml"))
    assert time.perf_counter() - started < 1.0
    assert "aliases expand this file to more than 250000 values" in problem.group("message")


def test_an_oversized_file_is_refused_by_its_size_without_reading_it(capsys, tmp_path) -> None:
    """A 4 GiB (sparse) posting file is refused at once, and the limit is said."""
    huge = tmp_path / "postings" / "huge.yaml"
    huge.parent.mkdir()
    with huge.open("wb") as handle:
        handle.truncate(4 * 1024**3)
    started = time.perf_counter()
    problem = only_problem(capsys, root_with_postings(tmp_path, huge.parent))
    assert time.perf_counter() - started < 1.0
    assert problem.group("message") == (
        "file is too large (4096 MiB; the limit is 1 MiB): split the postings into several files"
    )


def test_a_file_that_is_not_utf8_names_the_byte_and_its_offset(capsys, tmp_path) -> None:
    """A Latin-1 'é' is found at its line, column and byte offset."""
    problem = only_problem(capsys, root_with_postings(tmp_path, BAD / "postings" / "not-utf8.yaml"))
    assert (problem.group("line"), problem.group("col")) == ("2", "11")
    assert problem.group("message") == "not UTF-8: byte 0xe9 at offset 24 cannot be decoded; save the file as UTF-8"


def test_a_sql_row_with_broken_json_names_the_row_key(capsys, tmp_path) -> None:
    """Rows are checked one by one: the broken one is named by its key; the good one passes."""
    root = tmp_path / "boardsync.yaml"
    shutil.copy(BAD / "root" / "sql-broken-json.yaml", root)
    with sqlite3.connect(tmp_path / "broken-json.db") as db:
        db.executescript((BAD / "sql" / "broken-json.sql").read_text())
    db.close()
    code, lines = validate(capsys, root)
    assert code == 1
    lines = [line for line in lines if ": warning: " not in line]
    assert lines[0].startswith("table postings, key=designer: spec: not valid JSON: Expecting property name")
    assert lines[-1].startswith("1 problem")


def test_every_problem_is_reported_in_one_run(capsys, tmp_path) -> None:
    """Seven broken files in one folder give all their problems, in file order, in one run."""
    folder = tmp_path / "postings"
    folder.mkdir()
    names = ["hybrid-without-location", "malformed", "not-utf8", "salary-min-above-max", "tabs", "unknown-enum", "wrong-type"]
    for name in names:
        shutil.copy(BAD / "postings" / f"{name}.yaml", folder)
    code, lines = validate(capsys, root_with_postings(tmp_path, folder))
    assert code == 1
    found = problems_of(lines)
    assert [Path(m.group("file")).stem for m in found] == [names[0], *names]  # the hybrid one has two
    assert lines[-1] == "8 problems; nothing is valid until all are fixed"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_special_file_is_not_read_past_the_limit(capsys, tmp_path) -> None:
    """A file whose size stat cannot tell (here, a link to /dev/zero) is refused at the limit."""
    folder = tmp_path / "postings"
    folder.mkdir()
    bad = folder / "endless.yaml"
    bad.symlink_to("/dev/zero")
    problem = only_problem(capsys, root_with_postings(tmp_path, folder))
    assert problem.group("message").startswith("file is too large")


def test_a_posting_breaking_a_rule_between_fields_still_gets_its_board_checks(capsys, tmp_path) -> None:
    """A hybrid posting with no location that also lacks what Hirempire requires shows both
    problems in one run, not the board's only after the first is fixed."""
    folder = tmp_path / "postings"
    folder.mkdir()
    (folder / "designer.yaml").write_text(
        "key: designer\ntitle: Product Designer\ndescription: Hybrid, nowhere.\nworkplace: hybrid\n"
        "employment_type: full_time\nlevel: mid\nboards:\n  hirempire: {}\n"
    )
    code, lines = validate(capsys, root_with_postings(tmp_path, folder))
    assert code == 1
    found = {(m.group("field"), m.group("message")) for m in problems_of(lines)}
    assert ("locations", "a hybrid posting needs at least one location") in found
    assert any(field == "salary" and message.startswith("hirempire: ") for field, message in found), lines
    assert any(field == "department" and message.startswith("hirempire: ") for field, message in found), lines


def test_a_short_events_token_and_a_public_url_that_is_no_address_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """daemon.events_token is the only proof a board's event is the board's: a short one is
    refused; daemon.public_url must be an http(s) address. The token's value is never shown."""
    monkeypatch.setenv("EVENTS_TOKEN", "short-secret")
    root = tmp_path / "boardsync.yaml"
    root.write_text(
        GOOD_ROOT.read_text().replace("postings: postings/", f"postings: {GOOD_ROOT.parent / 'postings'}")
        + 'daemon:\n  events_token: "${EVENTS_TOKEN}"\n  public_url: boardsync.example.com\n'
    )
    code, lines = validate(capsys, root)
    assert code == 1, lines
    found = {m.group("field"): m for m in problems_of(lines)}
    assert set(found) == {"daemon.events_token", "daemon.public_url"}, lines
    assert "at least 16" in found["daemon.events_token"].group("message")
    assert found["daemon.public_url"].group("message").startswith("expected an http(s) address")
    assert "short-secret" not in "\n".join(lines)
