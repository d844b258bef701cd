"""No token, key or signed URL reaches a log line or an error message: `redact` on its own,
then all log output of a run through the three sandbox boards, searched for every secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from boardsync import log as boardsync_log
from boardsync.errors import BoardsyncError
from boardsync.log import MASK, configure, redact
from boardsync.sandbox import hirempire as hirempire_sim
from boardsync.sandbox import recruitifi as recruitifi_sim
from boardsync.sandbox.core import Fault
from boardsync.sandbox.server import Sandbox
from tests import connector_helpers as helpers

# ------------------------------------------------------------------------------ redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer sk_ext_live_abc123", "sk_ext_live_abc123"),
        ("token sk-hm-5f2c9e and more", "sk-hm-5f2c9e"),
        ("https://app.recruitifi.com/embed/job?token=Zm9vYmFy&x=1", "Zm9vYmFy"),
        ('{"access_token": "eyJhbGciOi.abc", "expires_in": 3600}', "eyJhbGciOi.abc"),
        ("client_secret=hunter2hunter2", "hunter2hunter2"),
        ("X-Auth-Token: 3q2-7wZk_Q", "3q2-7wZk_Q"),
    ],
)
def test_redact_masks_secrets_in_text(text: str, secret: str) -> None:
    """Keys, bearer tokens, signed-link tokens and credential fields are masked in free text."""
    masked = redact(text)
    assert secret not in masked and MASK in masked


def test_redact_masks_secret_keys_in_mappings_and_keeps_the_rest() -> None:
    """A mapping's secret keys lose their values, nested too; other values stay readable."""
    masked = redact({"event": "x", "headers": {"Authorization": "anything"}, "api_key": "k", "n": [1, "ok"]})
    assert masked == {"event": "x", "headers": {"Authorization": MASK}, "api_key": MASK, "n": [1, "ok"]}


def test_redact_leaves_ordinary_text_alone() -> None:
    """Words like 'token_renewed', a job path, or a call on the token endpoint followed by its
    status and message are not secrets."""
    text = "token_renewed call='GET /jobs/job_1' skill=sk"
    assert redact(text) == text
    error = "recruitifi POST /v1/auth/token: no usable answer (ReadTimeout: timed out)"
    assert redact(error) == error


# ------------------------------------------------------------------------------ a whole run


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo `configure` after the test, so other tests log as before."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler.get_name() == boardsync_log._HANDLER_NAME:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def _run_everything(sandbox: Sandbox, errors: list[str]) -> list[str]:
    """Use all three boards, fail on each, and log every outcome; returns the link URLs."""
    logger = structlog.get_logger("test")
    sorce, hirempire, recruitifi = helpers.sorce(sandbox), helpers.hirempire(sandbox), helpers.recruitifi(sandbox)
    p = helpers.posting()
    sorce.prepare([p])
    sandbox.sorce.faults.add(Fault("status", method="GET", path="/api/external/v1/jobs", status=503))
    sorce.create(p, sorce.render(p), publish=True)
    sorce.observe()
    hirempire.create(p, hirempire.render(p), publish=True)
    hirempire.observe()
    links = [recruitifi.link(p).url, recruitifi.settings_link().url]
    sandbox.recruitifi.expire_tokens()
    links.append(recruitifi.tasks_link().url)
    logger.info("links_ready", links=links, url=links[0])  # even a careless log line is masked
    failing = [
        helpers.sorce(sandbox, key="sk_ext_sandbox_unknown").observe,
        helpers.hirempire(sandbox, token="sk-wrong-token").observe,
        helpers.recruitifi(sandbox, secret="wrong-secret").settings_link,
    ]
    for call in failing:
        try:
            call()
        except BoardsyncError as exc:
            errors.append(str(exc))
            logger.exception("call_failed")
    return links


@pytest.mark.usefixtures("restore_logging")
def test_no_secret_reaches_any_log_line_or_error(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """A run's whole log (debug level, exceptions included) and every error message are free
    of keys, tokens, partner secrets, access tokens and signed links."""
    configure(json=True, level="debug")
    errors: list[str] = []
    links = _run_everything(sandbox, errors)
    text = capsys.readouterr().out + "\n".join(errors)
    secrets = [
        helpers.sorce_key(), "sk_ext_sandbox_unknown",
        hirempire_sim.SANDBOX_TOKEN, "sk-wrong-token",
        recruitifi_sim.SANDBOX_CLIENT_SECRET, "wrong-secret",
        *sandbox.recruitifi.tokens,  # every access token the board handed out
        *(link.split("token=")[1] for link in links),
    ]
    assert len(errors) == 3 and len(sandbox.recruitifi.tokens) == 2
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {"http_response", "http_retry", "token_renewed", "links_ready", "call_failed"} <= {
        line["event"] for line in lines
    }
    leaked = [s for s in secrets if s in text]
    assert leaked == []


def test_logs_can_go_to_stderr_so_stdout_stays_the_commands_output(capsys: pytest.CaptureFixture[str]) -> None:
    """configure(stream=sys.stderr) writes log lines there and nothing to stdout."""
    import sys

    import structlog

    from boardsync import log

    log.configure(json=True, level="info", stream=sys.stderr)
    structlog.get_logger("t").info("went_to_stderr", detail=1)
    log.configure(json=True, level="warning", stream=sys.__stderr__)  # not the captured stream
    out, err = capsys.readouterr()
    assert out == ""
    assert '"event": "went_to_stderr"' in err


def test_a_secret_reference_in_a_config_problem_is_not_masked() -> None:
    """`api_key: ${SORCE_API_KEY}` names where a secret comes from, so a config error keeps it;
    the value itself is still masked."""
    from boardsync.log import MASK, redact

    problem = "providers.sorce.api_key: ${SORCE_API_KEY}: the environment variable is empty"
    assert redact(problem) == problem
    assert redact("api_key: hunter2-literal") == f"api_key: {MASK}"
