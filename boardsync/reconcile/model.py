"""The values of a run: what planning reads (each `Board` as observed, what the state
`Known`s of each pair) and what it produces (changes, drift, blocked pairs, the plan, the
run's result).

All frozen: the planner builds them without touching anything, the renderers read them,
and `apply` carries them out one by one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, Protocol

from boardsync.connectors.base import BoardProblem, Connector, Remote, Spec, spec_hash_of

Pair = tuple[str, str]
"""(posting key, provider)"""


class Action(StrEnum):
    ADOPT = "adopt"
    """Take over an object that is already on the board (no call; the binding is written)."""
    CREATE = "create"
    REPOST = "repost"
    """Create again a posting whose job expired or was closed on the board."""
    UPDATE = "update"
    PUBLISH = "publish"
    RESUME = "resume"
    PAUSE = "pause"
    CLOSE = "close"
    UNPUBLISH = "unpublish"
    """Take a job back to a draft (a board that allows it: Hirempire)."""
    ENSURE_SOURCE = "ensure_source"
    REFRESH_LINK = "refresh_link"


ACTION_NAMES = frozenset(a.value for a in Action)
TRANSITIONS = frozenset({Action.PUBLISH, Action.RESUME, Action.PAUSE, Action.CLOSE, Action.UNPUBLISH})
CREATES = frozenset({Action.CREATE, Action.REPOST})

Disposition = Literal["correct", "report", "frozen"]
"""What happens to a drift: corrected now (self-heal), only reported, or left because the
board forbids the change (a frozen field)."""


@dataclass(frozen=True)
class FieldDiff:
    field: str
    before: Any
    """What the board has (None for a create)."""
    after: Any
    """What the desired state asks for."""


@dataclass(frozen=True)
class Change:
    """One step on one board for one posting. Changes of a pair run in the plan's order."""

    provider: str
    posting: str
    action: Action
    reason: str
    diffs: tuple[FieldDiff, ...] = ()
    remote_id: str | None = None
    channel: str | None = None
    """The source name, for ensure_source."""
    channels: tuple[str, ...] = ()
    """The sources a create makes, for boards with channels."""
    publish: bool = False
    """For a create or repost: go live in the same call."""
    heals: tuple[str, ...] = ()
    """Drifted fields this change puts back; their drift rows are resolved when it succeeds."""

    @property
    def pair(self) -> Pair:
        return (self.posting, self.provider)

    @property
    def publishes(self) -> bool:
        """Whether the change makes a posting live (what a company-wide gate stops)."""
        if self.action in CREATES:
            return self.publish
        return self.action in (Action.PUBLISH, Action.RESUME)

    @property
    def closes(self) -> bool:
        return self.action is Action.CLOSE


@dataclass(frozen=True)
class DriftItem:
    """A field on which the board differs from the desired state without the source having
    asked for it (an edit on the board, an expiry, a frozen field)."""

    provider: str
    posting: str
    field: str
    desired: Any
    observed: Any
    disposition: Disposition

    @property
    def pair(self) -> Pair:
        return (self.posting, self.provider)


@dataclass(frozen=True)
class IgnoredItem:
    """A field on which the board differs from the posting and an ignore rule leaves it so:
    neither sent nor drift (the team edits it on the board, or the posting changed it after
    the create)."""

    provider: str
    posting: str
    field: str
    """The board's payload field."""
    desired: Any
    observed: Any

    @property
    def pair(self) -> Pair:
        return (self.posting, self.provider)


@dataclass(frozen=True)
class SuspendedItem:
    """A pair whose posting is suspended: read and compared, never written. `held` are the
    changes a run would otherwise make; its drift is in the plan's drift, only reported."""

    provider: str
    posting: str
    held: tuple[Change, ...] = ()

    @property
    def pair(self) -> Pair:
        return (self.posting, self.provider)

    @property
    def board_changes(self) -> tuple[Change, ...]:
        """The held changes that would alter the board (a link refresh only reads)."""
        return tuple(c for c in self.held if c.action is not Action.REFRESH_LINK)


