"""Sorce: jobs with a lifecycle, publish gates, 30-day expiry and frozen fields.

The spec (what `render` gives and `observe` reads back) uses Sorce's own field names and
words, normalised: text stripped, locations as sorted ids, qualifications and questions in
their order (``order`` their position) without server ids, budgets sorted by window. An
unchanged posting renders identically, and a job nobody touched observes as what was rendered
in all that Sorce shows back: a read shows no qualification ``kind`` and no budget ``window``
(`NOT_SHOWN_BACK`), which the planner compares with what was last sent instead. Without their
windows, budgets read back are compared with the board as a set, whatever order it lists them
in (`SorceConnector.shown_back`).

Every answer is read through its documented model (`SorceJob`, `SorcePage`, `SorceSearch`)
before anything is believed; see `boardsync.connectors.answers`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator

from boardsync.config.model import (
    EmploymentType,
    Level,
    Location,
    Model,
    Posting,
    QualificationKind,
    SalaryPeriod,
    Status,
    Workplace,
)
from boardsync.connectors import decided
from boardsync.connectors.answers import Answer, UtcDateTime
from boardsync.connectors.base import (
    NO_FIELDS, BoardProblem, NotAPosting, Remote, RemoteStatus, Spec, Transition, Unrenderable,
)
from boardsync.connectors.http import HttpConnector, RateLimiter, excerpt, retry_after_header
from boardsync.errors import Blocked, ProviderError, Rejected
from boardsync.log import get_logger

if TYPE_CHECKING:
    import httpx

log = get_logger("boardsync.connectors.sorce", provider="sorce")

# ------------------------------------------------------------------------------ config


class SorceSettings(Model):
    """How to reach Sorce's external API."""

    api_key: SecretStr = Field(description="Service key, as a reference: ${SORCE_API_KEY}.")
    base_url: str = Field("https://www.sorce.jobs/api/external/v1", description="API base URL.")
    requests_per_minute: int = Field(60, ge=1, description="Client-side limit; Sorce allows 60.")


