"""Sorce: jobs with a lifecycle, publish gates, 30-day expiry and frozen fields.

The spec (what `render` gives and `observe` reads back) uses Sorce's own field names and
words, normalised: text stripped, locations as sorted ids, qualifications and questions in
their order without server ids, budgets sorted by window. An unchanged posting renders
identically, and a job nobody touched observes as exactly what was rendered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypedDict

import httpx
import structlog

from boardsync.config.model import (
    BudgetWindow,
    EmploymentType,
    Level,
    Location,
    Posting,
    QualificationKind,
    SalaryPeriod,
    SorceSettings,
    Status,
    Workplace,
)
from boardsync.connectors import decided
from boardsync.connectors.base import BoardProblem, Remote, RemoteStatus, Spec, Transition
from boardsync.connectors.http import HttpConnector, RateLimiter, excerpt, retry_after_header
from boardsync.errors import Ambiguous, Blocked, ProviderError, Rejected, Transient

log = structlog.get_logger("boardsync.connectors.sorce", provider="sorce")

# ------------------------------------------------------------------------------ words [doc]

WORKPLACES = {Workplace.REMOTE: "REMOTE", Workplace.HYBRID: "HYBRID", Workplace.ON_SITE: "IN_PERSON"}
JOB_TYPES = {
    EmploymentType.FULL_TIME: "FULL_TIME",
    EmploymentType.PART_TIME: "PART_TIME",
    EmploymentType.CONTRACT: "CONTRACT",
    EmploymentType.INTERNSHIP: "INTERNSHIP",
}
LEVELS = {Level.ENTRY: "ENTRY", Level.MID: "MID", Level.SENIOR: "SENIOR"}
SALARY_PERIODS = {SalaryPeriod.YEAR: "ANNUAL", SalaryPeriod.HOUR: "HOURLY"}
SORCE_CURRENCY = "USD"
"""The currency Sorce's bare amounts are taken in. Its documents name no currency at all; a
US board (its location search defaults to the United States) is read in dollars, so only
another currency is said to be lost on the way."""
QUALIFICATION_KINDS = {
    QualificationKind.REQUIRED: "REQUIRED",
    QualificationKind.PREFERRED: decided.SORCE_PREFERRED_KIND,
}
BUDGET_WINDOWS = {
    BudgetWindow.DAILY: "DAILY",
    BudgetWindow.WEEKLY: "WEEKLY",
    BudgetWindow.MONTHLY: "MONTHLY",
    BudgetWindow.LIFETIME: "LIFETIME",
}
STATUSES: dict[str, RemoteStatus] = {
    "DRAFT": "draft",
    "ACTIVE": "active",
    "PAUSED": "paused",
    "CLOSED": "closed",
    "EXPIRED": "expired",
}
TERMINAL: frozenset[RemoteStatus] = frozenset({"closed", "expired"})
FROZEN_FIELDS = frozenset({"qualifications", "questions"})
"""What a job with applications no longer lets change (JOB_FROZEN). [doc]"""

SPEC_FIELDS = (
    "title",
    "description",
    "remoteOption",
    "remoteCountry",
    "jobType",
    "jobLevel",
    "salaryMin",
    "salaryMax",
    "salaryPeriod",
    "bidPerQualifiedApplicantCents",
    "locations",
    "qualifications",
    "questions",
    "budgets",
)
MATCH_FIELDS = (
    "title",
    "description",
    "bidPerQualifiedApplicantCents",
    "salaryMin",
    "salaryMax",
    "salaryPeriod",
    "remoteOption",
    "jobType",
    "jobLevel",
)
"""What `find` compares: enough content that a different job cannot match by accident."""

TRANSITION_TARGET: dict[Transition, RemoteStatus] = {
    "publish": "active",
    "resume": "active",
    "pause": "paused",
    "close": "closed",
}

# Error codes [doc] and the gates they stand for.
COMPANY_GATES = {
    "AGREEMENT_OUTDATED": "terms",
    "PAYMENT_METHOD_REQUIRED": "payment",
    "INVALID_SERVICE_KEY": "credentials",
}


class SorceJob(TypedDict, total=False):
    """A Job as Sorce returns it (the fields boardsync reads)."""

    id: str
    status: str
    title: str
    description: str
    remoteOption: str | None
    remoteCountry: str | None
    jobType: str | None
    jobLevel: str | None
    salaryMin: int | None
    salaryMax: int | None
    salaryPeriod: str | None
    bidPerQualifiedApplicantCents: int | None
    locations: list[dict[str, Any]]
    qualifications: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    budgets: list[dict[str, Any]]
    applicationCounts: dict[str, int]
    isFrozen: bool
    expiresAt: str | None


LocationKey = tuple[str, str, str]
"""(city, state, country), case-folded: one location search per distinct key."""


def sorce_retry_after(response: httpx.Response) -> float | None:
    """Seconds Sorce asks to wait: ``error.retryAfterSeconds``, else the ``Retry-After`` header."""
    outer, inner = decided.SORCE_RETRY_AFTER_FIELD
    try:
        value = response.json()[outer][inner]
        return max(float(value), 0.0)
    except (ValueError, KeyError, TypeError):
        return retry_after_header(response)


class SorceConnector(HttpConnector):
    """Sorce's external API v1 (see the provider page for every fact relied on)."""

    name: ClassVar[str] = "sorce"
    SUPPORTS_JOBS = True
    SUPPORTS_EXPIRY = True

    def __init__(self, settings: SorceSettings, client: httpx.Client, **http: Any) -> None:
        super().__init__(settings, client, **http)
        self._locations: dict[LocationKey, str | None] = {}

    def retry_after(self, response: httpx.Response) -> float | None:
        return sorce_retry_after(response)

    @staticmethod
    def default_limiter(settings: SorceSettings, stop: threading.Event | None = None) -> RateLimiter:
        """The documented limit: requests per minute per key, sliding. [doc]"""
        return RateLimiter(settings.requests_per_minute, 60.0, stop=stop)

    # -- pure ------------------------------------------------------------------------------

    @classmethod
    def check(cls, posting: Posting) -> list[BoardProblem]:
        """Gate 1 (completeness) for postings meant to be live; a draft may be incomplete."""
        if posting.status not in (Status.ACTIVE, Status.PAUSED):
            return []
        return [
            *_salary_problems(posting),
            *_bid_problems(posting),
            *_qualification_problems(posting),
            *_type_problems(posting),
            *_location_problems(posting),
        ]

    @classmethod
    def cannot_hold(cls, posting: Posting) -> list[BoardProblem]:
        """Sorce's job has no currency and no way to hide a salary. [doc: the Job object]"""
        salary = posting.salary
        if salary is None or salary.period not in SALARY_PERIODS:
            return []  # no salary is sent (check() names a period Sorce cannot take)
        amounts = f"{salary.min}–{salary.max}"
        lost = []
        if salary.currency != SORCE_CURRENCY:
            lost.append(BoardProblem(
                "salary.currency",
                f"sorce has no currency field; the salary is sent as {amounts} without {salary.currency}",
                severity="warning",
            ))
        if salary.hidden:
            lost.append(BoardProblem(
                "salary.hidden",
                f"sorce has no hidden-salary field; the salary {amounts} is sent as it is",
                severity="warning",
            ))
        return lost

    def render(self, posting: Posting) -> dict[str, Any]:
        board = posting.boards.sorce
        salary = posting.salary
        period = SALARY_PERIODS.get(salary.period) if salary else None
        level = (board.level if board and board.level else None) or posting.level.value
        return {
            "title": _text(posting.title),
            "description": _text(posting.description),
            "remoteOption": WORKPLACES[posting.workplace],
            "remoteCountry": posting.remote_country,
            "jobType": JOB_TYPES.get(posting.employment_type),
            "jobLevel": LEVELS[Level(level)],
            # A period Sorce cannot express leaves the salary out; check() names it.
            "salaryMin": salary.min if salary and period else None,
            "salaryMax": salary.max if salary and period else None,
            "salaryPeriod": period,
            "bidPerQualifiedApplicantCents": board.bid_cents if board else None,
            "locations": _sorted_locations(self._location_ref(loc) for loc in posting.locations),
            "qualifications": [
                {"text": _text(q.text), "kind": QUALIFICATION_KINDS[q.kind]} for q in posting.qualifications
            ],
            "questions": [
                {"prompt": _text(q.prompt), "options": [_text(o) for o in q.options]}
                for q in posting.questions
            ],
            "budgets": _sorted_budgets(
                {"window": BUDGET_WINDOWS[b.window], "budgetCents": b.cents, "notes": _note(b.notes)}
                for b in (board.budgets if board else [])
            ),
        }

    def lifecycle(self, desired: str, observed: RemoteStatus) -> list[Transition]:
        """Sorce's state machine: DRAFT → ACTIVE ⇄ PAUSED → CLOSED; EXPIRED and CLOSED end it."""
        if observed in TERMINAL or desired == observed:
            return []
        if desired == "closed":
            return ["close"]
        if desired == "active":
            return {"draft": ["publish"], "paused": ["resume"]}.get(observed, [])  # type: ignore[return-value]
        if desired == "paused":
            return {"draft": ["publish", "pause"], "active": ["pause"]}.get(observed, [])  # type: ignore[return-value]
        return []  # a live job cannot go back to draft

    # -- reads -----------------------------------------------------------------------------

    def prepare(self, postings: Sequence[Posting]) -> None:
        """Look up the locationId of every distinct city not given one, once per run."""
        wanted = {
            _location_key(loc): loc
            for posting in postings
            if posting.boards.sorce is not None
            for loc in posting.locations
            if loc.sorce_location_id is None
        }
        for key, loc in wanted.items():
            if key not in self._locations:
                self._locations[key] = self._search_location(loc)

    def observe(self) -> list[Remote]:
        jobs = list(self._jobs())
        self._learn_locations(jobs)
        return [_remote(job) for job in jobs]

    def _learn_locations(self, jobs: Sequence[SorceJob]) -> None:
        """Remember the locationId of every city the jobs already show, so that `prepare`
        searches only for places no job has yet: a steady cycle then costs no search. Only
        the exact (city, state, country) is learned; a posting that leaves out the state is
        still searched, since the board's first suggestion may be another city of that name."""
        for job in jobs:
            for place in job.get("locations") or []:
                city, country, known = place.get("city"), place.get("country"), place.get("locationId")
                if city and country and known:
                    key = _key_of(str(city), place.get("stateProvince"), str(country))
                    self._locations.setdefault(key, str(known))

    def find(self, posting: Posting, spec: Spec) -> Remote | None:
        """The newest live job whose content matches `spec`; a closed or expired match is an
        older job, not the one a lost create made."""
        for job in self._jobs():
            remote = _remote(job)
            if remote.status not in TERMINAL and _same_content(remote.spec, spec):
                log.info("create_found", remote_id=remote.remote_id, posting=posting.key)
                return remote
        return None

    # -- writes ----------------------------------------------------------------------------

    def create(self, posting: Posting, spec: Spec, *, publish: bool) -> Remote:
        """``POST /jobs``; with `publish`, the gates run and the job is ACTIVE or not created."""
        body = {k: v for k, v in spec.items() if v is not None}
        response = self._call("POST", "/jobs", json={**body, "publish": publish})
        return _remote(self._job(response, "POST /jobs", unreadable=Ambiguous))

    def update(self, remote: Remote, changes: Spec) -> Remote:
        """``PATCH /jobs/{id}`` with only what differs, never a frozen field of a frozen job."""
        body = {
            k: v
            for k, v in changes.items()
            if k in SPEC_FIELDS and k not in remote.frozen_fields and k not in decided.SORCE_UNPATCHABLE
        }
        if not body:
            return remote
        path = decided.SORCE_JOB_PATH.format(id=remote.remote_id)
        # Sets are replaced whole, so a repeated PATCH converges [doc]: safe to retry.
        response = self._call("PATCH", path, json=body, idempotent=True)
        return _remote(self._job(response, f"PATCH {path}"))

    def transition(self, remote: Remote, action: Transition) -> Remote:
        path = decided.SORCE_TRANSITION_PATH.format(id=remote.remote_id, action=action)
        try:
            response = self._call("POST", path)
        except Rejected as exc:
            if exc.code != "INVALID_TRANSITION":
                raise
            return self._settle_transition(remote, action, exc)
        return _remote(self._job(response, f"POST {path}"))

    def _settle_transition(self, remote: Remote, action: Transition, refused: Rejected) -> Remote:
        """A refused transition may be one that already happened (a retry after a lost
        answer): read the job, and call it done when it is where the action leads."""
        path = decided.SORCE_JOB_PATH.format(id=remote.remote_id)
        current = _remote(self._job(self._call("GET", path), f"GET {path}"))
        if current.status == TRANSITION_TARGET[action]:
            return current
        raise refused

    # -- the one seam ----------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.api_key.get_secret_value()}"}

    def _error(self, response: httpx.Response, call: str) -> ProviderError:
        """Sorce's error envelope → the error tree. [doc: every code in the table]"""
        status = response.status_code
        code, message, fields = _envelope(response)
        kw: dict[str, Any] = {"provider": self.name, "call": call, "status": status, "code": code}
        if status == 429 or status >= 500:
            return Transient(message, retry_after=sorce_retry_after(response), **kw)
        if code in COMPANY_GATES or status in (401, 402):
            gate = COMPANY_GATES.get(code or "", "payment" if status == 402 else "credentials")
            return Blocked(_gate_message(gate, message), gate=gate, company_wide=True, **kw)
        return Rejected(message, fields=fields, **kw)

    def _job(
        self, response: httpx.Response, call: str, *, unreadable: type[ProviderError] = Transient
    ) -> SorceJob:
        try:
            job = response.json()
            if isinstance(job, dict) and isinstance(job.get("id"), str):
                return job  # type: ignore[return-value]
        except ValueError:
            pass
        raise unreadable(
            f"answered {response.status_code} without a readable job", provider=self.name, call=call
        )

    # -- helpers ---------------------------------------------------------------------------

    def _jobs(self) -> Iterator[SorceJob]:
        """Every job, page by page, newest first; a caller may stop early."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {decided.SORCE_LIST_LIMIT_PARAM: decided.SORCE_PAGE_SIZE}
            if cursor:
                params[decided.SORCE_LIST_CURSOR_PARAM] = cursor
            page = self._call_json("GET", "/jobs", params=params)
            yield from page.get(decided.SORCE_LIST_ITEMS) or []
            cursor = page.get(decided.SORCE_LIST_NEXT)
            if not cursor:
                return

    def _search_location(self, loc: Location) -> str | None:
        params = {"q": loc.city, "country": loc.country}
        items = self._call_json("GET", "/locations/search", params=params).get("items") or []
        chosen = _pick_location(items, loc)
        log.info("location_resolved", city=loc.city, country=loc.country, found=chosen is not None)
        return chosen

    def _location_ref(self, loc: Location) -> dict[str, Any]:
        if loc.sorce_location_id:
            return {"locationId": loc.sorce_location_id}
        key = _location_key(loc)
        if key not in self._locations:
            raise LookupError(f"location {loc.city!r} was not looked up: call prepare() before render()")
        found = self._locations[key]
        if found is None:
            # No suggestion matched: Sorce keeps it on a draft and names it at publish.
            return {"city": loc.city, "stateProvince": loc.state, "country": loc.country}
        return {"locationId": found}


# ------------------------------------------------------------------------------ check


def _salary_problems(posting: Posting) -> list[BoardProblem]:
    if posting.salary is None:
        return [BoardProblem("salary", "Sorce needs a salary (min, max and period) to publish")]
    if posting.salary.period not in SALARY_PERIODS:
        return [
            BoardProblem(
                "salary.period",
                f"Sorce takes a yearly or hourly salary only; {posting.salary.period.value!r} "
                "cannot be published there: use 'year' or 'hour'",
            )
        ]
    return []


def _bid_problems(posting: Posting) -> list[BoardProblem]:
    board = posting.boards.sorce
    if board is None or not board.bid_cents:
        return [
            BoardProblem(
                "boards.sorce.bid_cents",
                "Sorce needs a bid per qualified applicant above 0 cents to publish",
            )
        ]
    return []


def _qualification_problems(posting: Posting) -> list[BoardProblem]:
    if not any(q.kind is QualificationKind.REQUIRED for q in posting.qualifications):
        return [BoardProblem("qualifications", "Sorce needs at least one required qualification to publish")]
    return []


def _type_problems(posting: Posting) -> list[BoardProblem]:
    if posting.employment_type not in JOB_TYPES:
        allowed = ", ".join(t.value for t in JOB_TYPES)
        return [
            BoardProblem(
                "employment_type",
                f"Sorce has no {posting.employment_type.value!r} jobs; use one of {allowed}",
            )
        ]
    return []


def _location_problems(posting: Posting) -> list[BoardProblem]:
    if posting.workplace in (Workplace.HYBRID, Workplace.ON_SITE) and not posting.locations:
        return [BoardProblem("locations", f"Sorce needs at least one location for a {posting.workplace.value} job")]
    return []


# ------------------------------------------------------------------------------ normalising


def _text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _note(value: str | None) -> str | None:
    value = _text(value)
    return value or None


def _sorted_locations(locations: Any) -> list[dict[str, Any]]:
    return sorted(locations, key=lambda loc: (loc.get("locationId") or "", str(loc)))


def _sorted_budgets(budgets: Any) -> list[dict[str, Any]]:
    order = list(BUDGET_WINDOWS.values())
    return sorted(budgets, key=lambda b: order.index(b["window"]) if b["window"] in order else len(order))


def _location_key(loc: Location) -> LocationKey:
    return _key_of(loc.city, loc.state, loc.country)


def _key_of(city: str, state: str | None, country: str) -> LocationKey:
    return (city.strip().casefold(), (state or "").strip().casefold(), country.strip().casefold())


def _pick_location(items: list[dict[str, Any]], loc: Location) -> str | None:
    """The first suggestion, preferring one in the posting's state when it names one."""
    if loc.state:
        state = loc.state.strip().casefold()
        for item in items:
            if str(item.get("stateProvince") or "").casefold() == state and item.get("locationId"):
                return str(item["locationId"])
    for item in items:
        if item.get("locationId"):
            return str(item["locationId"])
    return None


