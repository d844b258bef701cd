"""Notifications through Apprise, against the sandbox boards and a JSON webhook on loopback:
each event told once, delivered after a failure, batched by a target's interval, never with a
secret or a signed link in it; `notify test` and `notify list`; the root file's `notify:` checked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlmodel import select

from boardsync.reconcile import outbox as courier
from boardsync.reconcile.outbox import Courier, targets
from boardsync.sandbox.server import Sandbox
from boardsync.state import open_store
from boardsync.state.tables import OutboxDelivery, OutboxEvent, SignedLink
from tests.notify_helpers import HOOK_TOKEN, Receiver, add_notify, receiver
from tests.reconcile_helpers import SORCE_COMPANY, Workspace

pytestmark = pytest.mark.slow

ALL_EVENTS = ["drift", "blocked", "board_down", "refused", "expiring", "link_failing", "config_refused"]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture
def told(synced: Workspace, hook: Receiver, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The examples synced, then a root file whose one target (the receiver) hears of every
    event, reported drift left as it is (self_heal off)."""
    monkeypatch.setenv("NOTIFY_URL", hook.url())
    synced.write_config(self_heal=False)
    add_notify(synced.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ALL_EVENTS}])
    return synced


def _edit_title_by_hand(ws: Workspace, key: str = "product-designer") -> None:
    ws.sandbox.sorce.edit_job(ws.remote_id(key, "sorce"), title="Edited by hand")


def _courier(ws: Workspace, clock: list[datetime]) -> Courier:
    return Courier(ws.store(), targets(ws.desired()), clock=lambda: clock[0])


# ------------------------------------------------------------------------------ once per event


def test_a_drift_is_told_in_exactly_one_message(told: Workspace, hook: Receiver) -> None:
    """A hand edit found by a one-shot reconcile is told before the command exits, in one
    message that names the posting, the board, the field and the command that shows more."""
    _edit_title_by_hand(told)
    assert told.run("reconcile").code == 2
    (message,) = hook.messages
    assert message["title"] == "boardsync: drift on sorce for product-designer"
    assert "'title'" in message["message"] and "boardsync drift --open" in message["message"]
    assert message["path"] == f"/hook/{HOOK_TOKEN}"


def test_the_same_drift_over_five_cycles_is_told_once(told: Workspace, hook: Receiver) -> None:
    """A drift that stays open is one row, so one event: five more runs send nothing more."""
    _edit_title_by_hand(told)
    for _ in range(6):
        assert told.run("reconcile").code == 2
    assert hook.titles() == ["boardsync: drift on sorce for product-designer"]
    assert hook.attempts == 1


def test_a_block_is_told_once_per_reason_with_the_fields_to_fix(ws: Workspace, hook: Receiver,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Sorce's terms gate blocks the live postings: an event per blocked pair with the board's
    message (sent together, in one message, as they came together), and none again while the
    reason stays the same."""
    monkeypatch.setenv("NOTIFY_URL", hook.url())
    add_notify(ws.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["blocked"]}])
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, terms_accepted=False)
    assert ws.run("reconcile").code == 2
    (message,) = hook.messages
    blocked = re.findall(r"^boardsync: ([a-z0-9-]+) blocked on sorce$", message["message"], re.M)
    assert message["title"] == f"boardsync: {len(blocked)} events"
    assert sorted(blocked) == ["backend-engineer", "intern-software-2025", "product-designer", "support-specialist",
                               "warehouse-associate"]
    assert message["message"].count("until someone acts (terms): ") == len(blocked)
    assert "Employer Terms" in message["message"]
    assert ws.run("reconcile").code == 2
    assert len(hook.messages) == 1


def test_a_refused_plan_is_told(told: Workspace, hook: Receiver) -> None:
    """The safety check refusing a run's plan is told with its reason and the command to run."""
    told.write_config(prune=True, prune_after="0s")
    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["refused"]}])
    for key in ("warehouse-associate", "product-designer", "intern-software-2025"):
        told.remove_posting(key)
    assert told.run("reconcile").code == 2
    assert hook.messages == []
    assert told.run("reconcile").code == 1
    (message,) = hook.messages
    assert message["title"] == "boardsync: a plan was refused"
    assert "closes 3 of 5 live postings" in message["message"] and "boardsync plan" in message["message"]