class BudgetWindow(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    LIFETIME = "lifetime"


class Budget(Model):
    """A cap on Sorce spend over one window."""

    window: BudgetWindow = Field(description="daily, weekly, monthly or lifetime; one per window.")
    cents: Annotated[int, Field(ge=0, description="Spend cap in cents.")]
    notes: str | None = Field(None, description="A note shown beside the budget on Sorce.")


class SorceBoard(Model):
    """Sorce-only values. Naming `sorce:` under `boards:` publishes the posting there."""

    bid_cents: int | None = Field(
        None, ge=0, description="Bid per qualified applicant, in cents (Sorce requires > 0 to publish)."
    )
    budgets: list[Budget] = Field(default_factory=list, description="Spend caps, one per window.")
    level: Literal["entry", "mid", "senior"] | None = Field(
        None, description="Overrides `level` on Sorce."
    )

    @field_validator("budgets")
    @classmethod
    def _one_budget_per_window(cls, budgets: list[Budget]) -> list[Budget]:
        windows = [b.window for b in budgets]
        if len(windows) != len(set(windows)):
            raise ValueError("one budget per window")
        return budgets


def section(posting: Posting) -> SorceBoard | None:
    """The posting's ``boards.sorce``, or None when it does not name Sorce."""
    return posting.boards.section(SorceConnector.name, SorceBoard)


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
STATUS_CODES: dict[RemoteStatus, str] = {status: code for code, status in STATUSES.items()}
TERMINAL: frozenset[RemoteStatus] = frozenset({"closed", "expired"})
FROZEN_FIELDS = frozenset({"qualifications", "questions"})
"""What a job with applications no longer lets change (JOB_FROZEN). [doc]"""
NOT_SHOWN_BACK = {"qualifications": frozenset({"kind"}), "budgets": frozenset({"window"})}
"""Sent, but not in the Job a read answers: the documented response example shows
qualifications as ``{text, order, id}`` and budgets as ``{budgetCents, notes}``. [doc]
The planner compares these with what was last sent, never with a read."""

REGION_NAMES: dict[str, dict[str, str]] = {
    "united states": {
        "al": "alabama", "ak": "alaska", "az": "arizona", "ar": "arkansas", "ca": "california",
        "co": "colorado", "ct": "connecticut", "de": "delaware", "dc": "district of columbia",
        "fl": "florida", "ga": "georgia", "hi": "hawaii", "id": "idaho", "il": "illinois",
        "in": "indiana", "ia": "iowa", "ks": "kansas", "ky": "kentucky", "la": "louisiana",
        "me": "maine", "md": "maryland", "ma": "massachusetts", "mi": "michigan", "mn": "minnesota",
        "ms": "mississippi", "mo": "missouri", "mt": "montana", "ne": "nebraska", "nv": "nevada",
        "nh": "new hampshire", "nj": "new jersey", "nm": "new mexico", "ny": "new york",
        "nc": "north carolina", "nd": "north dakota", "oh": "ohio", "ok": "oklahoma", "or": "oregon",
        "pa": "pennsylvania", "ri": "rhode island", "sc": "south carolina", "sd": "south dakota",
        "tn": "tennessee", "tx": "texas", "ut": "utah", "vt": "vermont", "va": "virginia",
        "wa": "washington", "wv": "west virginia", "wi": "wisconsin", "wy": "wyoming",
        "pr": "puerto rico",
    },
    "canada": {
        "ab": "alberta", "bc": "british columbia", "mb": "manitoba", "nb": "new brunswick",
        "nl": "newfoundland and labrador", "ns": "nova scotia", "nt": "northwest territories",
        "nu": "nunavut", "on": "ontario", "pe": "prince edward island", "qc": "quebec",
        "sk": "saskatchewan", "yt": "yukon",
    },
}
"""Postal abbreviations of states and provinces, by country (folded), so that ``Denver, CO``
and a job showing ``Denver, Colorado`` are one place (one search, then none)."""

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
RENDERS = {
    "workplace": ("remoteOption",),
    "remote_country": ("remoteCountry",),
    "employment_type": ("jobType",),
    "level": ("jobLevel",),
    "salary": ("salaryMin", "salaryMax", "salaryPeriod"),
    "bid_cents": ("bidPerQualifiedApplicantCents",),
}
"""The posting's fields (and the section's) whose spec fields are named otherwise."""
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
NOT_FOUND = "NOT_FOUND"
"""The code of the 404 for "no such job for this key"; only it says a job is gone."""
COMPANY_GATES = {
    "AGREEMENT_OUTDATED": "terms",
    "PAYMENT_METHOD_REQUIRED": "payment",
    "INVALID_SERVICE_KEY": "credentials",
}


# ------------------------------------------------------------------------------ answers [doc]
# What each documented response must look like before anything is believed (see answers.py).

SorceStatus = Literal["DRAFT", "ACTIVE", "PAUSED", "CLOSED", "EXPIRED"]


class SorceLocation(Answer):
    """A place, as a job and a location search show it."""

    locationId: str | None = None
    displayName: str | None = None
    city: str | None = None
    stateProvince: str | None = None
    country: str | None = None


class SorceQualification(Answer):
    """Shown back as ``{text, order, id}``: ``kind`` only when the board chooses to."""

    text: str
    order: int | None = None
    kind: str | None = None
    id: str | None = None


class SorceQuestion(Answer):
    prompt: str
    order: int | None = None
    options: list[str] = []
    id: str | None = None


class SorceBudget(Answer):
    """Shown back as ``{budgetCents, notes}``: ``window`` only when the board chooses to."""

    budgetCents: int
    notes: str | None = None
    window: str | None = None


class SorceCounts(Answer):
    pending: int = 0
    accepted: int = 0
    rejected: int = 0


class SorceJob(Answer):
    """A Job, "the full job, as the dashboard sees it". A draft may leave any content field
    null; ``id``, ``status`` and the ``title`` key are always there."""

    id: str
    status: SorceStatus
    title: str | None
    description: str | None = None
    remoteOption: Literal["REMOTE", "HYBRID", "IN_PERSON"] | None = None
    remoteCountry: str | None = None
    jobType: Literal["FULL_TIME", "PART_TIME", "CONTRACT", "INTERNSHIP"] | None = None
    jobLevel: Literal["ENTRY", "MID", "SENIOR"] | None = None
    salaryMin: int | None = None
    salaryMax: int | None = None
    salaryPeriod: Literal["ANNUAL", "HOURLY"] | None = None
    bidPerQualifiedApplicantCents: int | None = None
    locations: list[SorceLocation] = []
    qualifications: list[SorceQualification] = []
    questions: list[SorceQuestion] = []
    budgets: list[SorceBudget] = []
    applicationCounts: SorceCounts = SorceCounts()
    isFrozen: bool = False
    expiresAt: UtcDateTime | None = None


class SorcePage(Answer):
    """One page of ``GET /jobs``. [decided: the names, see decided.py] ``nextCursor`` must be
    there: null is the last page, and a page without it is malformed, never taken as the last
    (the jobs after it would go unseen, and a lost create be sent again)."""

    items: list[SorceJob] = Field(alias=decided.SORCE_LIST_ITEMS)
    nextCursor: str | None = Field(alias=decided.SORCE_LIST_NEXT)


class SorceSearch(Answer):
    """``GET /locations/search``."""

    items: list[SorceLocation]


LocationKey = tuple[str, str, str]
"""(city, state, country), case-folded: one location search per distinct key."""


def sorce_retry_after(response: httpx.Response) -> float | None:
    """Seconds Sorce asks to wait: ``retryAfterSeconds`` [doc] at the first of its places in
    the body that holds a number (`decided.SORCE_RETRY_AFTER_PLACES`), else the ``Retry-After``
    header."""
    try:
        body = response.json()
    except ValueError:
        return retry_after_header(response)
    for place in decided.SORCE_RETRY_AFTER_PLACES:
        seconds = _seconds_at(body, place)
        if seconds is not None:
            return seconds
    return retry_after_header(response)


def _seconds_at(body: Any, place: Sequence[str]) -> float | None:
    """The number of seconds at `place` (a path of member names) in `body`, or None."""
    value = body
    for name in place:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    try:
        return max(float(value), 0.0)
    except (ValueError, TypeError):
        return None


class SorceConnector(HttpConnector):
    """Sorce's external API v1 (see the provider page for every fact relied on)."""

    name: ClassVar[str] = "sorce"
    Settings = SorceSettings
    Section = SorceBoard
    SETTINGS_HELP = "Sorce: service key and API address."
    SECTION_HELP = "Publish on Sorce (`sorce: {}` for no extra values)."
    KEY_SHAPES = {"sk_ext_": r"[A-Za-z0-9_-]{6,}"}  # Bearer sk_ext_… [doc]
    SUPPORTS_JOBS = True
    SUPPORTS_EXPIRY = True
    NAMES_ITS_POSTINGS = False  # a Job has no client reference field [doc]
    STATUS_PAGE = decided.SORCE_PAGE_SIZE
    NOT_SHOWN_BACK = NOT_SHOWN_BACK
    RENDERS = RENDERS

    def __init__(self, settings: SorceSettings, client: httpx.Client, **http: Any) -> None:
        super().__init__(settings, client, **http)
        self._locations: dict[LocationKey, str | None] = {}
        self._places: dict[str, SorceLocation] = {}
        """Each locationId a read showed, with its name as shown: how `as_posting` names it."""

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
        board = section(posting)
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
            "locations": _sorted_locations(
                self._location_ref(loc, closing=posting.status is Status.CLOSED) for loc in posting.locations
            ),
            # `order` as the documented create example carries it: the position in the list.
            "qualifications": [
                {"text": _text(q.text), "kind": QUALIFICATION_KINDS[q.kind], "order": i}
                for i, q in enumerate(posting.qualifications)
            ],
            "questions": [
                {"prompt": _text(q.prompt), "options": [_text(o) for o in q.options], "order": i}
                for i, q in enumerate(posting.questions)
            ],
            "budgets": _sorted_budgets(
                {"window": BUDGET_WINDOWS[b.window], "budgetCents": b.cents, "notes": _note(b.notes)}
                for b in (board.budgets if board else [])
            ),
        }

    def shown_back(self, name: str, value: Any) -> Any:
        """What a read shows of a field. Budgets come back without their window, so the order
        the board lists them in says nothing of which is which: they are compared as a set
        (and their windows, with the amounts they go with, against what was last sent)."""
        shown = super().shown_back(name, value)
        if name == "budgets" and isinstance(shown, list):
            return sorted(shown, key=_budget_key)
        return shown

    def not_shown_back(self, name: str, value: Any) -> Any:
        """Budgets: the window of each amount, which is known only together with its amount:
        the budgets as sent, whole."""
        return value if name == "budgets" else super().not_shown_back(name, value)

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
            if section(posting) is not None
            for loc in posting.locations
            if loc.sorce_location_id is None
        }
        for key, loc in wanted.items():
            if key not in self._locations:
                self._locations[key] = self._search_location(loc)

    def learned(self) -> dict[str, Any]:
        """The cities looked up or seen on jobs, each with the locationId Sorce gave it (null:
        a city the search did not find)."""
        return {"locations": [[*key, found] for key, found in sorted(self._locations.items(), key=lambda item: item[0])]}

    def recall(self, learned: Mapping[str, Any]) -> None:
        for city, state, country, found in learned.get("locations", []):
            self._locations.setdefault((city, state, country), found)

    def observe(self) -> list[Remote]:
        remotes = []
        for job in self._jobs():  # a page at a time: each page's jobs go once made Remotes
            self._learn_locations((job,))
            remotes.append(_remote(job))
        return remotes

    def _learn_locations(self, jobs: Sequence[SorceJob]) -> None:
        """Remember the locationId of every city the jobs already show, so that `prepare`
        searches only for places no job has yet: a steady cycle then costs no search. Only
        the exact (city, state, country) is learned, a state written as its abbreviation
        (``CO``) being the same state; a posting that leaves out the state is still searched,
        since the board's first suggestion may be another city of that name."""
        for job in jobs:
            for place in job.locations:
                if place.city and place.country and place.locationId:
                    key = _key_of(place.city, place.stateProvince, place.country)
                    self._locations.setdefault(key, place.locationId)
                    self._places.setdefault(place.locationId, place)

    def find(self, posting: Posting, spec: Spec) -> Remote | None:
        """The newest live job that is this posting (`identity`: title and place) with the
        content of `spec`; a closed or expired match is an older job, not the one a lost
        create made. It reads every page and knows no bindings: a run settles a lost create
        from what `observe` read instead, skipping jobs bound to other postings."""
        wanted = self.identity(spec)
        for job in self._jobs():
            remote = _remote(job)
            found = remote.spec
            if remote.status in TERMINAL or self.identity(found) != wanted:
                continue
            if _same_content(found, spec):
                log.info("create_found", remote_id=remote.remote_id, posting=posting.key)
                return remote
        return None

    def in_status(self, status: RemoteStatus) -> list[Remote]:
        """``GET /jobs?status=``, every page."""
        return [_remote(job) for job in self._jobs(STATUS_CODES[status])]

    def lost_candidates(self) -> list[Remote]:
        """The jobs of each status a create leaves a job in (a draft, or live when published),
        each status listed on its own: whether ``GET /jobs`` asked for no status shows every
        status is not documented, and a draft it hid would be created again."""
        return [remote for code in decided.SORCE_CREATED_STATUSES for remote in self.in_status(STATUSES[code])]

    def read(self, remote_id: str) -> Remote | None:
        """``GET /jobs/{id}``; None only when Sorce answers 404 with its code NOT_FOUND (no such
        job for this key). A 404 without that code (a proxy's page, a route the API does not
        have) says nothing of the job: taken as gone, the job would be created again."""
        path = decided.SORCE_JOB_PATH.format(id=remote_id)
        try:
            response = self._call("GET", path)
        except Rejected as exc:
            if exc.status != 404:
                raise
            if exc.code == NOT_FOUND:
                return None
            raise _not_a_missing_job(exc) from exc
        return _remote(self._job(response, f"GET {path}"))

    def identity(self, spec: Spec) -> tuple[str, tuple[Any, ...]]:
        """The title with case and spacing folded, and the place: the remote country of a
        remote job, else the set of its locations. Sorce keeps no reference of ours, so this
        is how a job is known as a posting's when no binding says so."""
        return _folded(spec.get("title")), _place(spec)

    def label(self, spec: Spec) -> tuple[str | None, str | None]:
        """The title, and the place: the remote country, else each location by the name a
        job of this run showed for its id (the id itself when none did)."""
        title = spec.get("title")
        if spec.get("remoteOption") == WORKPLACES[Workplace.REMOTE]:
            country = spec.get("remoteCountry")
            return (str(title) if title else None, f"remote ({country})" if country else "remote")
        names = {found: key for key, found in self._locations.items() if found}
        places = [_place_name(loc, names) for loc in spec.get("locations") or [] if isinstance(loc, Mapping)]
        return (str(title) if title else None, "; ".join(places) or None)

    def as_posting(self, remote: Remote) -> dict[str, Any]:
        """A Job in the posting's words (`render` reversed). What a read does not show is
        written as the board takes it when not sent: each qualification as required, and
        budgets (shown without their window) are left to the board with ``ignore: [budgets]``
        under ``boards.sorce``. Salaries are in dollars (`SORCE_CURRENCY`). A location is
        written with the name a read showed and its ``sorce_location_id``."""
        spec = remote.spec
        board: dict[str, Any] = {}
        if spec.get("bidPerQualifiedApplicantCents") is not None:
            board["bid_cents"] = spec["bidPerQualifiedApplicantCents"]
        if spec.get("budgets"):
            board["ignore"] = ["budgets"]
        return {
            "title": _needed(spec, "title"),
            "description": _needed(spec, "description"),
            "status": "closed" if remote.status == "expired" else remote.status,
            "workplace": _reverse(WORKPLACES, spec, "remoteOption").value,
            **({"remote_country": spec["remoteCountry"]} if spec.get("remoteCountry") else {}),
            **({"locations": [self._location_words(loc) for loc in spec["locations"]]} if spec.get("locations") else {}),
            "employment_type": _reverse(JOB_TYPES, spec, "jobType").value,
            "level": _reverse(LEVELS, spec, "jobLevel").value,
            **_salary_words(spec),
            "qualifications": [_qualification_words(q) for q in spec.get("qualifications") or []],
            "questions": [{"prompt": q["prompt"], "options": list(q["options"])} for q in spec.get("questions") or []],
            "boards": {self.name: board},
        }

    def _location_words(self, loc: Mapping[str, Any]) -> dict[str, Any]:
        if not loc.get("locationId"):  # kept as typed: sent back as typed, with no id
            city, country = loc.get("city"), loc.get("country")
            if not city or not country:
                raise NotAPosting("sorce shows a location with no city or country")
            return {"city": city, "country": country, **({"state": loc["stateProvince"]} if loc.get("stateProvince") else {})}
        place = self._places.get(str(loc["locationId"]))
        if place is None or not place.city or not place.country:
            raise NotAPosting(f"sorce showed no name for location {loc['locationId']}")
        state = {"state": place.stateProvince} if place.stateProvince else {}
        return {"city": place.city, **state, "country": place.country, "sorce_location_id": str(loc["locationId"])}

    # -- writes ----------------------------------------------------------------------------

    def create(self, posting: Posting, spec: Spec, *, publish: bool) -> Remote:
        """``POST /jobs``; with `publish`, the gates run and the job is ACTIVE or not created."""
        body = {k: v for k, v in spec.items() if v is not None}
        response = self._call("POST", "/jobs", json={**body, "publish": publish})
        return _remote(self._created(response))

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
        return self._written(remote, response, f"PATCH {path}")

    def transition(self, remote: Remote, action: Transition) -> Remote:
        path = decided.SORCE_TRANSITION_PATH.format(id=remote.remote_id, action=action)
        try:
            response = self._call("POST", path)
        except Rejected as exc:
            if exc.code != "INVALID_TRANSITION":
                raise
            return self._settle_transition(remote, action, exc)
        return self._written(remote, response, f"POST {path}")

    def _written(self, remote: Remote, response: httpx.Response, call: str) -> Remote:
        """The job after a write the board took (a 2xx): read from the answer when it is a Job.
        That a PATCH, pause, resume or close answers with the Job is not documented: an answer
        without one (no body, ``{}``, another shape) does not undo a change the board made, and
        the job is read again by id instead, once."""
        try:
            return _remote(SorceJob.model_validate_json(response.content))
        except ValidationError:
            log.info("write_answered_without_a_job", call=call, remote_id=remote.remote_id)
        path = decided.SORCE_JOB_PATH.format(id=remote.remote_id)
        return _remote(self._job(self._call("GET", path), f"GET {path}"))

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
        if code in COMPANY_GATES or status in (401, 402):
            gate = COMPANY_GATES.get(code or "", "payment" if status == 402 else "credentials")
            return Blocked(_gate_message(gate, message), gate=gate, company_wide=True, **kw)
        return Rejected(message, fields=fields, **kw)

    def _said(self, response: httpx.Response) -> tuple[str, str | None]:
        code, message, _ = _envelope(response)
        return message, code

    def _job(self, response: httpx.Response, call: str) -> SorceJob:
        return self._answer(SorceJob, response, call)

    def _created(self, response: httpx.Response) -> SorceJob:
        return self._created_answer(SorceJob, response, "POST /jobs")

    # -- helpers ---------------------------------------------------------------------------

    def _jobs(self, status: str | None = None) -> Iterator[SorceJob]:
        """Every job (of `status` only, when given), page by page, newest first; a caller may
        stop early."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {decided.SORCE_LIST_LIMIT_PARAM: decided.SORCE_PAGE_SIZE}
            if status is not None:
                params[decided.SORCE_LIST_STATUS_PARAM] = status
            if cursor:
                params[decided.SORCE_LIST_CURSOR_PARAM] = cursor
            page = self._call_answer(SorcePage, "GET", "/jobs", params=params)
            yield from page.items
            cursor = page.nextCursor
            if not cursor:
                return

    def _search_location(self, loc: Location) -> str | None:
        params = {"q": loc.city, "country": loc.country}
        items = self._call_answer(SorceSearch, "GET", "/locations/search", params=params).items
        chosen = _pick_location(items, loc)
        log.info("location_resolved", city=loc.city, country=loc.country, found=chosen is not None)
        return chosen

    def _location_ref(self, loc: Location, *, closing: bool) -> dict[str, Any]:
        """The location as sent: its id. A city search did not find refuses the posting,
        unless it is being closed (its content is never sent then: nothing to refuse)."""
        if loc.sorce_location_id:
            return {"locationId": loc.sorce_location_id}
        key = _location_key(loc)
        if key not in self._locations:
            raise LookupError(f"no Sorce location id is known for {loc.city!r} (its city search was not made)")
        found = self._locations[key]
        if found is None and closing:
            return {"city": loc.city, "stateProvince": loc.state, "country": loc.country}
        if found is None:
            # Sent as typed, Sorce would keep it on a draft and refuse it only at publish:
            # say so now, before anything is sent.
            raise Unrenderable(BoardProblem("locations", _unknown_place(loc)))
        return {"locationId": found}


# ------------------------------------------------------------------------------ reversing


def _needed(spec: Spec, name: str) -> Any:
    value = spec.get(name)
    if value is None or value == "":
        raise NotAPosting(f"sorce shows no {name}")
    return value


def _reverse(words: Mapping[Any, str], spec: Spec, name: str) -> Any:
    """The posting's value whose board word is `spec[name]`."""
    value = _needed(spec, name)
    found = next((ours for ours, theirs in words.items() if theirs == value), None)
    if found is None:
        raise NotAPosting(f"sorce's {name} {value!r} has no posting word")
    return found


