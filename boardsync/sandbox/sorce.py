"""The Sorce simulator: Sorce's external API v1 as its public docs describe it, with the
behaviour boardsync has decided on where they are silent, served under ``/api/external/v1``
(so a connector's ``base_url`` is ``<server>/api/external/v1``).

Controls, besides the shared ones of `core.control_routes` (state, reset, clock, faults,
requests), all under ``/_sandbox`` and answering ``{"error": "<text>"}`` with 404 or 422 when
refused:

- ``POST /_sandbox/companies/{company_id}/gates`` ``{"terms_accepted": bool, "payment_method":
  bool}`` (either may be left out): the company's Gate 2 and Gate 3; both start satisfied.
- ``POST /_sandbox/jobs/{job_id}/applications`` ``{"count": n}``: n new pending applications,
  which freeze the job; answers the job.
- ``PATCH /_sandbox/jobs/{job_id}`` with Job field names: a hand edit in the dashboard; it skips
  the publish gates (so it can leave a live job incomplete) and may set ``status`` along the
  lifecycle (DRAFT→ACTIVE, ACTIVE→PAUSED, PAUSED→ACTIVE, to CLOSED); answers the job.
- ``GET /_sandbox/jobs``: every company's jobs, newest first.
- ``POST /_sandbox/jobs/{job_id}/listed`` ``{"listed": bool}``: with false, ``GET /jobs`` leaves
  the job out (as a list that hides some statuses, or a page lost on the way, would) while
  ``GET /jobs/{id}`` and every other endpoint still know it; answers the job.
- ``POST /_sandbox/list-hides`` ``{"statuses": ["DRAFT", …]}``: the statuses ``GET /jobs``
  leaves out when it is asked for no ``status`` (as a list that shows only some statuses by
  default would); asked for one of them by ``status``, it shows those jobs. Default: none, so
  the list asked for no status shows every status. Answers the statuses hidden.
- ``POST /_sandbox/rate-limit`` ``{"per_minute": n}``: the per-key limit (default 60).
- ``POST /_sandbox/keys/{key}/revoke``: the key answers 401 from then on.
- ``POST /_sandbox/seed`` ``{"key": "sk_ext_…", "jobs": [<POST /jobs body>, …]}``: every job
  created at once for that key's company, as ``POST /jobs`` would (``publish`` and the gates
  included), without a request each; all or none.

What the contract leaves open, and what this simulator does about it [decided]:

- Checks run in this order: route (404 NOT_FOUND in the envelope, also for a wrong method),
  service key (401), the key's rate limit (429), query or body (422), the job (404), its state
  (409), then the gates. Every authenticated request counts towards the limit, whatever its
  answer; one refused with 429 does not. ``retryAfterSeconds`` and ``Retry-After`` are the
  whole seconds (rounded up) until the window lets one more request through.
- A body that is not a JSON object is 422 with ``fields: {"body": ...}``. Unknown fields are
  "Unknown field."; read-only Job fields (``id``, ``status``, ``companyId``, …) are
  "Read-only field."; on PATCH ``status`` and ``publish`` name the endpoint to use instead.
  Nested errors are keyed like ``qualifications[0].kind``. Every problem is named at once.
- Scalars may be null (an incomplete draft); strings must be strings, enums exactly the
  documented words, money whole non-negative integers (not booleans, not 1.0).
- ``locations[]``: an entry with a known ``locationId`` is stored as the search table has it
  (the other fields sent are ignored); an unknown id is 422; the same id twice is 422. An entry
  without ``locationId`` is kept as typed (needs a ``displayName`` or ``city``) and is what
  Gate 1 reports as "Pick each location from the search suggestions."
- ``qualifications[]`` take ``text`` (non-blank) and ``kind``; ``questions[]`` take ``prompt``
  (non-blank) and ``options`` (non-blank strings, default ``[]``); ``budgets[]`` take
  ``window`` (default LIFETIME), ``budgetCents`` and ``notes`` (default null). The list's order
  is the order: ``order`` counts from 0, and an ``id`` or ``order`` sent back is ignored, so a
  job read can be sent back as it is (with the kinds it does not show). An item whose
  content is unchanged keeps its id.
- A Job is answered in the documented response shape: qualifications as ``{id, text, order}``
  and budgets as ``{budgetCents, notes}``; the ``kind`` and ``window`` sent are kept (Gate 1
  and "one per window" use them) but never shown back.
- Frozen: "the same set" means the same ``(text, kind)`` (qualifications) or ``(prompt,
  options)`` (questions) in the same order.
- PATCH: 422 (input), then 404, then 409 JOB_NOT_EDITABLE, 409 JOB_FROZEN, then Gate 1 for a
  live job (422 naming every gap of the job as it would become). An empty PATCH answers the job.
- Gate 1's min ≤ max gap is reported on ``salaryMax``; a blank (whitespace) string is a gap.
- ``applicationCounts.pending`` and ``newApplicantCount`` grow with each application.
- ``GET /jobs``: newest first by creation; ``nextCursor`` is null on the last page and is an
  opaque token naming the last job shown, so jobs created between pages never shift a page;
  an unknown ``status``, a ``limit`` outside 1–100 or a garbled cursor is 422.
- ``GET /locations/search``: ``country`` is the country's English name (any case; empty means
  the default); cities whose name starts with ``q`` come first, then those containing it; at
  most 10; an empty ``q`` lists the country's cities; an unknown country finds nothing.
- Times read ``2025-01-31T09:30:00.000Z``.
- Injected status faults answer the envelope with the code and wording the board uses for their
  status (401, 402, 404, 409 INVALID_TRANSITION, 422 with empty ``fields``, 429 with
  ``retryAfterSeconds`` = the fault's ``retry_after`` or 1, and ``Retry-After`` the same); any
  other status reads INTERNAL.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from boardsync.sandbox.core import (
    CONTROL_PREFIX,
    ASGIApp,
    Clock,
    Simulator,
    SlidingWindow,
    answering_fault,
    control_routes,
    json_object,
    wrap,
)
from boardsync.sandbox.sorce_locations import DEFAULT_COUNTRY, LOCATIONS, search

log = structlog.get_logger("boardsync.sandbox.sorce")

API_PREFIX = "/api/external/v1"

SANDBOX_KEYS: dict[str, str] = {
    "sk_ext_sandbox_acme": "cmp_acme",
    "sk_ext_sandbox_globex": "cmp_globex",
}
"""The service keys the simulator knows, each bound to its company."""

KEY_PREFIX = "sk_ext_"
LISTING_DAYS = 30
RATE_WINDOW_SECONDS = 60.0
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100

STATUSES = ("DRAFT", "ACTIVE", "PAUSED", "CLOSED", "EXPIRED")
LIVE = ("ACTIVE", "PAUSED")
REMOTE_OPTIONS = ("REMOTE", "HYBRID", "IN_PERSON")
JOB_TYPES = ("FULL_TIME", "PART_TIME", "CONTRACT", "INTERNSHIP")
JOB_LEVELS = ("ENTRY", "MID", "SENIOR")
SALARY_PERIODS = ("ANNUAL", "HOURLY")
QUALIFICATION_KINDS = ("REQUIRED", "PREFERRED")
BUDGET_WINDOWS = ("DAILY", "WEEKLY", "MONTHLY", "LIFETIME")

STRING_FIELDS = ("title", "description", "remoteCountry")
ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "remoteOption": REMOTE_OPTIONS,
    "jobType": JOB_TYPES,
    "jobLevel": JOB_LEVELS,
    "salaryPeriod": SALARY_PERIODS,
}
MONEY_FIELDS = ("salaryMin", "salaryMax", "bidPerQualifiedApplicantCents")
LIST_FIELDS = ("locations", "qualifications", "questions", "budgets")
WRITABLE = (*STRING_FIELDS, *ENUM_FIELDS, *MONEY_FIELDS, *LIST_FIELDS)
READ_ONLY = (
    "id", "status", "companyId", "applicationCounts", "isFrozen", "newApplicantCount",
    "publishedAt", "expiresAt", "closedAt",
)
LOCATION_KEYS = ("locationId", "displayName", "city", "stateProvince", "country")
NOT_SHOWN_BACK = {"qualifications": ("kind",), "budgets": ("window",)}
"""Item keys a job takes but a read does not show (the documented Job response example)."""

MSG_INVALID_KEY = "Invalid service key."
MSG_NOT_FOUND = "Job not found."
MSG_INCOMPLETE = "The job is not complete enough to publish."
MSG_LIVE_INCOMPLETE = "This edit would leave a live job incomplete; nothing was changed."
MSG_BAD_INPUT = "Some fields are not valid."
MSG_TERMS = "The company has not accepted the current Employer Terms. Accept them in the dashboard."
MSG_PAYMENT = "The company has no payment method on file. Add a card in the dashboard."
MSG_FROZEN = "The job has applications: its qualifications and questions can no longer change."
MSG_INTERNAL = "Something went wrong on our side."
MSG_PICK_LOCATION = "Pick each location from the search suggestions."


# ------------------------------------------------------------------------------- errors


class SorceError(Exception):
    """An answer in Sorce's error envelope."""

    def __init__(
        self, status: int, code: str, message: str, *,
        fields: Mapping[str, str] | None = None, retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.fields = dict(fields) if fields is not None else None
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            error["fields"] = self.fields
        if self.retry_after is not None:
            error["retryAfterSeconds"] = self.retry_after
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers())


