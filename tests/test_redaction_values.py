"""Redaction by value: every secret boardsync holds is masked wherever it appears, in any of
the forms it takes when quoted (JSON-escaped, URL-encoded), in logs, stored errors, plans and
printed output; and a real `boardsync reconcile` against boards that echo the request back
leaves no secret in any of them."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from boardsync import log
from boardsync.log import MASK, SecretValues, masked_output, redact, register_link, register_secret
from boardsync.sandbox import hirempire as hirempire_sim
from boardsync.sandbox import recruitifi as recruitifi_sim
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox, sorce_key
from boardsync.state.store import open_store
from boardsync.state.tables import AuditEntry, Binding, Intent, Run
from tests.reconcile_helpers import Workspace

SECRET = 'p@ss w/rd"é+x-0123456789'
"""A secret with every character that an encoding changes."""


def _forms(value: str) -> list[str]:
    once = json.dumps(value)[1:-1]
    return [
        value,
        once,
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(once)[1:-1],  # a request body quoted inside a message inside a JSON answer
        quote(value, safe=""),
        quote(value, safe="").lower(),
        quote_plus(value, safe=""),
        quote(value),  # "/" left as it is
    ]


# ------------------------------------------------------------------------------ the registry


@pytest.mark.parametrize("form", _forms(SECRET))
def test_a_registered_value_is_masked_in_every_quoted_form(form: str) -> None:
    """Plain, JSON-escaped once or twice, percent-encoded in either case, or in plus form:
    the value is gone from the text and the words around it stay."""
    register_secret(SECRET)
    masked = redact(f"board said: {form}; retry later")
    assert masked == f"board said: {MASK}; retry later"


def test_values_too_short_to_be_secrets_are_not_registered() -> None:
    """A value shorter than the minimum is left alone: masking every "true" would hide the log."""
    values = SecretValues()
    values.add(["1000", "true"])
    assert values.mask("limit 1000 is true") == "limit 1000 is true"


def test_a_value_containing_another_is_masked_whole() -> None:
    """Longest first: a secret that contains another leaves no tail of itself behind."""
    values = SecretValues()
    values.add(["abcdefgh", "abcdefgh-and-more"])
    assert values.mask("x abcdefgh-and-more y abcdefgh z") == f"x {MASK} y {MASK} z"


def test_a_value_with_a_lifetime_is_dropped_once_expired() -> None:
    """A token or link stops being masked after it dies, so the pattern does not grow forever;
    a value registered for good stays."""
    now = [100.0]
    values = SecretValues(clock=lambda: now[0])
    values.add(["forever-secret"])
    values.add(["short-lived-token"], lifetime=60)
    assert values.mask("short-lived-token forever-secret") == f"{MASK} {MASK}"
    now[0] += 61
    values.add(["another-token-1"], lifetime=60)  # the set is pruned when it changes
    assert values.mask("short-lived-token forever-secret") == f"short-lived-token {MASK}"


def test_the_pattern_is_rebuilt_only_when_the_set_changes() -> None:
    """Registering a value already known compiles nothing: the redactor runs on every line.
    (Values with characters a URL escapes are the ones masked by patterns.)"""
    values = SecretValues()
    values.add(["the-first/secret"])
    patterns = values._patterns
    values.add(["the-first/secret"])
    assert values._patterns is patterns
    values.add(["a-second/secret"])
    assert values._patterns is not patterns


def test_plain_values_are_masked_wherever_they_sit_in_a_run_of_plain_characters() -> None:
    """A token made of letters, digits and -._~ is found by lookup, not by a pattern: inside
    a longer word, beside a full stop, twice in a row, and the longer of two that start at
    one place; a word that only looks like one is left alone."""
    values = SecretValues()
    values.add(["tok3n-AAAAbbbbCCCC", "tok3n-AAAAbbbbCCCCdddd", "zzzz.yyyy~xxxx"])
    assert values._patterns == ()  # nothing compiled
    text = ("x tok3n-AAAAbbbbCCCC. in-tok3n-AAAAbbbbCCCCdddd-side tok3n-AAAAbbbbCCCCtok3n-AAAAbbbbCCCC "
            "zzzz.yyyy~xxxx tok3n-AAAAbbbbCCC")
    assert values.mask(text) == f"x {MASK}. in-{MASK}-side {MASK}{MASK} {MASK} tok3n-AAAAbbbbCCC"


def test_a_plain_value_inside_another_value_is_masked_with_it() -> None:
    values = SecretValues()
    values.add(["inner-plain-token"])
    values.add(["p@ss inner-plain-token w0rd"])
    assert values.mask("a p@ss inner-plain-token w0rd b inner-plain-token") == f"a {MASK} b {MASK}"


def test_plain_values_with_a_lifetime_are_dropped_once_expired() -> None:
    now = [100.0]
    values = SecretValues(clock=lambda: now[0])
    values.add(["short-lived-plain-token"], lifetime=60)
    values.add(["forever-plain-token"])
    now[0] += 61
    values.add(["another-plain-token"], lifetime=60)
    assert values.mask("short-lived-plain-token forever-plain-token") == f"short-lived-plain-token {MASK}"


def test_values_added_one_at_a_time_are_each_compiled_a_few_times_and_all_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that fetches a signed link per posting adds its values one call at a time: the
    work of compiling stays near linear in their number (not its square), and every value is
    still masked."""
    compiled: list[int] = []
    real = log._alternation

    def counting(values: Iterable[str]) -> re.Pattern[str] | None:
        values = list(values)
        compiled.append(len(values))
        return real(values)

    monkeypatch.setattr(log, "_alternation", counting)
    values = SecretValues()
    tokens = [f"token/{i:04d}/{'x' * 12}" for i in range(400)]
    for token in tokens:
        values.add([token])
    assert sum(compiled) < 20 * len(tokens)  # one big pattern per add would be about 200 times
    line = " ".join(tokens)
    assert values.mask(line) == " ".join([MASK] * len(tokens))