def _salary_words(spec: Spec) -> dict[str, Any]:
    if spec.get("salaryMin") is None and spec.get("salaryMax") is None:
        return {}
    return {"salary": {
        "min": _needed(spec, "salaryMin"), "max": _needed(spec, "salaryMax"),
        "period": _reverse(SALARY_PERIODS, spec, "salaryPeriod").value, "currency": SORCE_CURRENCY,
    }}


def _qualification_words(item: Mapping[str, Any]) -> dict[str, Any]:
    preferred = item.get("kind") == QUALIFICATION_KINDS[QualificationKind.PREFERRED]
    return {"text": item["text"], **({"kind": "preferred"} if preferred else {})}


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
    board = section(posting)
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
    """By window; budgets read without one keep the board's order (which proves nothing: they
    are compared as a set, `SorceConnector.shown_back`)."""
    order = list(BUDGET_WINDOWS.values())
    return sorted(budgets, key=lambda b: order.index(b["window"]) if b.get("window") in order else len(order))


def _budget_key(budget: Any) -> tuple[int, str]:
    """A budget as read back (its amount and note), in an order of its own."""
    if not isinstance(budget, Mapping):
        return (-1, repr(budget))
    cents = budget.get("budgetCents")
    return (cents if isinstance(cents, int) else -1, str(budget.get("notes") or ""))