def _invalid(fields: Mapping[str, str], message: str = MSG_BAD_INPUT) -> SorceError:
    return SorceError(422, "VALIDATION_FAILED", message, fields=fields)


def _not_found() -> SorceError:
    return SorceError(404, "NOT_FOUND", MSG_NOT_FOUND)


def _rate_limited(seconds: int) -> SorceError:
    return SorceError(
        429, "RATE_LIMITED", f"Too many requests. Retry in {seconds} seconds.", retry_after=seconds
    )


_FAULT_ANSWERS = {
    401: ("INVALID_SERVICE_KEY", MSG_INVALID_KEY),
    402: ("PAYMENT_METHOD_REQUIRED", MSG_PAYMENT),
    404: ("NOT_FOUND", MSG_NOT_FOUND),
    409: ("INVALID_TRANSITION", "This status change is not allowed."),
    422: ("VALIDATION_FAILED", MSG_BAD_INPUT),
}


def error_body(status: int, message: str) -> tuple[bytes, dict[str, str]]:
    """Sorce's envelope for an injected status fault (see `core.ErrorBody`), worded as the board
    words its own answers so a client cannot tell the two apart."""
    if status == 429:
        fault = answering_fault.get()
        error = _rate_limited(fault.retry_after if fault is not None and fault.retry_after is not None else 1)
    else:
        code, text = _FAULT_ANSWERS.get(status, ("INTERNAL", MSG_INTERNAL))
        error = SorceError(status, code, text, fields={} if status == 422 else None)
    return json.dumps(error.body()).encode(), error.headers()