# ------------------------------------------------------------------------------ delivery


def test_a_target_answering_500_is_retried_then_delivered(told: Workspace, hook: Receiver) -> None:
    """The target fails: the run's event is kept (notify list: failed), not tried again before
    its backoff, then delivered once; a later pass sends nothing more."""
    hook.answers = [500]
    _edit_title_by_hand(told)
    ran = told.run("reconcile")
    assert ran.code == 2 and "did not take its message" in ran.err
    assert (hook.attempts, hook.messages) == (1, [])
    (row,) = json.loads(told.run("notify", "list", "--json").out)
    assert (row["state"], row["event"], row["attempts"]) == ("failed", "drift", 1)
    clock = [datetime.now(UTC)]
    post = _courier(told, clock)
    post.deliver()
    assert hook.attempts == 1  # still backing off
    clock[0] += courier.retry_after(1)
    assert post.deliver().delivered == 1
    assert hook.titles() == ["boardsync: drift on sorce for product-designer"]
    clock[0] += timedelta(hours=2)
    post.deliver()
    assert hook.attempts == 2
    assert json.loads(told.run("notify", "list", "--json").out) == []


def test_backoff_doubles_and_stops_growing_at_an_hour() -> None:
    """Retries come 30s, 1m, 2m … apart, never more than an hour."""
    assert [courier.retry_after(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert courier.retry_after(40) == timedelta(hours=1)


def test_min_interval_batches_the_rest_into_the_next_message(told: Workspace, hook: Receiver) -> None:
    """With min_interval 1h, a second event within the hour waits and goes out after it, with
    any other, in one message: none is lost, one message per interval."""
    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["drift"], "min_interval": "1h"}])
    _edit_title_by_hand(told)
    assert told.run("reconcile").code == 2
    assert len(hook.messages) == 1
    _edit_title_by_hand(told, "backend-engineer")
    told.sandbox.hirempire.edit_job(told.remote_id("backend-engineer", "hirempire"), job_title="Edited by hand")
    assert told.run("reconcile").code == 2
    assert len(hook.messages) == 1  # held by the interval
    (row, other) = json.loads(told.run("notify", "list", "--json").out)
    assert row["state"] == other["state"] == "pending"
    clock = [datetime.now(UTC) + timedelta(minutes=59)]
    post = _courier(told, clock)
    assert post.deliver().held == 2
    clock[0] += timedelta(minutes=2)
    assert post.deliver().messages == 1
    batched = hook.messages[-1]
    assert batched["title"] == "boardsync: 2 events"
    assert "drift on sorce for backend-engineer" in batched["message"]
    assert "drift on hirempire for backend-engineer" in batched["message"]


def test_an_event_no_target_asks_for_is_settled_without_a_message(told: Workspace, hook: Receiver) -> None:
    """Events are written whatever the targets ask for; one nobody asks for is settled, not sent."""
    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["refused"]}])
    _edit_title_by_hand(told)
    assert told.run("reconcile").code == 2
    assert hook.attempts == 0
    with told.store() as store, store.session() as session:
        (event,) = session.exec(select(OutboxEvent)).all()
        assert event.event == "drift" and event.settled_at is not None
        assert session.exec(select(OutboxDelivery)).all() == []