def _location_key(loc: Location) -> LocationKey:
    return _key_of(loc.city, loc.state, loc.country)


def _key_of(city: str, state: str | None, country: str) -> LocationKey:
    return (_folded(city), _region(state, country), _folded(country))


def _region(state: str | None, country: str | None) -> str:
    """A state or province, folded, its postal abbreviation spelled out: ``CO`` → ``colorado``
    in the United States, as Sorce's suggestions write it."""
    folded = _folded(state)
    return REGION_NAMES.get(_folded(country), {}).get(folded, folded)


def _pick_location(items: Sequence[SorceLocation], loc: Location) -> str | None:
    """The first suggestion that is the posting's city (and state, when it names one); None
    when there is none. A suggestion of another city or state is never taken for it."""
    state = _region(loc.state, loc.country)
    for item in items:
        if not item.locationId or _folded(item.city) != _folded(loc.city):
            continue
        if not state or _region(item.stateProvince, item.country or loc.country) == state:
            return item.locationId
    return None


def _unknown_place(loc: Location) -> str:
    place = ", ".join(p for p in (loc.city, loc.state, loc.country) if p)
    return (
        f"Sorce's location search does not know {place!r}, so Sorce would refuse it at publish; "
        "correct the city or give its sorce_location_id"
    )


def job_spec(job: SorceJob) -> dict[str, Any]:
    """A Job read back in the shape `render` gives: no server ids, no read-only fields, each
    list item's `order` its position (however the board counts), and a ``kind`` or
    ``window`` only when the board showed it."""
    return {
        "title": _text(job.title),
        "description": _text(job.description),
        "remoteOption": job.remoteOption,
        "remoteCountry": job.remoteCountry,
        "jobType": job.jobType,
        "jobLevel": job.jobLevel,
        "salaryMin": job.salaryMin,
        "salaryMax": job.salaryMax,
        "salaryPeriod": job.salaryPeriod,
        "bidPerQualifiedApplicantCents": job.bidPerQualifiedApplicantCents,
        "locations": _sorted_locations(_observed_location(loc) for loc in job.locations),
        "qualifications": [
            {"text": _text(q.text), **_shown("kind", q.kind), "order": i}
            for i, q in enumerate(_in_order(job.qualifications))
        ],
        "questions": [
            {"prompt": _text(q.prompt), "options": [_text(o) for o in q.options], "order": i}
            for i, q in enumerate(_in_order(job.questions))
        ],
        "budgets": _sorted_budgets(
            {**_shown("window", b.window), "budgetCents": b.budgetCents, "notes": _note(b.notes)}
            for b in job.budgets
        ),
    }