# ------------------------------------------------------------------------------- input


def _is_money(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _one_of(values: Iterable[str]) -> str:
    return f"Must be one of {', '.join(values)}."


def _scalar_problem(name: str, value: Any) -> str | None:
    """What is wrong with a scalar Job field's value (null is always allowed), or None."""
    if value is None:
        return None
    if name in STRING_FIELDS and not isinstance(value, str):
        return "Must be a string."
    if name in ENUM_FIELDS and value not in ENUM_FIELDS[name]:
        return _one_of(ENUM_FIELDS[name])
    if name in MONEY_FIELDS and not _is_money(value):
        return "Must be a whole number of zero or more."
    return None


def _items(name: str, value: Any, errors: dict[str, str], allowed: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """A list field's entries as (path, object), after the checks every list shares."""
    if not isinstance(value, list):
        errors[name] = "Must be a list (send [] to clear it)."
        return []
    entries = []
    for index, item in enumerate(value):
        path = f"{name}[{index}]"
        if not isinstance(item, dict):
            errors[path] = "Must be an object."
            continue
        for key in item:
            if key not in allowed:
                errors[f"{path}.{key}"] = "Unknown field."
        entries.append((path, item))
    return entries


def _parse_locations(value: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    locations: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path, item in _items("locations", value, errors, LOCATION_KEYS):
        bad = [k for k in LOCATION_KEYS if item.get(k) is not None and not isinstance(item[k], str)]
        for key in bad:
            errors[f"{path}.{key}"] = "Must be a string."
        if bad:
            continue
        location_id = item.get("locationId")
        if location_id is None:
            if _is_blank(item.get("displayName")) and _is_blank(item.get("city")):
                errors[path] = "Give a locationId from the search suggestions."
            else:
                locations.append({key: item.get(key) for key in LOCATION_KEYS})
        elif location_id not in LOCATIONS:
            errors[f"{path}.locationId"] = "Unknown location. " + MSG_PICK_LOCATION
        elif location_id in seen:
            errors[f"{path}.locationId"] = "This location is already listed."
        else:
            seen.add(location_id)
            locations.append(dict(LOCATIONS[location_id]))
    return locations


def _parse_qualifications(value: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    qualifications = []
    for path, item in _items("qualifications", value, errors, ("id", "text", "kind", "order")):
        text, kind, ok = item.get("text"), item.get("kind"), True
        if not isinstance(text, str) or not text.strip():
            errors[f"{path}.text"], ok = "Must be a non-blank string.", False
        if kind not in QUALIFICATION_KINDS:
            errors[f"{path}.kind"], ok = _one_of(QUALIFICATION_KINDS), False
        if ok:
            qualifications.append({"text": text, "kind": kind})
    return qualifications


def _parse_questions(value: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    questions = []
    for path, item in _items("questions", value, errors, ("id", "prompt", "order", "options")):
        prompt, options, ok = item.get("prompt"), item.get("options", []), True
        if not isinstance(prompt, str) or not prompt.strip():
            errors[f"{path}.prompt"], ok = "Must be a non-blank string.", False
        if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
            errors[f"{path}.options"], ok = "Must be a list of non-blank strings.", False
        if ok:
            questions.append({"prompt": prompt, "options": list(options)})
    return questions


def _parse_budgets(value: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    budgets, windows = [], set()
    for path, item in _items("budgets", value, errors, ("window", "budgetCents", "notes")):
        window, cents, notes, ok = item.get("window"), item.get("budgetCents"), item.get("notes"), True
        if window is None:
            window = "LIFETIME"  # the documented create example sends no window [decided]
        if window not in BUDGET_WINDOWS:
            errors[f"{path}.window"], ok = _one_of(BUDGET_WINDOWS), False
        elif window in windows:
            errors[f"{path}.window"], ok = "Only one budget per window.", False
        if not _is_money(cents):
            errors[f"{path}.budgetCents"], ok = "Must be a whole number of zero or more.", False
        if notes is not None and not isinstance(notes, str):
            errors[f"{path}.notes"], ok = "Must be a string.", False
        if ok:
            windows.add(window)
            budgets.append({"window": window, "budgetCents": cents, "notes": notes})
    return budgets


_LIST_PARSERS: dict[str, Callable[[Any, dict[str, str]], list[dict[str, Any]]]] = {
    "locations": _parse_locations,
    "qualifications": _parse_qualifications,
    "questions": _parse_questions,
    "budgets": _parse_budgets,
}


def _unwritable_problem(name: str, patching: bool) -> str:
    if patching and name == "status":
        return "Not patchable: use POST /jobs/{id}/publish, /pause, /resume or /close."
    if patching and name == "publish":
        return "Not patchable: use POST /jobs/{id}/publish."
    return "Read-only field." if name in READ_ONLY else "Unknown field."


def parse_job_fields(body: Any, *, patching: bool, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """The writable Job fields of a request body, normalised; 422 naming every problem."""
    if not isinstance(body, dict):
        raise _invalid({"body": "Send a JSON object."})
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in extra:
            continue
        if name not in WRITABLE:
            errors[name] = _unwritable_problem(name, patching)
        elif name in _LIST_PARSERS:
            changes[name] = _LIST_PARSERS[name](value, errors)
        elif (problem := _scalar_problem(name, value)) is not None:
            errors[name] = problem
        else:
            changes[name] = value
    if errors:
        raise _invalid(errors)
    return changes


def parse_create_body(body: Any) -> tuple[dict[str, Any], bool]:
    """`POST /jobs`'s Job fields and its `publish` flag (default false); 422 naming every problem."""
    publish = body.get("publish", False) if isinstance(body, dict) else False
    problems = {} if isinstance(publish, bool) else {"publish": "Must be true or false."}
    try:
        changes = parse_job_fields(body, patching=False, extra=("publish",))
    except SorceError as exc:
        raise _invalid({**(exc.fields or {}), **problems}) from None
    if problems:
        raise _invalid(problems)
    return changes, publish


# ------------------------------------------------------------------------------- gates


def completeness_gaps(content: Mapping[str, Any]) -> dict[str, str]:
    """Gate 1: every gap that keeps a job from being published, by field."""
    gaps: dict[str, str] = {}
    for name, message in (("title", "Add a title."), ("description", "Add a description.")):
        if _is_blank(content.get(name)):
            gaps[name] = message
    gaps.update(_workplace_gaps(content))
    for name, message in (("jobType", "Choose a job type."), ("jobLevel", "Choose a job level.")):
        if content.get(name) is None:
            gaps[name] = message
    gaps.update(_salary_gaps(content))
    if not (content.get("bidPerQualifiedApplicantCents") or 0) > 0:
        gaps["bidPerQualifiedApplicantCents"] = "Set a bid per qualified applicant above zero."
    if not any(q["kind"] == "REQUIRED" for q in content.get("qualifications", [])):
        gaps["qualifications"] = "Add at least one REQUIRED qualification."
    return gaps


def _workplace_gaps(content: Mapping[str, Any]) -> dict[str, str]:
    option, locations = content.get("remoteOption"), content.get("locations", [])
    gaps: dict[str, str] = {}
    if option is None:
        gaps["remoteOption"] = "Choose REMOTE, HYBRID or IN_PERSON."
    if option == "REMOTE" and _is_blank(content.get("remoteCountry")):
        gaps["remoteCountry"] = "Choose the country remote applicants must live in."
    if any(loc.get("locationId") is None for loc in locations):
        gaps["locations"] = MSG_PICK_LOCATION
    elif option in ("HYBRID", "IN_PERSON") and not locations:
        gaps["locations"] = "Add at least one location."
    return gaps


def _salary_gaps(content: Mapping[str, Any]) -> dict[str, str]:
    low, high = content.get("salaryMin"), content.get("salaryMax")
    gaps: dict[str, str] = {}
    if low is None:
        gaps["salaryMin"] = "Add a minimum salary."
    if high is None:
        gaps["salaryMax"] = "Add a maximum salary."
    elif low is not None and low > high:
        gaps["salaryMax"] = "Must be at least salaryMin."
    if content.get("salaryPeriod") is None:
        gaps["salaryPeriod"] = "Choose ANNUAL or HOURLY."
    return gaps


@dataclass
class Company:
    """What only a person in the dashboard can change: Gate 2 and Gate 3."""

    terms_accepted: bool = True
    payment_method: bool = True


# ------------------------------------------------------------------------------- jobs


def _blank_content() -> dict[str, Any]:
    return {name: ([] if name in LIST_FIELDS else None) for name in WRITABLE}


@dataclass
class Job:
    """A job as stored. EXPIRED is never stored: it is read off `expires_at` and the clock."""

    id: str
    company_id: str
    seq: int
    content: dict[str, Any] = field(default_factory=_blank_content)
    status: str = "DRAFT"
    published_at: datetime | None = None
    expires_at: datetime | None = None
    closed_at: datetime | None = None
    applications: dict[str, int] = field(default_factory=lambda: {"pending": 0, "accepted": 0, "rejected": 0})
    new_applicants: int = 0

    def status_at(self, now: datetime) -> str:
        # Pausing does not stop the 30 days: a paused job expires too.
        if self.status in LIVE and self.expires_at is not None and self.expires_at <= now:
            return "EXPIRED"
        return self.status

    @property
    def is_frozen(self) -> bool:
        return sum(self.applications.values()) > 0

    def view(self, now: datetime) -> dict[str, Any]:
        """The Job object as the API shows it."""
        c = self.content
        return {
            "id": self.id, "title": c["title"], "status": self.status_at(now),
            "description": c["description"], "remoteOption": c["remoteOption"],
            "remoteCountry": c["remoteCountry"], "jobType": c["jobType"], "jobLevel": c["jobLevel"],
            "salaryMin": c["salaryMin"], "salaryMax": c["salaryMax"], "salaryPeriod": c["salaryPeriod"],
            "bidPerQualifiedApplicantCents": c["bidPerQualifiedApplicantCents"],
            "companyId": self.company_id,
            **{name: [_shown(name, item) for item in c[name]] for name in LIST_FIELDS},
            "applicationCounts": dict(self.applications), "isFrozen": self.is_frozen,
            "newApplicantCount": self.new_applicants,
            "publishedAt": _timestamp(self.published_at), "expiresAt": _timestamp(self.expires_at),
            "closedAt": _timestamp(self.closed_at),
        }


def _shown(name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    hidden = NOT_SHOWN_BACK.get(name, ())
    return {key: value for key, value in item.items() if key not in hidden}


def _timestamp(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_millisecond(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _qualification_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    return (item["text"], item["kind"])


def _question_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    return (item["prompt"], tuple(item["options"]))


def _with_ids(
    items: list[dict[str, Any]], previous: list[dict[str, Any]],
    key: Callable[[Mapping[str, Any]], tuple[Any, ...]], prefix: str,
) -> list[dict[str, Any]]:
    """Items with server ids and their order; an item whose content is unchanged keeps its id."""
    unused: dict[tuple[Any, ...], list[str]] = {}
    for old in previous:
        unused.setdefault(key(old), []).append(old["id"])
    numbered = []
    for order, item in enumerate(items):
        ids = unused.get(key(item))
        numbered.append({"id": ids.pop(0) if ids else _new_id(prefix), **item, "order": order})
    return numbered


_KEYED_LISTS = {"qualifications": (_qualification_key, "qal"), "questions": (_question_key, "qst")}


def _same_set(name: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    key = _KEYED_LISTS[name][0]
    return [key(item) for item in old] == [key(item) for item in new]


def _merged(content: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The job's content with `changes` applied; list fields replace the whole set."""
    merged = dict(content)
    for name, value in changes.items():
        if name in _KEYED_LISTS:
            key, prefix = _KEYED_LISTS[name]
            value = _with_ids(value, content[name], key, prefix)
        merged[name] = value
    return merged


# ------------------------------------------------------------------------------- cursors


def _encode_cursor(seq: int) -> str:
    raw = json.dumps({"v": 1, "before": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    """The creation number a cursor stops before, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    before = data.get("before") if isinstance(data, dict) and data.get("v") == 1 else None
    return before if isinstance(before, int) and not isinstance(before, bool) and before >= 0 else None


@dataclass(frozen=True)
class ListQuery:
    status: str | None
    limit: int
    before: int | None


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """`GET /jobs`'s query; 422 naming every bad parameter."""
    errors: dict[str, str] = {}
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        errors["status"] = _one_of(STATUSES)
    raw_limit = params.get("limit")
    limit = DEFAULT_PAGE_SIZE
    if raw_limit is not None:
        if raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
            limit = int(raw_limit)
        else:
            errors["limit"] = f"Must be a whole number from 1 to {MAX_PAGE_SIZE}."
    before = None
    if params.get("cursor"):
        before = _decode_cursor(params["cursor"])
        if before is None:
            errors["cursor"] = "Invalid cursor: pass back a nextCursor exactly as received."
    if errors:
        raise _invalid(errors)
    return ListQuery(status, limit, before)


# ------------------------------------------------------------------------------- simulator


class SorceSim(Simulator):
    """Sorce's state: companies and their gates, service keys, jobs, and the rate limit.

    The ``api_*`` methods are the endpoints, as seen by an authenticated company; they raise
    `SorceError` for every documented refusal. The other public methods are the controls.
    """

    name = "sorce"

    def __init__(
        self, clock: Clock | None = None, *, keys: dict[str, str] | None = None,
        requests_per_minute: int = 60,
    ) -> None:
        super().__init__(clock)
        self._initial_keys = dict(SANDBOX_KEYS if keys is None else keys)
        if not all(key.startswith(KEY_PREFIX) for key in self._initial_keys):
            raise ValueError(f"Sorce service keys start with {KEY_PREFIX}")
        self._initial_rate = requests_per_minute
        self._reset_state()

    # --- shared base hooks

    def _reset_state(self) -> None:
        self.keys: dict[str, str] = dict(self._initial_keys)
        self.revoked: set[str] = set()
        self.companies: dict[str, Company] = {cid: Company() for cid in self.keys.values()}
        self.window = SlidingWindow(self.clock, self._initial_rate, RATE_WINDOW_SECONDS)
        self._jobs: dict[str, Job] = {}
        self._seq = 0
        self._unlisted: set[str] = set()
        self._hidden_by_default: frozenset[str] = frozenset()

    def _snapshot_state(self) -> dict[str, Any]:
        return {
            "companies": {cid: vars(c).copy() for cid, c in self.companies.items()},
            "rate_limit_per_minute": self.window.limit,
            "rate_limited": self.window.refused,
            "revoked_keys": len(self.revoked),
            "jobs": self.jobs(),
        }

    # --- auth and limits

    def authenticate(self, authorization: str | None) -> tuple[str, str]:
        """(key, company id) for an ``Authorization`` header; 401 for anything else."""
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        with self.lock:
            company = self.keys.get(key)
            if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or company is None or key in self.revoked:
                raise SorceError(401, "INVALID_SERVICE_KEY", MSG_INVALID_KEY)
        return key, company

    def check_rate(self, key: str) -> None:
        wait = self.window.hit(key)
        if wait is not None:
            raise _rate_limited(max(1, math.ceil(wait)))

    # --- endpoints

    def api_create(self, company_id: str, body: Any) -> dict[str, Any]:
        changes, publish = parse_create_body(body)
        with self.lock:
            now = self.clock.now()
            content = _merged(_blank_content(), changes)
            if publish:
                self._run_gates(company_id, content)  # atomic: nothing exists until they pass
            job = self._add_job(company_id, content)
            if publish:
                self._publish(job, now)
            return job.view(now)

    def seed(self, key: str, bodies: list[Any]) -> int:
        """Create a job for each create body of the company of service key `key`, as
        ``POST /jobs`` would one by one (gates included), without a request each: a large
        board for a benchmark. All or nothing: every body is checked before any is made."""
        _, company_id = self.authenticate(f"Bearer {key}")
        parsed = [parse_create_body(body) for body in bodies]
        with self.lock:
            now = self.clock.now()
            contents = [(_merged(_blank_content(), changes), publish) for changes, publish in parsed]
            for content, publish in contents:
                if publish:
                    self._run_gates(company_id, content)
            for content, publish in contents:
                job = self._add_job(company_id, content)
                if publish:
                    self._publish(job, now)
        return len(contents)

    def api_get(self, company_id: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            return self._job(company_id, job_id).view(self.clock.now())

    def api_list(self, company_id: str, query: ListQuery) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            jobs = [
                job for job in self._newest_first(company_id)
                if job.id not in self._unlisted
                and (query.before is None or job.seq < query.before)
                and (job.status_at(now) == query.status if query.status is not None
                     else job.status_at(now) not in self._hidden_by_default)
            ]
            page = jobs[: query.limit]
            more = len(jobs) > query.limit
            return {"items": [job.view(now) for job in page], "nextCursor": _encode_cursor(page[-1].seq) if more else None}

    def api_publish(self, company_id: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            job = self._job(company_id, job_id)
            self._require_status(job, now, "publish", ("DRAFT",))
            self._run_gates(company_id, job.content)
            self._publish(job, now)
            return job.view(now)

    def api_transition(self, company_id: str, job_id: str, verb: str) -> dict[str, Any]:
        """pause, resume or close."""
        with self.lock:
            now = self.clock.now()
            job = self._job(company_id, job_id)
            self._transition(job, now, verb)
            return job.view(now)

    def api_update(self, company_id: str, job_id: str, body: Any) -> dict[str, Any]:
        changes = parse_job_fields(body, patching=True)
        with self.lock:
            now = self.clock.now()
            job = self._job(company_id, job_id)
            self._require_editable(job, now)
            self._require_unfrozen_change(job, changes)
            content = _merged(job.content, changes)
            if job.status_at(now) in LIVE and (gaps := completeness_gaps(content)):
                raise _invalid(gaps, MSG_LIVE_INCOMPLETE)
            job.content = content
            return job.view(now)

    def api_search_locations(self, query: str, country: str) -> dict[str, Any]:
        return {"items": search(query, country or DEFAULT_COUNTRY)}

    # --- controls

    def set_gates(self, company_id: str, *, terms_accepted: bool | None = None, payment_method: bool | None = None) -> None:
        with self.lock:
            company = self._company(company_id)
            if terms_accepted is not None:
                company.terms_accepted = bool(terms_accepted)
            if payment_method is not None:
                company.payment_method = bool(payment_method)

    def gates(self, company_id: str) -> dict[str, Any]:
        with self.lock:
            return {"companyId": company_id, **vars(self._company(company_id))}

    def set_rate_limit(self, per_minute: int) -> None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 1:
            raise ValueError("per_minute must be a whole number of at least 1")
        self.window.limit = per_minute

    def revoke_key(self, key: str) -> None:
        with self.lock:
            if key not in self.keys:
                raise KeyError(f"unknown service key {key[:len(KEY_PREFIX)]}…")
            self.revoked.add(key)

    def add_applications(self, job_id: str, count: int = 1) -> dict[str, Any]:
        """`count` new pending applications on a published job, which freezes it."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a whole number of at least 1")
        with self.lock:
            job = self._any_job(job_id)
            if job.published_at is None:
                raise ValueError("a job that was never published has no applicants")
            job.applications["pending"] += count
            job.new_applicants += count
            return job.view(self.clock.now())

    def edit_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        """A hand edit in the dashboard: the same input rules as PATCH, and the rules on closed,
        expired and frozen jobs, but no publish gates; ``status`` moves along the lifecycle."""
        with self.lock:
            now = self.clock.now()
            job = self._any_job(job_id)
            status = fields.pop("status", None)
            try:
                changes = parse_job_fields(fields, patching=True)
                if changes:
                    self._require_editable(job, now)
                    self._require_unfrozen_change(job, changes)
                if status is not None and status != job.status_at(now):
                    self._transition(job, now, self._verb_towards(job, status))
            except SorceError as exc:
                raise ValueError(f"{exc.code}: {exc.message} {exc.fields or ''}".strip()) from None
            job.content = _merged(job.content, changes)
            return job.view(now)

    def set_listed(self, job_id: str, listed: bool) -> dict[str, Any]:
        """Whether ``GET /jobs`` shows the job; the job itself is untouched either way."""
        if not isinstance(listed, bool):
            raise ValueError("listed must be true or false")
        with self.lock:
            job = self._any_job(job_id)
            if listed:
                self._unlisted.discard(job_id)
            else:
                self._unlisted.add(job_id)
            return job.view(self.clock.now())

    def hide_by_default(self, statuses: Iterable[str]) -> list[str]:
        """The statuses ``GET /jobs`` leaves out when asked for no status (none: every one shown)."""
        statuses = list(statuses) if not isinstance(statuses, str) else [statuses]
        if not all(status in STATUSES for status in statuses):
            raise ValueError(f"statuses must each be one of {', '.join(STATUSES)}")
        with self.lock:
            self._hidden_by_default = frozenset(statuses)
            return sorted(self._hidden_by_default)

    def jobs(self, company_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            return [job.view(now) for job in self._newest_first(company_id)]

    # --- the rules

    def _company(self, company_id: str) -> Company:
        if company_id not in self.companies:
            raise KeyError(f"unknown company {company_id}")
        return self.companies[company_id]

    def _any_job(self, job_id: str) -> Job:
        if job_id not in self._jobs:
            raise KeyError(f"unknown job {job_id}")
        return self._jobs[job_id]

    def _job(self, company_id: str, job_id: str) -> Job:
        """The company's job; another company's job is as missing as one that never was."""
        job = self._jobs.get(job_id)
        if job is None or job.company_id != company_id:
            raise _not_found()
        return job

    def _newest_first(self, company_id: str | None) -> list[Job]:
        jobs = [j for j in self._jobs.values() if company_id is None or j.company_id == company_id]
        return sorted(jobs, key=lambda job: job.seq, reverse=True)

    def _add_job(self, company_id: str, content: dict[str, Any]) -> Job:
        self._seq += 1
        job = Job(id=_new_id("job"), company_id=company_id, seq=self._seq, content=content)
        self._jobs[job.id] = job
        return job

    def _run_gates(self, company_id: str, content: Mapping[str, Any]) -> None:
        """The three publish gates in order; the first that fails answers."""
        if gaps := completeness_gaps(content):
            raise _invalid(gaps, MSG_INCOMPLETE)
        company = self._company(company_id)
        if not company.terms_accepted:
            raise SorceError(409, "AGREEMENT_OUTDATED", MSG_TERMS)
        if not company.payment_method:
            raise SorceError(402, "PAYMENT_METHOD_REQUIRED", MSG_PAYMENT)

    @staticmethod
    def _publish(job: Job, now: datetime) -> None:
        job.status = "ACTIVE"
        job.published_at = _to_millisecond(now)
        job.expires_at = job.published_at + timedelta(days=LISTING_DAYS)

    @staticmethod
    def _require_status(job: Job, now: datetime, verb: str, allowed: tuple[str, ...]) -> None:
        status = job.status_at(now)
        if status not in allowed:
            raise SorceError(409, "INVALID_TRANSITION", f"Cannot {verb} a job that is {status}.")

    _TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
        "pause": (("ACTIVE",), "PAUSED"),
        "resume": (("PAUSED",), "ACTIVE"),
        "close": (("DRAFT", "ACTIVE", "PAUSED"), "CLOSED"),
    }

    def _transition(self, job: Job, now: datetime, verb: str) -> None:
        if verb == "publish":  # only a hand edit asks for this: the dashboard skips the gates
            self._require_status(job, now, verb, ("DRAFT",))
            self._publish(job, now)
            return
        allowed, target = self._TRANSITIONS[verb]
        self._require_status(job, now, verb, allowed)
        job.status = target
        if target == "CLOSED":
            job.closed_at = _to_millisecond(now)

    @staticmethod
    def _verb_towards(job: Job, status: Any) -> str:
        verbs = {"PAUSED": "pause", "CLOSED": "close", "ACTIVE": "resume" if job.status == "PAUSED" else "publish"}
        if status not in verbs:
            raise ValueError(f"a hand edit can set status to {', '.join(verbs)}, not {status!r}")
        return verbs[status]

    @staticmethod
    def _require_editable(job: Job, now: datetime) -> None:
        status = job.status_at(now)
        if status in ("CLOSED", "EXPIRED"):
            raise SorceError(
                409, "JOB_NOT_EDITABLE",
                f"A job that is {status} cannot be edited. Create a new job to list the role again.",
            )

    @staticmethod
    def _require_unfrozen_change(job: Job, changes: Mapping[str, Any]) -> None:
        if not job.is_frozen:
            return
        for name in _KEYED_LISTS:
            if name in changes and not _same_set(name, job.content[name], changes[name]):
                raise SorceError(409, "JOB_FROZEN", MSG_FROZEN)


# ------------------------------------------------------------------------------- HTTP

Handler = Callable[[Request, SorceSim, str], Awaitable[Any]]


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise _invalid({"body": "Send a JSON object."}) from None


def _api(sim: SorceSim, handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: key, rate limit, then the handler; every answer in Sorce's shapes."""

    async def endpoint(request: Request) -> Response:
        try:
            key, company_id = sim.authenticate(request.headers.get("authorization"))
            sim.check_rate(key)
            return JSONResponse(await handler(request, sim, company_id), status_code=status)
        except SorceError as exc:
            return exc.response()
        except Exception:  # a bug in the simulator still answers in the board's envelope
            log.exception("internal_error", method=request.method, path=request.url.path)
            return SorceError(500, "INTERNAL", MSG_INTERNAL).response()

    return endpoint


async def _create(request: Request, sim: SorceSim, company_id: str) -> Any:
    return sim.api_create(company_id, await _body(request))


async def _list(request: Request, sim: SorceSim, company_id: str) -> Any:
    return sim.api_list(company_id, parse_list_query(request.query_params))


async def _get(request: Request, sim: SorceSim, company_id: str) -> Any:
    return sim.api_get(company_id, request.path_params["job_id"])


async def _update(request: Request, sim: SorceSim, company_id: str) -> Any:
    return sim.api_update(company_id, request.path_params["job_id"], await _body(request))


async def _publish(request: Request, sim: SorceSim, company_id: str) -> Any:
    return sim.api_publish(company_id, request.path_params["job_id"])


def _transition(verb: str) -> Handler:
    async def handler(request: Request, sim: SorceSim, company_id: str) -> Any:
        return sim.api_transition(company_id, request.path_params["job_id"], verb)

    return handler


async def _search_locations(request: Request, sim: SorceSim, company_id: str) -> Any:
    params = request.query_params
    return sim.api_search_locations(params.get("q", ""), params.get("country", ""))


def _api_routes(sim: SorceSim) -> list[Route]:
    table: list[tuple[str, str, Handler, int]] = [
        ("POST", "/jobs", _create, 201),
        ("GET", "/jobs", _list, 200),
        ("GET", "/jobs/{job_id}", _get, 200),
        ("PATCH", "/jobs/{job_id}", _update, 200),
        ("POST", "/jobs/{job_id}/publish", _publish, 200),
        ("POST", "/jobs/{job_id}/pause", _transition("pause"), 200),
        ("POST", "/jobs/{job_id}/resume", _transition("resume"), 200),
        ("POST", "/jobs/{job_id}/close", _transition("close"), 200),
        ("GET", "/locations/search", _search_locations, 200),
    ]
    return [Route(API_PREFIX + path, _api(sim, handler, status), methods=[method]) for method, path, handler, status in table]


def _board_controls(sim: SorceSim) -> list[Route]:
    """Sorce's own controls: gates, applications, hand edits, the rate limit, revoked keys."""

    def answer(action: Callable[[Request, dict[str, Any]], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await json_object(request)
            try:
                return JSONResponse(action(request, body))
            except KeyError as exc:
                return JSONResponse({"error": str(exc.args[0]) if exc.args else "not found"}, status_code=404)
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)

        return endpoint

    def gates(request: Request, body: dict[str, Any]) -> Any:
        company_id = request.path_params["company_id"]
        flags = {name: body.get(name) for name in ("terms_accepted", "payment_method")}
        if any(value is not None and not isinstance(value, bool) for value in flags.values()):
            raise ValueError("terms_accepted and payment_method must be true or false")
        sim.set_gates(company_id, **flags)
        return sim.gates(company_id)

    def applications(request: Request, body: dict[str, Any]) -> Any:
        return sim.add_applications(request.path_params["job_id"], body.get("count", 1))

    def edit(request: Request, body: dict[str, Any]) -> Any:
        return sim.edit_job(request.path_params["job_id"], **body)

    def jobs(request: Request, body: dict[str, Any]) -> Any:
        return {"jobs": sim.jobs()}

    def listed(request: Request, body: dict[str, Any]) -> Any:
        return sim.set_listed(request.path_params["job_id"], body.get("listed"))  # type: ignore[arg-type]

    def list_hides(request: Request, body: dict[str, Any]) -> Any:
        statuses = body.get("statuses")
        if not isinstance(statuses, list):
            raise ValueError("statuses must be a list of statuses")
        return {"statuses": sim.hide_by_default(statuses)}

    def rate_limit(request: Request, body: dict[str, Any]) -> Any:
        sim.set_rate_limit(body.get("per_minute"))  # type: ignore[arg-type]  # checked inside
        return {"per_minute": sim.window.limit}

    def seed(request: Request, body: dict[str, Any]) -> Any:
        jobs = body.get("jobs")
        if not isinstance(jobs, list):
            raise ValueError("jobs must be a list of create bodies")
        try:
            return {"added": sim.seed(str(body.get("key", "")), jobs)}
        except SorceError as exc:
            raise ValueError(f"{exc.code}: {exc.message}") from None

    def revoke(request: Request, body: dict[str, Any]) -> Any:
        sim.revoke_key(request.path_params["key"])
        return {"revoked": True}

    p = CONTROL_PREFIX
    return [
        Route(f"{p}/companies/{{company_id}}/gates", answer(gates), methods=["POST"]),
        Route(f"{p}/jobs/{{job_id}}/applications", answer(applications), methods=["POST"]),
        Route(f"{p}/jobs/{{job_id}}", answer(edit), methods=["PATCH"]),
        Route(f"{p}/jobs/{{job_id}}/listed", answer(listed), methods=["POST"]),
        Route(f"{p}/jobs", answer(jobs), methods=["GET"]),
        Route(f"{p}/list-hides", answer(list_hides), methods=["POST"]),
        Route(f"{p}/rate-limit", answer(rate_limit), methods=["POST"]),
        Route(f"{p}/keys/{{key}}/revoke", answer(revoke), methods=["POST"]),
        Route(f"{p}/seed", answer(seed), methods=["POST"]),
    ]


async def _no_route(request: Request, exc: Exception) -> Response:
    """No such endpoint (or not with this method): Sorce's 404 envelope."""
    return SorceError(404, "NOT_FOUND", "No such endpoint.").response()


def make_app(sim: SorceSim) -> ASGIApp:
    """The simulator as served: the API under `API_PREFIX`, the controls under /_sandbox."""
    routes = _api_routes(sim) + control_routes(sim) + _board_controls(sim)
    app = Starlette(routes=routes, exception_handlers={HTTPException: _no_route})
    return wrap(app, sim, error_body)