def test_a_board_down_is_told_after_the_targets_after_and_again_when_it_reads(
    told: Workspace, hook: Receiver,
) -> None:
    """A board that answers 503 to every read is told once it was down for `after` (not
    before), once only, and again when a run reads it."""
    from boardsync.reconcile import reconcile
    from boardsync.sandbox.core import Fault

    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["board_down"], "after": "30m"}])
    fault = told.sandbox.hirempire.faults.add(Fault("status", method="GET", status=503, times=None))
    start = datetime.now(UTC)
    with told.opened() as (desired, store, connectors):
        post = Courier(store, targets(desired))
        for minutes in (0, 15, 29, 31, 45):
            reconcile(desired, store, connectors, clock=lambda m=minutes: start + timedelta(minutes=m))
            post.deliver(now_or_never=True)
            assert len(hook.messages) == (1 if minutes >= 30 else 0), minutes
        assert hook.titles() == ["boardsync: hirempire cannot be read"]
        assert "since" in hook.messages[0]["message"] and "503" in hook.messages[0]["message"]
        told.sandbox.hirempire.faults.clear()
        reconcile(desired, store, connectors, clock=lambda: start + timedelta(minutes=60))
        post.deliver(now_or_never=True)
    assert fault.hits > 0
    assert hook.titles()[1:] == ["boardsync: hirempire can be read again"]
    assert "after 1h00m" in hook.messages[1]["message"]


# ------------------------------------------------------------------------------ no secret


def test_no_message_holds_a_secret_or_a_signed_link(ws: Workspace, hook: Receiver,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that create, block, link and drift; every message searched for every board
    credential, the target's own URL and token, and every signed link and its tokens: none."""
    monkeypatch.setenv("NOTIFY_URL", hook.url())
    ws.write_config(self_heal=False)
    add_notify(ws.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ALL_EVENTS}])
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, payment_method=False)
    ws.run("reconcile")
    ws.sandbox.sorce.set_gates(SORCE_COMPANY, payment_method=True)
    ws.run("reconcile")
    ws.sandbox.hirempire.edit_job(ws.remote_id("backend-engineer", "hirempire"), job_title="Edited by hand")
    ws.run("reconcile")
    with ws.store() as store, store.session() as session:
        links = [row.url for row in session.exec(select(SignedLink)).all()]
    assert links, "the run should have issued signed links"
    assert len(hook.messages) >= 2, hook.titles()
    secrets = [*ws.sandbox.credentials().values(), HOOK_TOKEN, hook.url(), *links]
    secrets += [value for link in links for _, value in parse_qsl(urlsplit(link).query) if len(value) >= 8]
    secrets += [urlsplit(link).path for link in links]
    words = json.dumps([(m["title"], m["message"]) for m in hook.messages])
    assert "blocked on sorce" in words and "drift on hirempire" in words, words
    assert [s for s in secrets if s and s in words] == []


# ------------------------------------------------------------------------------ commands


