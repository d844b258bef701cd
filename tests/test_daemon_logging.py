"""The daemon's log lines: JSON for machines, a priority prefix only for journald."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = (
    "import logging, structlog; from boardsync import log; log.configure(); "
    "structlog.get_logger('t').warning('board_slow', url='https://x.example/embed?token=abc123'); "
    "structlog.get_logger('t').info('run_finished', summary='ok'); "
    "logging.getLogger('httpx').info('HTTP Request: GET https://x.example')"
)


def _run(tmp_path: Path, journal: bool) -> list[str]:
    out = tmp_path / "out.log"
    with out.open("w") as stdout:
        st = os.fstat(stdout.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=stdout, env=env, check=True, timeout=30)
    return out.read_text().splitlines()


def test_journal_gets_priority_prefixed_json_lines(tmp_path: Path) -> None:
    """With stdout connected to the journal, each JSON line starts with its syslog priority."""
    lines = _run(tmp_path, journal=True)
    assert [line[:3] for line in lines] == ["<4>", "<6>"]
    assert json.loads(lines[0][3:])["event"] == "board_slow"


def test_a_pipe_gets_plain_json_with_secrets_redacted_and_httpx_quiet(tmp_path: Path) -> None:
    """Not a terminal and not the journal: plain JSON lines, a signed URL's token masked,
    httpx's request lines left out."""
    lines = _run(tmp_path, journal=False)
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["board_slow", "run_finished"]
    assert "abc123" not in lines[0] and "[redacted]" in events[0]["url"]