Ordered = TypeVar("Ordered", SorceQualification, SorceQuestion)


def _in_order(items: Sequence[Ordered]) -> list[Ordered]:
    return sorted(items, key=lambda item: item.order if item.order is not None else 0)


def _shown(name: str, value: str | None) -> dict[str, str]:
    return {name: value} if value is not None else {}


def _observed_location(loc: SorceLocation) -> dict[str, Any]:
    if loc.locationId:
        return {"locationId": loc.locationId}
    return {"city": loc.city, "stateProvince": loc.stateProvince, "country": loc.country}


def _remote(job: SorceJob) -> Remote:
    counts = job.applicationCounts
    return Remote(
        remote_id=job.id,
        status=STATUSES[job.status],
        spec=job_spec(job),
        frozen_fields=FROZEN_FIELDS if job.isFrozen else NO_FIELDS,
        expires_at=job.expiresAt,
        applications=counts.pending + counts.accepted + counts.rejected,
    )


def _same_content(observed: Spec, wanted: Spec) -> bool:
    return all(observed.get(f) == wanted.get(f) for f in MATCH_FIELDS)


# ------------------------------------------------------------------------------ identity


def _folded(value: Any) -> str:
    """Text compared as a person reads it: case and runs of spaces do not count."""
    return " ".join(str(value or "").split()).casefold()