def test_notify_test_sends_to_every_target_and_fails_when_one_does_not_take_it(
    ws: Workspace, hook: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`notify test` sends one test message to each target (exit 0); a target answering 500
    makes it exit 1 naming that target by its reference, never its URL."""
    monkeypatch.setenv("NOTIFY_URL", hook.url("one"))
    monkeypatch.setenv("OTHER_URL", hook.url("two"))
    add_notify(ws.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["drift"]},
                                            {"url": "${OTHER_URL}", "events": ["blocked"]}])
    ran = ws.run("notify", "test")
    assert ran.code == 0, ran.err
    assert sorted(m["path"] for m in hook.messages) == [f"/one/{HOOK_TOKEN}", f"/two/{HOOK_TOKEN}"]
    assert {m["title"] for m in hook.messages} == {"boardsync: test message"}
    hook.answers = [500]
    ran = ws.run("notify", "test")
    assert ran.code == 1
    assert "#1 ${NOTIFY_URL}: failed" in ran.out and "#2 ${OTHER_URL}: sent" in ran.out
    assert HOOK_TOKEN not in ran.out + ran.err


def test_notify_list_shows_pending_and_failed_deliveries_without_board_secrets(
    told: Workspace, hook: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`notify list` reads only the state: the delivery that failed and its error, as a table
    and as JSON; it needs no board secret and shows nothing once every target took everything."""
    hook.always = 500
    _edit_title_by_hand(told)
    told.run("reconcile")
    credentials = told.sandbox.credentials()
    for name in credentials:
        monkeypatch.delenv(name)
    table = told.run("notify", "list")
    assert table.code == 0, table.err
    assert "${NOTIFY_URL}" in table.out and "drift" in table.out and "failed" in table.out
    (row,) = json.loads(told.run("notify", "list", "--json").out)
    assert row["target"] == "#1 ${NOTIFY_URL}" and row["posting"] == "product-designer"
    assert row["provider"] == "sorce" and row["last_error"] and row["next_attempt_at"]
    hook.always = None
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    assert told.run("reconcile").code == 2
    assert "Nothing owed" in told.run("notify", "list").out


# ------------------------------------------------------------------------------ the root file


@pytest.mark.parametrize(("target", "expected"), [
    ({"url": "${NOTIFY_URL}", "events": ["drift", "drifted"]}, r"notify\[1\]\.events\[1\]: .*use one of: drift, blocked"),
    ({"url": "${NOTIFY_URL}", "events": []}, r"notify\[1\]\.events: "),
    ({"url": "${NOTIFY_URL}", "events": ["drift", "drift"]}, r"notify\[1\]\.events: drift named more than once"),
    ({"url": "nosuchservice://example", "events": ["drift"]},
     r"notify\[1\]\.url: 'nosuchservice://…': not a URL Apprise can send to"),
    ({"url": "${NOTIFY_URL}", "events": ["drift"], "min_interval": "soon"}, r"notify\[1\]\.min_interval: "),
    ({"url": "${NOTIFY_URL}", "events": ["drift"], "colour": "red"}, r"notify\[1\]\.colour: unknown key"),
])
def test_a_wrong_target_is_refused_naming_the_file_and_line(
    ws: Workspace, hook: Receiver, monkeypatch: pytest.MonkeyPatch, target: dict[str, object], expected: str,
) -> None:
    """A wrong `notify:` entry fails `validate` with the root file, its line and the field."""
    monkeypatch.setenv("NOTIFY_URL", hook.url())
    add_notify(ws.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["drift"]}, target])
    ran = ws.run("validate")
    assert ran.code == 1
    line = next((l for l in ran.err.splitlines() + ran.out.splitlines() if re.search(expected, l)), None)
    assert line is not None, ran.out + ran.err
    assert re.search(r"boardsync\.yaml:\d+:\d+", line), line


def test_a_literal_target_url_is_warned_about(ws: Workspace, hook: Receiver) -> None:
    """A URL written into the root file (it holds the target's secret) is a warning that says
    to reference it; the URL itself is never printed."""
    add_notify(ws.root / "boardsync.yaml", [{"url": hook.url(), "events": ["drift"]}])
    ran = ws.run("validate")
    assert ran.code == 0, ran.err
    assert "notify[0].url: written literally" in ran.out + ran.err
    assert HOOK_TOKEN not in ran.out + ran.err


def test_a_link_that_cannot_be_renewed_is_told_once_per_failing_streak(told: Workspace, hook: Receiver) -> None:
    """RecruitiFi failing to issue links: each linked posting is told once however often it is
    retried; once a link is renewed, a new failure is told again."""
    from boardsync.sandbox.core import Fault

    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["link_failing"]}])
    fault = Fault("status", method="GET", path=r"/v1/links/.*", status=500, times=None)
    told.sandbox.recruitifi.faults.add(fault)
    clock = [datetime.now(UTC)]
    told.age_links(timedelta(minutes=1))  # the stored links near their end: `links` fetches new ones
    for _ in range(3):
        assert told.run("links").code != 0
    _courier(told, clock).deliver()
    (message,) = hook.messages
    failing = re.findall(r"^boardsync: the link of ([a-z0-9-]+) on recruitifi cannot be renewed$",
                         message["message"] if message["title"].endswith("events") else message["title"], re.M)
    assert failing and "boardsync links" in message["message"]
    told.sandbox.recruitifi.faults.clear()
    assert told.run("links").code == 0
    told.sandbox.recruitifi.faults.add(fault)
    told.age_links(timedelta(minutes=1))
    told.run("links")
    clock[0] += timedelta(minutes=1)
    _courier(told, clock).deliver()
    assert len(hook.messages) == 2 and fault.hits > 0


