"""What a full comparison of a pair compares, as one digest, so that a steady run need not
compare again a pair nothing of which changed.

Planning a bound job renders the posting for its board and compares the payload with what the
board shows, field by field, with what was last applied where the board does not show a field
back. The outcome depends on nothing else:

- the posting, as written (its digest, `Desired.posting_digests`) and its status as planned
  (a ``publish_at`` or ``close_at`` moves it with the clock);
- the root file: its digest (each reference counted as written), and the policy as resolved
  (a reference's value may change with no edit); what the connector learned from the board
  that rendering reads (`Connector.learned`: Sorce's location ids); and this boardsync's
  version, whose code does the comparing;
- the job as the board shows it: its id, its spec and status (`Board.spec_hashes`), the names
  of its channels;
- what was last applied to the pair, which this digest leaves out: whatever applies a change
  to a pair clears the digest kept for it (`record`), so a digest kept is always one taken
  since the last thing applied.

That rendering reads nothing of the board but what `Connector.learned` gives is the
connector contract's own rule (a plan against a snapshot renders from it alone), so a board of
another package is covered as the three here are.

A pair found fully in step (no change, no drift, nothing blocked or ignored) has this digest
kept on its binding (`Plan.compared`, written by `record`); a later run that computes the same
digest takes the pair as in step without rendering or comparing it. Anything else, a bound job
missing from the list or a posting the board refuses, is planned in full as before. The digest
only spares work: with none kept, or another, the pair is compared as if there were no such
thing. Pure, like the planner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from boardsync import __version__
from boardsync.config.model import Policy, Posting
from boardsync.reconcile.model import Board, Known

FORMAT = 1
"""Of the digest. Each release's version is in the digest, so a digest kept by another release
never matches; within one, raise this with any change to how a pair is compared (the planner's
`_plan_job` and what it calls, a connector's `render`, `shown_back` or `lifecycle`), so that a
state database kept across the change compares every pair again once."""


@dataclass(frozen=True)
class Compared:
    """What a run's digests are taken from, beside each board: the desired state's own."""

    posting_digests: Mapping[str, str]
    """Posting key → the digest of the posting as written (`Desired.posting_digests`)."""
    root_digest: str | None
    """Of the root file alone (`Desired.root_digest`); empty or None: no digest is taken."""

    def on(self, board: Board, policy: Policy) -> OnBoard | None:
        """The digests on `board` under `policy`; None when none can be taken (no root digest)."""
        if not self.root_digest:
            return None
        context = json.dumps(
            [FORMAT, __version__, self.root_digest, policy.model_dump(mode="json"), board.name,
             board.connector.learned()],
            sort_keys=True, default=str, separators=(",", ":"),
        )
        return OnBoard(self.posting_digests, board, hashlib.sha256(context.encode()).hexdigest())


@dataclass(frozen=True)
class OnBoard:
    posting_digests: Mapping[str, str]
    board: Board
    context: str
    """The digest of what every pair on the board shares: the root, what the connector
    learned, the version, the board."""

    def digest(self, posting: Posting, known: Known) -> str | None:
        """The digest of what comparing `posting` with its bound job would compare; None for
        a pair that is not simply a posting and its job as the board lists it (not bound, a
        create not settled, a job missing from the list, a posting the board refuses)."""
        board = self.board
        pair = (posting.key, board.name)
        state = known.bindings.get(pair)
        if state is None or state.remote_id is None or pair in known.unsettled or board.problems.get(posting.key):
            return None
        remote = board.remotes.get(state.remote_id)
        written = self.posting_digests.get(posting.key)
        if remote is None or written is None:
            return None
        text = "\n".join((
            self.context, written, posting.status.value, remote.remote_id, board.spec_hashes[remote.remote_id],
            repr(sorted(remote.channels)) if remote.channels else "[]",  # a list's repr reads back one way
        ))
        return hashlib.sha256(text.encode()).hexdigest()[:32]