def test_a_new_value_holding_an_older_one_is_masked_whole() -> None:
    """A value that contains one already held (or sits inside one) is masked whole, not left
    with the older value cut out of its middle."""
    values = SecretValues()
    values.add(["inner-secret-value"])
    values.add(["prefix-inner-secret-value-suffix"])
    assert values.mask("a prefix-inner-secret-value-suffix b") == f"a {MASK} b"
    values.add(["secret-val"])  # inside both
    assert values.mask("x inner-secret-value y") == f"x {MASK} y"


def test_a_signed_link_is_masked_by_its_token_but_not_the_ids_sent_for_it() -> None:
    """A link's token is masked until it expires, so the link shows where it leads and
    nothing that opens it; the job id we asked for is a name, not a credential, and stays
    readable."""
    token = "Zm9vYmFyYmF6cXV4LXNpZ25lZC10b2tlbg"
    url = f"https://app.recruitifi.com/embed/job?token={token}&jobId=job_backend-engineer"
    register_link(url, datetime.now(UTC) + timedelta(minutes=15), sent=["job_backend-engineer"])
    text = f"opened {url}; token {quote(token)} for job_backend-engineer"
    shown = redact(text)
    assert token not in shown
    assert shown.startswith("opened https://app.recruitifi.com/embed/job?token=")
    assert shown.endswith(f"token {MASK} for job_backend-engineer")


def test_a_signed_link_with_no_token_piece_is_masked_whole() -> None:
    url = "https://links.example/e/short"
    register_link(url, datetime.now(UTC) + timedelta(minutes=15))
    assert redact(f"open {url} now") == f"open {MASK} now"


def test_a_thousand_registered_tokens_cost_little_per_log_line() -> None:
    """The redactor stays cheap with many live tokens: one compiled trie, not a loop."""
    import secrets as random
    import time

    values = SecretValues()
    values.add([random.token_urlsafe(32) for _ in range(1000)])
    line = "event=change_applied provider=sorce posting=backend-engineer action=update duration_ms=12 " * 3
    started = time.perf_counter()
    for _ in range(1000):
        values.mask(line)
    assert (time.perf_counter() - started) / 1000 < 0.002  # measured ≈ 0.1 ms on a slow machine


# ------------------------------------------------------------------------------ where it is applied


def test_errors_are_stored_with_secrets_masked(tmp_path: Path) -> None:
    """binding.last_error and blocked_reason, intent.error, action.message and run.error hold
    the masked text whatever code writes them; the raw database has no trace of the secret."""
    register_secret(SECRET)
    leaked = f"refused: {json.dumps(json.dumps({'client_secret': SECRET}))}"
    with open_store(f"sqlite:///{tmp_path / 'state.db'}", migrate=True) as store, store.write() as session:
        session.add(Binding(posting_key="p", provider="recruitifi", last_error=leaked, blocked_reason=leaked,
                            blocked_fields={"body": leaked}))
        session.add(Intent(posting_key="p", provider="sorce", action="create", error=leaked))
        session.add(AuditEntry(provider="sorce", action="create", ok=False, message=leaked))
        session.add(Run(kind="reconcile", trigger="cli", error=leaked))
    dump = _database_text(tmp_path / "state.db")
    assert "client_secret" in dump and MASK in dump
    assert not _leaks(dump, [SECRET])