def job_spec(job: SorceJob | Mapping[str, Any]) -> dict[str, Any]:
    """A Job read back in the shape `render` gives: no server ids, no read-only fields."""
    return {
        "title": _text(job.get("title")),
        "description": _text(job.get("description")),
        "remoteOption": job.get("remoteOption"),
        "remoteCountry": job.get("remoteCountry"),
        "jobType": job.get("jobType"),
        "jobLevel": job.get("jobLevel"),
        "salaryMin": job.get("salaryMin"),
        "salaryMax": job.get("salaryMax"),
        "salaryPeriod": job.get("salaryPeriod"),
        "bidPerQualifiedApplicantCents": job.get("bidPerQualifiedApplicantCents"),
        "locations": _sorted_locations(_observed_location(loc) for loc in job.get("locations") or []),
        "qualifications": [
            {"text": _text(q.get("text")), "kind": q.get("kind")}
            for q in sorted(job.get("qualifications") or [], key=_order)
        ],
        "questions": [
            {"prompt": _text(q.get("prompt")), "options": [_option(o) for o in q.get("options") or []]}
            for q in sorted(job.get("questions") or [], key=_order)
        ],
        "budgets": _sorted_budgets(
            {"window": b.get("window"), "budgetCents": b.get("budgetCents"), "notes": _note(b.get("notes"))}
            for b in job.get("budgets") or []
        ),
    }