@dataclass(frozen=True)
class BlockedItem:
    """A pair nothing is planned for, and why: a board's gate, what the board would refuse,
    a backoff after failures, or a create whose outcome is still unknown."""

    provider: str
    posting: str
    reason: str
    gate: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    until: datetime | None = None

    @property
    def pair(self) -> Pair:
        return (self.posting, self.provider)


@dataclass(frozen=True)
class RemovedItem:
    """A posting gone from the source (or no longer naming the board) that is live there."""

    provider: str
    posting: str
    remote_id: str | None
    status: str
    closing: bool
    """True when the policy prunes and the grace period is over (a close is planned); else it
    is only reported."""
    absent_since: datetime | None = None
    """When a run first found the posting gone from the source (this run, if none before)."""
    closes_after: datetime | None = None
    """With prune on and the grace not over yet: the earliest time a close may be planned
    (it also waits for a second run that misses the posting)."""
    waiting: str | None = None
    """Why it is not closed yet although prune is on, in words."""
    suspended: bool = False
    """Its posting was suspended when last in the source: never closed by boardsync."""


DEFAULT_HORIZON = timedelta(days=7)
"""How far ahead a plan looks for what is upcoming, unless told (`plan --horizon`)."""

UpcomingKind = Literal["publish", "close", "expire", "renew_link"]
"""publish and close: a posting's publish_at and close_at; expire: a board ends a live job on
its own (Sorce, 30 days after publishing); renew_link: a signed link runs out and is fetched again."""


@dataclass(frozen=True)
class UpcomingItem:
    """Something that happens to a pair at `at` without anyone running a command."""

    kind: UpcomingKind
    provider: str
    posting: str
    at: datetime
    what: str
    """What happens then, in words: what boardsync (or the board) will do."""
    remote_id: str | None = None

    @property
    def pair(self) -> tuple[str, str]:
        return (self.posting, self.provider)


@dataclass(frozen=True)
class Renamed:
    """A posting renamed (``previous_keys``): the old key's bindings and history move to the
    new key at the start of a run; nothing on any board changes for it."""

    old: str
    new: str
    providers: tuple[str, ...]
    """The boards on which the old key is bound (a job, or a create whose outcome is open)."""


@dataclass(frozen=True)
class BoardError:
    """A board that could not be read (or written) this run, or a pair's failed change."""

    provider: str
    message: str
    posting: str | None = None
    action: str | None = None

    def __str__(self) -> str:
        where = self.provider if self.posting is None else f"{self.provider}/{self.posting}"
        what = f" {self.action}" if self.action else ""
        return f"{where}{what}: {self.message}"


@dataclass(frozen=True)
class SnapshotAge:
    """How old the state a plan was made against is, when it came from a snapshot."""

    taken_at: datetime
    """When the snapshot was written."""
    observed_at: datetime | None
    """The oldest of its boards' last reads (None: no board was ever read)."""

    def age(self, now: datetime) -> float:
        """Seconds from the oldest board read (else the snapshot itself) to `now`."""
        return max((now - (self.observed_at or self.taken_at)).total_seconds(), 0.0)


@dataclass(frozen=True)
class Observed:
    """What the board showed for a pair a plan changes, as digests (never the values: a
    field may hold a signed link): a saved plan is stale when a fresh read differs."""

    provider: str
    posting: str
    remote_id: str | None
    """The board's job of the pair; None when the board shows none (a create)."""
    digest: str | None
    """Of the job's status and payload together; None when the board shows no job."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Field (and ``status``) → digest of its value, to name what moved."""

    @property
    def pair(self) -> Pair:
        return (self.posting, self.provider)