def test_printed_output_is_masked_by_value(capsys: pytest.CaptureFixture[str]) -> None:
    """What a command prints goes out with registered values masked, on stdout and stderr;
    ordinary words that only look like credentials ("basic package") are left alone."""
    register_secret(SECRET)
    with masked_output():
        print(f"plan: {quote_plus(SECRET)} with a basic package")
        print(f"error: {SECRET}", file=sys.stderr)
    out, err = capsys.readouterr()
    assert out == f"plan: {MASK} with a basic package\n"
    assert err == f"error: {MASK}\n"


# ------------------------------------------------------------------------------ a real run


def _boardsync(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    """`boardsync ARGS` as its own process, as a user runs it."""
    env = {**os.environ, **ws.sandbox.credentials()}
    return subprocess.run(
        [sys.executable, "-m", "boardsync", *args, "-c", str(ws.root / "boardsync.yaml")],
        capture_output=True, text=True, env=env, cwd=ws.root, timeout=120,
    )


def _database_text(path: Path) -> str:
    """Every row of every table, as text."""
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f"SELECT * FROM {table}"))


def _leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets found in `text`, in any quoted form."""
    return [s for s in secrets for form in _forms(s) if form in text]


@pytest.mark.slow
def test_boards_echoing_the_request_leave_no_secret_in_logs_rows_plans_or_output(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RecruitiFi's token call and link call, and Sorce's create, answer with the request
    quoted back (the client secret, the access token, the key, JSON-escaped inside the error
    message); after a real `reconcile`, `links`, a `plan` in text and JSON and a `status`, no
    secret is in anything printed, logged or stored."""
    ws = Workspace(tmp_path, sandbox, monkeypatch).copy_examples()
    ws.write_config()
    echo = sandbox.recruitifi.faults.add(Fault("echo", method="POST", path="/v1/auth/token", status=400, times=None))
    sandbox.sorce.faults.add(Fault("echo", method="POST", path=r".*/jobs", status=422, times=1))
    first = _boardsync(ws, "reconcile")
    sandbox.recruitifi.faults.clear()
    links = sandbox.recruitifi.faults.add(Fault("echo", method="GET", path="/v1/links/job", status=422, times=None))
    second = _boardsync(ws, "links")
    runs = [first, second, _boardsync(ws, "plan"), _boardsync(ws, "plan", "--json"), _boardsync(ws, "status")]

    assert echo.hits >= 1 and links.hits >= 1 and len(sandbox.recruitifi.tokens) >= 1
    printed = "\n".join(run.stdout + run.stderr for run in runs)
    assert "recruitifi" in first.stdout + first.stderr and MASK in printed  # the echoes were shown
    secrets = [
        recruitifi_sim.SANDBOX_CLIENT_SECRET, sorce_key(), hirempire_sim.SANDBOX_TOKEN,
        *sandbox.recruitifi.tokens,  # the access tokens of the second run, echoed as a header
    ]
    assert _leaks(printed, secrets) == []
    assert _leaks(_database_text(tmp_path / "state.db"), secrets) == []


@pytest.fixture(autouse=True)
def _forget_registered_values() -> None:
    """Values registered by one test are not masked in the next."""
    log.secrets.clear()


def test_redact_masks_in_every_kind_of_value_and_keeps_each_kind() -> None:
    """Strings are masked wherever they sit: in a dict or any mapping, a list, a tuple or a
    subclass of either, a str subclass; a secret-named key's value goes whole; numbers, flags
    and None are kept as they are."""
    register_secret("k9-redact-kinds-7731")

    class Words(list[str]):
        pass

    class Name(str):
        pass

    value = {
        "nested": ("a k9-redact-kinds-7731 b", 1, 2.5, True, None),
        "listed": Words(["k9-redact-kinds-7731"]),
        "named": Name("Bearer abc.def"),
        "api_key": "kept-out-whole",
        "plain": ["title", 3],
    }
    masked = redact(value)
    assert masked["nested"] == (f"a {MASK} b", 1, 2.5, True, None)
    assert type(masked["listed"]) is Words and masked["listed"] == [MASK]
    assert masked["named"] == f"Bearer {MASK}"
    assert masked["api_key"] == MASK
    assert masked["plain"] == ["title", 3]
