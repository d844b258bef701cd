"""Every [decided] provider behaviour the connectors depend on, in one place.

The provider pages mark each fact [doc] (the board's public documentation says so) or
[decided] (the documentation is silent; the sandbox does this and the connectors assume it).
When a real board turns out to behave differently, this is the file to change first; each
constant names the connector function that relies on it.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------- Sorce

SORCE_RETRY_AFTER_FIELD = ("error", "retryAfterSeconds")
"""A 429 carries its wait at ``error.retryAfterSeconds`` (a ``Retry-After`` header is sent too).
Used by sorce.sorce_retry_after."""

SORCE_CREATED_STATUS = 201
"""``POST /jobs`` answers 201 with the Job. sorce.SorceConnector.create accepts any 2xx with a
Job body, and treats a 2xx it cannot read as an unknown outcome (Ambiguous)."""

SORCE_LIST_ITEMS = "items"
SORCE_LIST_NEXT = "nextCursor"
SORCE_LIST_CURSOR_PARAM = "cursor"
SORCE_LIST_LIMIT_PARAM = "limit"
SORCE_PAGE_SIZE = 100
"""``GET /jobs?limit=&cursor=`` answers ``{"items": [...], "nextCursor": str | null}``, limit at
most 100, newest first. Used by sorce.SorceConnector._pages (observe, find); find relies on
newest-first to stop at the first live match."""

SORCE_JOB_PATH = "/jobs/{id}"
"""``GET /jobs/{id}`` returns one Job. Used by sorce.SorceConnector._settle_transition to read
a job after an INVALID_TRANSITION."""

SORCE_TRANSITION_PATH = "/jobs/{id}/{action}"
"""``POST /jobs/{id}/pause|resume|close|publish`` with an empty body. Used by
sorce.SorceConnector.transition."""

SORCE_UNPATCHABLE = frozenset({"status", "publish"})
"""``status`` and ``publish`` are refused by PATCH (422); lifecycle goes through the verbs.
sorce.SorceConnector.update never sends them."""

SORCE_PREFERRED_KIND = "PREFERRED"
"""The second qualification kind (only REQUIRED is documented). sorce.QUALIFICATION_KINDS."""

SORCE_PAUSED_EXPIRES = True
"""A paused job expires 30 days after publish like an active one, and EXPIRED is terminal.
sorce.SorceConnector.lifecycle plans nothing from a terminal status."""

# Not relied upon, listed so nobody adds a dependency on them by accident:
# - an identical qualifications/questions set on a frozen job is accepted: update() never
#   sends a frozen field at all (sorce.SorceConnector.update);
# - the first failing publish gate answers: every gate error is mapped on its own
#   (sorce.SorceConnector._error).

# ---------------------------------------------------------------------------------- Hirempire

HIREMPIRE_SLUG_PREFIX = "bs-"
"""Our own choice, not the board's: ``public_slug`` = prefix + posting key. hirempire.slug_for
and hirempire.key_from_slug; find is a slug lookup in ``GET /jobs``."""

HIREMPIRE_SLUG_IN_USE = (409, "public_slug already in use")
"""A slug already in the workspace answers 409 with this text: for a create, the sign of an
earlier create whose answer was lost. hirempire.HirempireConnector.create."""

HIREMPIRE_RETRY_AFTER_HEADER = True
"""A 429 carries ``Retry-After`` in seconds; the window is a sliding hour. http.retry_after_header
via hirempire.HirempireConnector; the limiter is hirempire.HirempireConnector.default_limiter."""

HIREMPIRE_JOB_SOURCES_CREATE_SOURCES = True
"""``job_sources`` on add-job creates one Source per name, as create-source would.
hirempire.HirempireConnector.create sends the channels there."""

HIREMPIRE_SOURCE_NAME_EXACT = True
"""create-source matches an existing source by name exactly after trimming (case matters).
hirempire.HirempireConnector.ensure_source trims, and channels are keyed by the trimmed name."""

HIREMPIRE_UPDATE_ACTIVATE_402 = True
"""update-job to Active past the plan's active-job limit answers 402, like add-job.
hirempire.HirempireConnector._error maps every 402 to Blocked(plan_limit)."""

# ---------------------------------------------------------------------------------- RecruitiFi

RECRUITIFI_BASE_URL = "https://api.recruitifi.com"
"""Base URL of the link endpoints (config default lives in config.model.RecruitifiSettings)."""

RECRUITIFI_UNKNOWN_IDS_404 = True
"""An unknown connectorId, clientId or userId answers 404; an unseen jobId is accepted (the job
page is where the job gets created). recruitifi.RecruitifiConnector._error maps 404 to Rejected."""

RECRUITIFI_RATE = (10, 1.0)
"""10 requests a second per token; past it 429 with ``Retry-After``.
recruitifi.RecruitifiConnector.default_limiter."""

RECRUITIFI_JOB_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
"""What a well-formed partner jobId looks like (the docs show ``job_789ghi``; longer or other
characters answer 422). recruitifi.RecruitifiConnector.check."""