def _order(item: Mapping[str, Any]) -> int:
    order = item.get("order")
    return order if isinstance(order, int) else 0


def _option(option: Any) -> Any:
    if isinstance(option, Mapping):  # tolerate options returned as objects
        return _text(option.get("text") or option.get("label"))
    return _text(option)


def _observed_location(loc: Mapping[str, Any]) -> dict[str, Any]:
    if loc.get("locationId"):
        return {"locationId": loc["locationId"]}
    return {"city": loc.get("city"), "stateProvince": loc.get("stateProvince"), "country": loc.get("country")}


def _remote(job: SorceJob) -> Remote:
    counts = job.get("applicationCounts") or {}
    return Remote(
        remote_id=job["id"],
        status=STATUSES.get(str(job.get("status")), "draft"),
        spec=job_spec(job),
        frozen_fields=FROZEN_FIELDS if job.get("isFrozen") else frozenset(),
        expires_at=_datetime(job.get("expiresAt")),
        applications=sum(v for v in counts.values() if isinstance(v, int)),
    )


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _same_content(observed: Spec, wanted: Spec) -> bool:
    return all(observed.get(f) == wanted.get(f) for f in MATCH_FIELDS)


# ------------------------------------------------------------------------------ errors


def _envelope(response: httpx.Response) -> tuple[str | None, str, dict[str, str]]:
    """(code, message, fields) from ``{"error": {code, message, fields}}``; the raw body,
    cut short, when the board answered something else."""
    try:
        error = response.json()["error"]
        code = str(error.get("code")) if error.get("code") else None
        message = excerpt(str(error.get("message") or response.reason_phrase))
        fields = {str(k): excerpt(str(v)) for k, v in (error.get("fields") or {}).items()}
        return code, message, fields
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, excerpt(response.text or response.reason_phrase), {}


def _gate_message(gate: str, message: str) -> str:
    what = {
        "terms": "accept the current Employer Terms in the Sorce dashboard",
        "payment": "add a payment method in the Sorce dashboard",
        "credentials": "check the Sorce service key (providers.sorce.api_key)",
    }[gate]
    return f"{message} A person must {what}."

