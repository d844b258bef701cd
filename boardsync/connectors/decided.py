"""Every [decided] provider behaviour the connectors depend on, in one place.

The provider pages mark each fact [doc] (the board's public documentation says so) or
[decided] (the documentation is silent; the sandbox does this and the connectors assume it).
When a real board turns out to behave differently, start here. A behaviour that has a value
is a constant below, used by the code named in its docstring; a behaviour that is only a
shape of the code is listed here, with where it lives:

Sorce
- ``GET /jobs`` is newest first: `sorce.SorceConnector.find` stops at the first live match
  and so returns the newest one.
- Not relied upon: that ``GET /jobs`` asked for no status shows every status. A bound job it
  leaves out is read by id, or found in the list of its last status when several of that
  status are missing (`lookup`, `sorce.SorceConnector.in_status`), and a create whose answer
  was lost is looked for in the list of each status a create leaves too
  (`sorce.SorceConnector.lost_candidates`).
- Not relied upon: that a location sent without ``locationId`` is kept on a draft and named by
  Gate 1 at publish. `sorce.SorceConnector._location_ref` never sends one: a city that search
  did not find blocks the posting when planning.
- A budget sent without ``window`` is the LIFETIME budget: not relied upon either;
  `sorce.SorceConnector.render` always sends the window.
- ``POST /jobs`` answers 201 with the Job: `sorce.SorceConnector.create` reads the Job from
  any 2xx, and a 2xx without one is Ambiguous.
- A paused job expires too, and EXPIRED is terminal: `sorce.SorceConnector.lifecycle`
  plans nothing from ``expired``.
- ``PATCH /jobs/{id}`` and ``POST /jobs/{id}/pause|resume|close`` answer the Job as it is
  after the change (only publish's answer is documented): `sorce.SorceConnector.update` and
  `.transition` read it, and after a 2xx without a readable Job they read the job again by
  id (`sorce.SorceConnector._written`), so a board that answers these otherwise costs one
  more request a change, never a change taken for failed.
- Not relied upon: that an identical qualifications/questions set is accepted on a frozen job
  (`sorce.SorceConnector.update` never sends a frozen field), and that the first failing gate
  answers (`sorce.SorceConnector._error` maps each gate on its own).

Hirempire
- A 429 carries ``Retry-After`` in seconds, over a sliding hour: `http.retry_after_header`
  via `hirempire.HirempireConnector._error` and `BoardHttp`; the limiter is
  `hirempire.HirempireConnector.default_limiter`.
- ``job_sources`` on add-job make one Source per name, as create-source would:
  `hirempire.HirempireConnector.create` sends the channels there, and reads them back from
  ``applications`` in its answer (`hirempire.HirempireConnector._created`).
- create-source matches names exactly after trimming: `hirempire.HirempireConnector.ensure_source`
  trims the channel name.
- update-job to Active past the active-jobs limit is 402 like add-job: every 402 maps to
  Blocked(plan_limit) in `hirempire.HirempireConnector._error`.
- ``department`` and ``salary_period`` come back as the words they were sent in, in any case
  or spacing (`hirempire.DEPARTMENT_INPUT`, `hirempire.SALARY_PERIOD_INPUT`: a word the
  documents do not list is compared as it is): `hirempire.job_spec`. add-job's ``job_status``
  and update-job's ``status`` are read in either word set (`hirempire.AnsweredStatus`), and a
  change of fields does not read the status at all.
- add-job refuses fields it does not know: `hirempire.HirempireConnector.create` sends only
  the spec's fields, ``company_id``, ``job_sources`` and ``status``.
- ``GET /webhooks`` answers ``{success, total_webhooks, webhooks: [{id, request_url, events}]}``
  (the documents show no answer): `hirempire.HirempireConnector.webhooks` reads it, and an
  answer in another shape is Malformed, so ``hooks install`` stops rather than add a second
  webhook it could not see.

RecruitiFi
- The link endpoints live on the token endpoint's host, ``https://api.recruitifi.com``:
  one ``base_url`` (`RecruitifiSettings.base_url`) serves `recruitifi.TOKEN_PATH` and
  `recruitifi.LINK_PATHS`.
- An unknown connectorId, clientId or userId is 404, and an unseen jobId is accepted:
  `recruitifi.RecruitifiConnector._error` maps 404 to Rejected, and `link` needs no create.
- A link lives 15 minutes: not relied upon; `recruitifi.RecruitifiConnector._link` keeps the
  board's own ``expiresAt``, brought sooner when the answer's ``Date`` (standard HTTP) shows
  the board's clock ahead of ours (`recruitifi.on_our_clock`). Not relied upon either: that
  the two clocks agree.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------- Sorce

SORCE_RETRY_AFTER_PLACES = (("error", "retryAfterSeconds"), ("retryAfterSeconds",))
"""Where a 429's body carries its wait, tried in this order: ``retryAfterSeconds`` is [doc], its
place is not; the sandbox puts it in ``error`` (and sends a ``Retry-After`` header too, which
is read when the body has it in neither place). sorce.sorce_retry_after."""

SORCE_LIST_ITEMS = "items"
SORCE_LIST_NEXT = "nextCursor"
SORCE_LIST_CURSOR_PARAM = "cursor"
SORCE_LIST_LIMIT_PARAM = "limit"
SORCE_PAGE_SIZE = 100
"""``GET /jobs?limit=&cursor=`` answers ``{"items": [...], "nextCursor": str | null}``, with
``limit`` at most 100. sorce.SorceConnector._jobs (observe, find). Both members must be there:
a page without ``nextCursor`` is Malformed (sorce.SorcePage), not taken as the last page."""

SORCE_LIST_STATUS_PARAM = "status"
SORCE_CREATED_STATUSES = ("DRAFT", "ACTIVE")
"""``GET /jobs?status=`` lists one status (the query's names are [decided], as ``limit`` and
``cursor``); whether the list asked for no status shows every status is not documented, so a
create whose answer was lost is also looked for in the lists of the statuses a create leaves (a
draft; live when published). sorce.SorceConnector.lost_candidates, through journal.settle. Were
the parameter refused, such a create stays unsettled (nothing is created for it) and says why in
the log (``intent_unsettled``), until a person binds or forgets the pair."""

SORCE_JOB_PATH = "/jobs/{id}"
"""``GET /jobs/{id}`` returns one Job, and 404 NOT_FOUND for no such job (the PATCH on the same
path is [doc]). sorce.SorceConnector._settle_transition reads a job after an
INVALID_TRANSITION; sorce.SorceConnector.read reads a bound job ``GET /jobs`` did not show.
Only a 404 carrying NOT_FOUND is taken as no such job: were there no such route, its 404 would
be an error of the read, never a gone job (which would be created again).
Whether the list shows every status is not documented: a bound job it hides costs one such read
per run, unless more of its status are hidden than a list of that status takes requests
(`lookup`, `sorce.SorceConnector.in_status`)."""

SORCE_TRANSITION_PATH = "/jobs/{id}/{action}"
"""``POST /jobs/{id}/pause|resume|close`` with an empty body (publish's path is [doc]).
sorce.SorceConnector.transition."""

SORCE_UNPATCHABLE = frozenset({"status", "publish"})
"""PATCH refuses ``status`` and ``publish`` (422). sorce.SorceConnector.update never sends them."""

SORCE_PREFERRED_KIND = "PREFERRED"
"""The second qualification kind (only REQUIRED is documented). sorce.QUALIFICATION_KINDS."""

# ---------------------------------------------------------------------------------- Hirempire

HIREMPIRE_SLUG_PREFIX = "bs-"
"""boardsync's own choice: ``public_slug`` = prefix + posting key. hirempire.slug_for and
hirempire.key_from_slug (observe's posting_key; find is a slug lookup in ``GET /jobs``)."""

HIREMPIRE_SLUG_IN_USE = (409, "public_slug already in use")
"""A slug in use answers 409 with this text: on a create, the sign of an earlier create whose
answer was lost. hirempire.HirempireConnector._error names it; .create looks the slug up
(._settle_slug_in_use) after any 409 all the same, whatever its text."""

HIREMPIRE_SALARY_READ_BACK = "salary_max"
"""add-job takes one ``salary`` number and shows it as both ``salary_min`` and ``salary_max``.
The posting's maximum is sent (hirempire.HirempireConnector.render) and read back from this
field (hirempire.job_spec)."""

HIREMPIRE_EVENT_JOB_ID = "job_id"
"""The field of an event's body that names its job, beside ``type`` (the documents name the
events, not their bodies). hirempire.read_event; when it is missing the event still works:
a run of the whole board."""

# ---------------------------------------------------------------------------------- RecruitiFi

RECRUITIFI_RATE_WINDOW = 1.0
"""The limit is per second per token (10 in the sandbox; the count is
``RecruitifiSettings.requests_per_second``); past it 429 with ``Retry-After``.
recruitifi.RecruitifiConnector.default_limiter."""

RECRUITIFI_JOB_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
"""A well-formed partner jobId (the docs show ``job_789ghi``; others answer 422).
recruitifi.RecruitifiConnector.check."""