def test_a_board_message_that_quotes_a_secret_or_a_link_is_masked_in_the_event() -> None:
    """An event built from a board's words carries neither a registered secret nor a signed link."""
    from boardsync.log import register_link, register_secret
    from boardsync.reconcile import events

    key, link = "sk_ext_notifytest0123456789", "https://example.invalid/embed/x?token=tok_notify0123456789"
    register_secret(key)
    register_link(link, datetime.now(UTC) + timedelta(hours=1))
    said = f"key {key} cannot renew {link}"
    for event in (events.blocked("a", "sorce", said, "terms", {"title": said}), events.link_failing("a", "recruitifi", said),
                  events.board_down("sorce", datetime.now(UTC), said), events.refused(said, 1),
                  events.config_refused("the config", [said])):
        text = event.title + event.body
        assert key not in text and link not in text and "tok_notify0123456789" not in text, text


def test_a_job_expiring_within_days_is_told_once_unless_it_will_be_reposted(
    told: Workspace, hook: Receiver,
) -> None:
    """Sorce jobs expire 30 days after publishing: with `days: 3`, nothing is told at day 26,
    each live job once at day 27 (with its date and posting), nothing more at day 28; with
    repost_expired on, nothing at all."""
    from boardsync.reconcile import reconcile

    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["expiring"], "days": 3}])
    live = {j["id"] for j in told.sorce_jobs() if j["status"] in ("ACTIVE", "PAUSED")}
    start = datetime.now(UTC)
    with told.opened() as (desired, store, connectors):
        post = Courier(store, targets(desired))
        for day in (26, 27, 28):
            reconcile(desired, store, connectors, clock=lambda d=day: start + timedelta(days=d))
            post.deliver(now_or_never=True)
            assert len(hook.messages) == (0 if day < 27 else 1), day
    (message,) = hook.messages
    told_of = re.findall(r"^boardsync: ([a-z0-9-]+) expires on sorce on \d{4}-\d{2}-\d{2}$", message["message"]
                         if len(live) > 1 else message["title"], re.M)
    assert len(told_of) == len(live) == len(set(told_of)) and "will not be reposted" in message["message"]

    told.write_config(self_heal=False, repost_expired=True)
    add_notify(told.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["expiring"], "days": 3}])
    with told.store() as store, store.write() as session:
        for row in session.exec(select(OutboxEvent)).all():
            session.delete(row)
    with told.opened() as (desired, store, connectors):
        reconcile(desired, store, connectors, clock=lambda: start + timedelta(days=27))
        Courier(store, targets(desired)).deliver(now_or_never=True)
    assert len(hook.messages) == 1


def test_a_refused_commit_of_the_followed_branch_is_told_once(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, hook: Receiver,
) -> None:
    """A commit that fails validation is recorded as refused with its config_refused event, in
    the same run row's transaction; the message names the commit, the file and the command;
    fetching the same tip again tells nothing more."""
    from boardsync.state.outbox import events as written
    from tests.git_helpers import Remote as GitRemote
    from tests.test_git_source import Host, _break_salary

    remote = GitRemote(tmp_path / "git")
    host = Host(tmp_path / "host", sandbox, monkeypatch, remote)
    host.write_source()
    monkeypatch.setenv("NOTIFY_URL", hook.url())
    add_notify(host.root / "boardsync.yaml", [{"url": "${NOTIFY_URL}", "events": ["config_refused"]}])
    follower = host.follower()
    follower.prepare()
    with open_store(host.desired().state_url) as store:
        follower.record_to(store)
        bad = remote.commit("backend-engineer: a broken salary", _break_salary)
        assert follower.fetch("webhook") == "refused"
        assert follower.fetch("schedule") == "unchanged"
        (run,) = [r for r in store.last_runs(kind="source") if r.outcome == "refused"]
        ((_, event),) = written(store, run_id=run.id)
        Courier(store, targets(host.desired())).deliver()
    assert event.kind == "config_refused"
    (message,) = hook.messages
    assert message["title"] == f"boardsync: commit {bad[:12]} of branch main was refused"
    assert "postings/backend-engineer.yaml" in message["message"] and "boardsync validate" in message["message"]
