"""Secret references in the root file: every form resolves, and no secret ever shows."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from boardsync.config import ConfigError, load

ROOT = """\
version: 1
postings: postings/
providers:
  hirempire:
    token: {token}
    company_id: {company}
"""


def root_file(tmp_path: Path, token: str, company: str = "cmp_test", extra: str = "") -> Path:
    (tmp_path / "postings").mkdir(exist_ok=True)
    path = tmp_path / "boardsync.yaml"
    path.write_text(ROOT.format(token=token, company=company) + textwrap.dedent(extra))
    return path


def token_of(path: Path, env: dict[str, str]) -> str:
    hirempire = load(path, env=env).root.providers.hirempire
    assert hirempire is not None
    return hirempire.token.get_secret_value()


def problems(path: Path, env: dict[str, str], **kw: bool) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env=env, **kw)
    return [str(p) for p in caught.value.problems]


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def test_an_environment_reference_resolves_into_a_secret_str(tmp_path: Path) -> None:
    """`${HIREMPIRE_TOKEN}` becomes a SecretStr whose repr hides the value."""
    hirempire = load(root_file(tmp_path, '"${HIREMPIRE_TOKEN}"'), env={"HIREMPIRE_TOKEN": "tok-123"}).root.providers.hirempire
    assert hirempire is not None
    assert hirempire.token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(hirempire) and "tok-123" not in str(hirempire.token)


@pytest.mark.parametrize(("env", "expected"), [({}, "fallback"), ({"TOKEN": ""}, "fallback"), ({"TOKEN": "set"}, "set")])
def test_a_default_applies_when_the_variable_is_unset_or_empty(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    """`${NAME:-default}` follows the shell: unset or empty takes the default."""
    assert token_of(root_file(tmp_path, '"${TOKEN:-fallback}"'), env) == expected


def test_a_variable_set_but_empty_without_default_is_a_problem(tmp_path: Path) -> None:
    """An empty secret would only fail later at the board; say it now."""
    assert problems(root_file(tmp_path, '"${TOKEN}"'), {"TOKEN": ""}) == [
        "boardsync.yaml:5:5: providers.hirempire.token: ${TOKEN}: the environment variable TOKEN is empty and "
        "the reference has no default (set TOKEN, or check without secrets: boardsync validate --no-secrets)"
    ]


def test_a_credential_is_read_from_the_credentials_directory(tmp_path: Path) -> None:
    """`${cred:NAME}` reads $CREDENTIALS_DIRECTORY/NAME, as systemd's LoadCredential= provides,
    without its final newline."""
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "hirempire").write_text("tok-from-systemd\n")
    path = root_file(tmp_path, '"${cred:hirempire}"')
    assert token_of(path, {"CREDENTIALS_DIRECTORY": str(credentials)}) == "tok-from-systemd"


def test_a_file_reference_is_relative_to_the_root_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`${file:secrets/token}` is found next to the root file, whatever the working directory."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("tok-from-file\r\n")
    path = root_file(tmp_path, '"${file:secrets/token}"')
    monkeypatch.chdir("/")
    assert token_of(path, {}) == "tok-from-file"


def test_a_missing_secret_file_is_named_by_its_path(tmp_path: Path) -> None:
    """The path is not a secret; it is what a person needs to fix this."""
    assert problems(root_file(tmp_path, '"${file:secrets/nope}"'), {}) == [
        "boardsync.yaml:5:5: providers.hirempire.token: ${file:secrets/nope}: the file secrets/nope does not exist"
    ]


def test_references_inside_a_longer_value_and_escapes_resolve(tmp_path: Path) -> None:
    """A reference may sit inside a URL; `$${` is a literal `${`."""
    path = root_file(
        tmp_path,
        '"${TOKEN}"',
        company="cmp_${TEAM:-core}_$${literal}",
        extra='state: "postgresql+psycopg://boardsync:${DB_PASSWORD}@db.internal/boardsync"\n',
    )
    desired = load(path, env={"TOKEN": "t", "DB_PASSWORD": "pw-9"})
    assert desired.root.providers.hirempire is not None
    assert desired.root.providers.hirempire.company_id == "cmp_core_${literal}"
    assert desired.state_url == "postgresql+psycopg://boardsync:pw-9@db.internal/boardsync"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('"${cred:}"', "malformed reference ${cred:}"),
        ('"${9LIVES}"', "malformed reference ${9LIVES}"),
        ('"${TOKEN"', "a '${' that is never closed"),
        ('"${vault:prod/token}"', "malformed reference ${vault:prod/token}"),
    ],
)
def test_a_malformed_reference_lists_the_forms_allowed(tmp_path: Path, written: str, message: str) -> None:
    """Each malformed reference is named, with the four forms that do work."""
    found = problems(root_file(tmp_path, written), {})
    assert len(found) == 1
    assert message in found[0]
    assert found[0].endswith("write ${ENV}, ${ENV:-default}, ${cred:NAME} or ${file:PATH}")


def test_without_resolving_references_are_checked_but_nothing_is_read(tmp_path: Path) -> None:
    """resolve_secrets=False needs no environment, credential or file, but still refuses a
    malformed reference."""
    path = root_file(tmp_path, '"${cred:hirempire}"', company="${COMPANY}")
    desired = load(path, env={}, resolve_secrets=False)
    assert desired.root.providers.hirempire is not None
    assert desired.root.providers.hirempire.token.get_secret_value() == "${cred:hirempire}"
    broken = root_file(tmp_path, '"${cred:}"')
    assert problems(broken, {}, resolve_secrets=False)[0].endswith(
        "write ${ENV}, ${ENV:-default}, ${cred:NAME} or ${file:PATH}"
    )


def test_a_resolved_secret_never_appears_in_a_problem(tmp_path: Path) -> None:
    """A secret that lands in a field it does not fit is reported without its value."""
    path = root_file(tmp_path, '"${TOKEN}"', extra="daemon:\n  posting_labels: ${FLAG}\n")
    found = problems(path, {"TOKEN": "tok", "FLAG": "hunter2-top-secret"})
    assert found == ["boardsync.yaml:8:3: daemon.posting_labels: expected true or false, got text"]


@pytest.mark.parametrize(
    ("literal", "shown"),
    [("sk_ext_live_4f9a8b7c6d", "sk_ext_…"), ("sk-proj-abcdef0123456789", "sk-…")],
)
def test_a_literal_board_key_is_refused_and_never_echoed(tmp_path: Path, literal: str, shown: str) -> None:
    """Keys shaped like Sorce's or Hirempire's are refused wherever they are written literally."""
    found = problems(root_file(tmp_path, literal), {})
    assert len(found) == 1
    assert f"a literal key ('{shown}') is written in the file" in found[0]
    assert '"${HIREMPIRE_TOKEN}"' in found[0] and '"${cred:hirempire}"' in found[0]
    assert literal not in found[0]


def test_words_that_merely_contain_sk_are_not_keys(tmp_path: Path) -> None:
    """`task-runner` or `sk-learn` are not keys: only long key-shaped values are refused."""
    path = root_file(tmp_path, '"${TOKEN}"', company="task-runner-sk-learn")
    assert load(path, env={"TOKEN": "t"}).root.providers.hirempire is not None


def test_a_secret_written_literally_but_not_key_shaped_is_a_warning(tmp_path: Path) -> None:
    """It works, but it would be committed: the warning says how to reference it."""
    desired = load(root_file(tmp_path, "plain-token"), env={})
    assert [str(w) for w in desired.warnings if w.field.startswith("providers")] == [
        'boardsync.yaml:5:5: providers.hirempire.token: written literally; reference it instead, e.g. '
        '"${HIREMPIRE_TOKEN}", so it stays out of the repository'
    ]


def test_without_resolving_a_reference_in_a_typed_field_is_not_judged(tmp_path: Path) -> None:
    """`requests_per_hour: ${RATE}` is not a number until resolved; --no-secrets lets it be,
    while resolving checks the value."""
    path = root_file(tmp_path, '"${TOKEN}"', extra="")
    path.write_text(path.read_text() + '    requests_per_hour: "${RATE:-1000}"\n')
    assert load(path, env={}, resolve_secrets=False).root.providers.hirempire is not None
    assert token_of(path, {"TOKEN": "t"}) == "t"
    assert problems(path, {"TOKEN": "t", "RATE": "lots"}) == [
        "boardsync.yaml:7:5: providers.hirempire.requests_per_hour: expected a whole number, got text"
    ]


def test_a_key_given_as_a_references_default_is_refused_too(tmp_path: Path) -> None:
    """`${TOKEN:-sk-…}` writes the key into the file just the same."""
    found = problems(root_file(tmp_path, '"${TOKEN:-sk-live-0123456789}"'), {"TOKEN": "t"})
    assert len(found) == 1 and "a literal key ('sk-…')" in found[0]