def _place(spec: Spec) -> tuple[Any, ...]:
    if spec.get("remoteOption") == WORKPLACES[Workplace.REMOTE]:
        return ("remote", _folded(spec.get("remoteCountry")))
    places = frozenset(_place_of(loc) for loc in spec.get("locations") or [] if isinstance(loc, Mapping))
    return ("at", tuple(sorted(places)))


def _place_name(loc: Mapping[str, Any], names: Mapping[str, LocationKey]) -> str:
    """A location for a person: its learned name (folded, so in title case), else as typed."""
    known = names.get(str(loc.get("locationId")))
    parts = known if known is not None else (loc.get("city"), loc.get("stateProvince"), loc.get("country"))
    shown = ", ".join(str(p).title() if known is not None else str(p) for p in parts if p)
    return shown or str(loc.get("locationId") or "?")


def _place_of(loc: Mapping[str, Any]) -> tuple[str, ...]:
    """A location by its Sorce id, or as typed (city, state, country) when it has none."""
    if loc.get("locationId"):
        return ("id", str(loc["locationId"]))
    return ("typed", _folded(loc.get("city")), _folded(loc.get("stateProvince")), _folded(loc.get("country")))


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


def _not_a_missing_job(refused: Rejected) -> Rejected:
    """A 404 that did not carry NOT_FOUND, as an error of its own call (not counted again)."""
    return Rejected(
        f"the 404 did not carry NOT_FOUND, so the job is not taken as gone; the answer: {refused.reason}",
        provider=refused.provider, call=refused.call, status=refused.status, code=refused.code,
    )


def _gate_message(gate: str, message: str) -> str:
    what = {
        "terms": "accept the current Employer Terms in the Sorce dashboard",
        "payment": "add a payment method in the Sorce dashboard",
        "credentials": "check the Sorce service key (providers.sorce.api_key)",
    }[gate]
    return f"{message} A person must {what}."