@dataclass(frozen=True)
class Scope:
    """The --posting and --provider a plan was narrowed to (None: all)."""

    postings: tuple[str, ...] | None = None
    providers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Plan:
    """What a run would do, and what it found that it will not or cannot do."""

    changes: tuple[Change, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    blocked: tuple[BlockedItem, ...] = ()
    removed: tuple[RemovedItem, ...] = ()
    errors: tuple[BoardError, ...] = ()
    evaluated: frozenset[Pair] = frozenset()
    """Pairs compared with their board this run (their drift is up to date)."""
    generated_at: datetime | None = None
    config_digest: str | None = None
    refused: str | None = None
    """Why the safety check refuses this plan (a real run would apply nothing), if it does."""
    ignored: tuple[IgnoredItem, ...] = ()
    """Differences an ignore rule leaves on the boards."""
    suspended: tuple[SuspendedItem, ...] = ()
    """Every pair of a suspended posting compared this run, with the changes it holds."""
    snapshot: SnapshotAge | None = None
    """When the plan was made against a snapshot instead of the boards: how old it is."""
    observed: tuple[Observed, ...] = ()
    """What the boards showed for each pair with a change, to tell a saved plan is stale."""
    scope: Scope = Scope()
    """What the run was narrowed to: a saved plan is applied in the same scope."""
    posting_digests: Mapping[str, str] = field(default_factory=dict)
    """Posting key → digest of the posting as planned, to name the ones edited since."""
    root_digest: str | None = None
    """Of the root file alone: with `posting_digests`, what a plan narrowed to some postings
    was made from."""
    renamed: tuple[Renamed, ...] = ()
    """Postings renamed since the last run: their state moves (a run does it first), no board
    changes for it; the plan is made as if it had moved."""
    upcoming: tuple[UpcomingItem, ...] = ()
    """What happens within `horizon` with no edit (a publish_at, a close_at, an expiry, a link
    renewal), earliest first. News, not a difference: it never makes a plan not in sync."""
    horizon: timedelta = DEFAULT_HORIZON
    """How far past `generated_at` `upcoming` reaches."""
    compared: Mapping[Pair, str] = field(default_factory=dict)
    """Pairs compared in full this run and found in step, with the digest of what was
    compared, where the state holds another: recorded, a next run with the same digest takes
    the pair as in step without comparing it again (`compared`)."""

    @property
    def board_changes(self) -> tuple[Change, ...]:
        """The changes that would alter something: all but link refreshes, which only read."""
        return tuple(c for c in self.changes if c.action is not Action.REFRESH_LINK)

    @property
    def empty(self) -> bool:
        """Nothing to change: the boards match the desired state (a link refresh aside)."""
        return not self.board_changes

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(c.action.value for c in self.changes)
        return {
            **{a.value: counted.get(a.value, 0) for a in Action},
            "drift": len(self.drift),
            "blocked": len(self.blocked),
            "removed": len(self.removed),
            "errors": len(self.errors),
            "ignored": len(self.ignored),
            "suspended": len(self.suspended),
            "held": sum(len(s.board_changes) for s in self.suspended),
        }


Outcome = Literal["converged", "drifted", "partial", "failed", "refused", "pending"]
"""converged: the boards match the postings: every planned change done, nothing blocked,
every board read, no difference left;
drifted: every change the policy allows was done, yet a difference stays on a board as the
policy leaves it (an ended job not reposted, an edit frozen or only reported, a removed
posting left open);
partial: some pairs failed, were blocked or a board could not be read;
failed: the run could not proceed (no board could be read, or an unexpected error);
refused: the safety check stopped the plan (``--force`` overrides);
pending: a dry run found changes to make."""


@dataclass(frozen=True)
class RunResult:
    run_id: int | None
    kind: str
    """plan | reconcile | metrics"""
    trigger: str
    outcome: Outcome
    counts: Mapping[str, int]
    plan: Plan | None
    errors: tuple[BoardError, ...]
    started_at: datetime
    finished_at: datetime
    boards: Mapping[str, str] = field(default_factory=dict)
    """provider → converged | drifted | partial | failed (| pending, for a dry run), for this run."""
    error: str | None = None
    """Why the run as a whole did not go ahead (the safety check's refusal), if so."""
    blocked: tuple[BlockedItem, ...] = ()
    """Every pair blocked in this run: found so by the plan, or refused by its board while applying."""
    not_in_sync: tuple[str, ...] = ()
    """What keeps the boards from matching the postings after this run, in words; empty when they match."""

    @property
    def converged(self) -> bool:
        return self.outcome == "converged"

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def summary(self) -> str:
        """One line: ``run 12 converged in 1.4s: 3 create, 1 update; 1 drift, 2 blocked``."""
        done = ", ".join(f"{n} {k}" for k, n in self.counts.items() if n and k in ACTION_NAMES)
        if self.counts.get("samples"):  # a metrics run changes nothing; it records counters
            done = ", ".join(filter(None, (done, f"{self.counts['samples']} counters recorded")))
        notes = ", ".join(
            f"{self.counts[k]} {k}" for k in ("pending", "failed", "blocked", "skipped", "drift", "removed")
            if self.counts.get(k)
        )
        if self.counts.get("errors"):  # boards that could not be read: no change counts them
            unread = self.counts["errors"]
            notes = ", ".join(filter(None, (notes, f"{unread} board error{'s' if unread != 1 else ''}")))
        if self.counts.get("given_up"):  # boards left alone part way: not failed changes
            left = self.counts["given_up"]
            notes = ", ".join(filter(None, (notes, f"{left} board{'s' if left != 1 else ''} given up")))
        head = f"{self.kind} run {self.run_id if self.run_id is not None else '-'} {self.outcome} in {self.duration:.1f}s"
        parts = [p for p in (done or "no changes", notes) if p]
        line = f"{head}: {'; '.join(parts)}"
        return f"{line} — not in sync: {'; '.join(self.not_in_sync)}" if self.not_in_sync else line


# ------------------------------------------------------------------------------ what planning reads


class NotRendered(KeyError):
    """Posting `key` has no payload on a board: rendering it found what the board would
    refuse (`problems`), which a read of the board told (a city its search does not know)."""

    def __init__(self, key: str, problems: tuple[BoardProblem, ...]) -> None:
        super().__init__(key)
        self.problems = problems


@dataclass(frozen=True)
class Board:
    """One board as observed this run."""

    name: str
    connector: Connector
    """Only its pure parts are used here: `lifecycle` and the capability constants."""
    specs: Mapping[str, Spec] = field(default_factory=dict)
    """posting key → the rendered desired payload. A run's is `observe.Rendered`: each
    payload rendered when it is asked for, and `NotRendered` for one that cannot be."""
    remotes: Mapping[str, Remote] = field(default_factory=dict)
    """remote id → the object as the board has it."""
    problems: Mapping[str, tuple[BoardProblem, ...]] = field(default_factory=dict)
    """posting key → what the board would refuse (nothing is planned for it)."""
    error: str | None = None
    """Why the board could not be read; nothing is planned for it."""
    gone: frozenset[str] = frozenset()
    """Bound remote ids missing from the list that a read by id answered 404 for: deleted."""
    unread: Mapping[str, str] = field(default_factory=dict)
    """Bound remote id missing from the list → why it was not read by id (a failed read, or
    a list not believed); nothing is planned for its pair."""
    suspect: str | None = None
    """Why the board's list is not believed (too many bound jobs missing from it); the
    safety check refuses the run unless forced."""

    def payload(self, key: str) -> Spec | tuple[BoardProblem, ...]:
        """Posting `key`'s payload on this board, or what the board would refuse of it."""
        refused = self.problems.get(key)
        if refused:
            return refused
        try:
            return self.specs[key]
        except NotRendered as exc:
            return exc.problems

    @cached_property
    def spec_hashes(self) -> Mapping[str, str]:
        """remote id → the digest of the job's spec and status (`spec_hash_of`): taken once a
        run, for planning (`compared`) and for recording what each bound job shows."""
        return {remote_id: spec_hash_of(r.spec_text, r.status) for remote_id, r in self.remotes.items()}

    def with_specs(self, specs: Mapping[str, Spec]) -> Board:
        """The board with other payloads (the same jobs: their digests, if taken, go along)."""
        board = replace(self, specs=specs)
        if "spec_hashes" in self.__dict__:
            board.__dict__["spec_hashes"] = self.__dict__["spec_hashes"]
        return board

    def refused(self, key: str) -> tuple[BoardProblem, ...]:
        """What the board would refuse of posting `key` (empty: nothing), for a board that
        needs no payload of it (a link's)."""
        if key not in self.specs:
            return self.problems.get(key) or ()
        found = self.payload(key)
        return found if isinstance(found, tuple) else ()


@dataclass(frozen=True)
class BoardView:
    """What a board showed in its last read, as a run kept it: enough to plan against it
    later without calling the board (a snapshot). Never a credential or a signed link."""

    observed_at: datetime
    remotes: Mapping[str, Remote] = field(default_factory=dict)
    gone: frozenset[str] = frozenset()
    unread: Mapping[str, str] = field(default_factory=dict)
    suspect: str | None = None
    learned: Mapping[str, Any] = field(default_factory=dict)
    """What the connector learned from the board that rendering needs (`Connector.learned`)."""


@dataclass(frozen=True, slots=True)
class PairState:
    """What the state database remembers of one pair."""

    remote_id: str | None = None
    applied_status: str | None = None
    applied_spec: Mapping[str, Any] | None = None
    attempts: int = 0
    quarantine_until: datetime | None = None
    last_error: str | None = None
    absent_since: datetime | None = None
    """When a run first found the posting gone from the source; None while it is there."""
    absent_reads: int = 0
    """Earlier runs in a row that found it gone (this run not counted)."""
    suspended: bool = False
    """Its posting was suspended when a run last compared it: nothing is written for it, and
    it is not closed when the posting leaves the source."""
    linked: bool = False
    """A signed link was issued for it (a board reached through links): later links are
    fetched when asked for, not by a run."""
    applied_from: AppliedTexts | None = None
    """Where `applied_spec` is read when it is asked for (the state database), when the pair
    was read from there: planning asks only for the pairs whose content differs, and at
    thousands of pairs the payloads are megabytes."""
    key: str = ""
    """The pair's posting, as `applied_from` knows it."""
    compared: str | None = None
    """The digest of what the last full comparison that found the pair in step compared
    (`compared.Compared`); None once anything was applied to it since."""

    def applied(self) -> Mapping[str, Any] | None:
        """The payload last applied: `applied_spec`, or read from `applied_from`."""
        if self.applied_from is not None:
            text = self.applied_from.text(self.key)
            decoded: Mapping[str, Any] | None = json.loads(text) if text is not None else None
            return decoded
        return self.applied_spec


class AppliedTexts(Protocol):
    """The payloads last applied on one board, as JSON text by posting key."""

    def text(self, key: str) -> str | None:
        """What was last applied for `key`'s pair; None when nothing was."""


@dataclass(frozen=True)
class Known:
    bindings: Mapping[Pair, PairState] = field(default_factory=dict)
    links: Mapping[Pair, datetime] = field(default_factory=dict)
    """(posting, provider) → when the stored signed link expires."""
    unsettled: frozenset[Pair] = frozenset()
    """Pairs with a create whose outcome is still unknown."""
    candidates: Mapping[Pair, tuple[str, ...]] = field(default_factory=dict)
    """Unsettled pairs → the remote ids that could each be the lost create."""
