"""Which job on a board is a posting's, when no binding says so.

A board that names its postings (``NAMES_ITS_POSTINGS``: Hirempire's slug) says it itself
(`Remote.posting_key`). After a lost create, a job there that names no posting is the create's
too when it carries the handle the create sent (`Connector.handle`: a slug the posting gave
itself instead of ``bs-KEY``). On a board that keeps no reference of ours (Sorce), a job is
taken for a posting's when its connector's `identity` is the posting's: the same title, case
and spacing folded, and the same place. Content is left out on purpose: an edit of the
description must not make boardsync post the job a second time.

Only free jobs count: none that a binding points at, none closed or expired. The planner asks
before any create (a lost or fresh state database), the journal after a lost create answer.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable

from boardsync.connectors.base import Connector, Remote, Spec

ENDED = frozenset({"closed", "expired"})


class FreeJobs:
    """The jobs of one board a posting may still take over, each given to one posting at most."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self._named: dict[str, Remote] = {}
        self._alike: dict[Hashable, list[Remote]] = {}
        self._unnamed: dict[str, Remote] = {}
        """On a board that names its postings, the free jobs that name none, by remote id."""
        self._handles: dict[str, dict[str, Remote]] | None = None
        """Handle → the free jobs that carry it, by remote id: made at the first `sent`, so a
        run of many creates reads each job's spec once, not once per create."""

    @classmethod
    def on(cls, connector: Connector, remotes: Iterable[Remote], taken: Collection[str]) -> FreeJobs:
        """The free jobs among `remotes`: not in `taken` (remote ids bound to a posting)."""
        free = cls(connector)
        for remote in remotes:
            if remote.remote_id in taken:
                continue
            if remote.posting_key is not None:
                free._named.setdefault(remote.posting_key, remote)
            elif connector.NAMES_ITS_POSTINGS:
                free._unnamed[remote.remote_id] = remote
            elif remote.status not in ENDED:
                free._alike.setdefault(connector.identity(remote.spec), []).append(remote)
        return free

    def named(self, key: str) -> Remote | None:
        """The job the board itself says is posting `key` (a slug), whatever its status."""
        return self._named.get(key)

    def sent(self, spec: Spec) -> tuple[Remote, ...]:
        """The free jobs that carry the handle `spec` gives (the slug a create sent), whatever
        their status and whichever posting the handle seems to name (a slug a posting gave
        itself may start with ``bs-`` too); none when `spec` gives no handle."""
        handle = self.connector.handle(spec)
        if handle is None:
            return ()
        if self._handles is None:
            self._handles = {}
            for remote in (*self._named.values(), *self._unnamed.values()):
                carried = self.connector.handle(remote.spec)
                if carried is not None:
                    self._handles.setdefault(carried, {})[remote.remote_id] = remote
        return tuple(self._handles.get(handle, {}).values())

    def alike(self, spec: Spec) -> tuple[Remote, ...]:
        """The free live jobs that are this posting by identity; none on a board that names
        its postings (there a job is ours only by the handle of ours it carries)."""
        if self.connector.NAMES_ITS_POSTINGS:
            return ()
        return tuple(self._alike.get(self.connector.identity(spec), ()))

    def candidates(self, key: str, spec: Spec) -> tuple[Remote, ...]:
        """What may already be posting `key` on the board, `spec` being the payload its create
        sent: the job that names it and the jobs with the handle sent, else the alike. The
        first two are both returned when they differ: either could be the posting's."""
        named = self.named(key)
        found = {r.remote_id: r for r in (*((named,) if named is not None else ()), *self.sent(spec))}
        return tuple(found.values()) or self.alike(spec)

    def claim(self, remote: Remote) -> None:
        """Give `remote` to a posting: no other posting can take it after this."""
        if remote.posting_key is not None:
            self._named.pop(remote.posting_key, None)
        self._unnamed.pop(remote.remote_id, None)
        if self._handles is not None and (carried := self.connector.handle(remote.spec)) is not None:
            self._handles.get(carried, {}).pop(remote.remote_id, None)
        if remote.posting_key is None and not self.connector.NAMES_ITS_POSTINGS:
            identity = self.connector.identity(remote.spec)
            group = self._alike.get(identity, [])
            self._alike[identity] = [r for r in group if r.remote_id != remote.remote_id]
