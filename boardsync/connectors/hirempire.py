"""Hirempire: jobs with free status changes, one tracked source URL per channel, applicants.

Hirempire answers in other words than it takes (``Full-time`` in, ``full-time`` out; key
``workplace`` in, ``job_mode`` out). The spec is in the *input* words, exactly the add-job body
minus ``company_id``, ``job_sources`` and ``status``; `observe` translates each Job back into
them, so the planner compares like with like and a change is an update-job body as it is.

A posting's job carries ``public_slug = "bs-" + key``: the board's own handle on the posting,
so `observe` knows which posting a job is, and `find` after a lost create is a slug lookup.

Every answer is read through its documented model (`HirempireJobs`, `HirempireAdded`, …)
before anything is believed; see `boardsync.connectors.answers`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr

from boardsync.config.model import (
    EmploymentType,
    Level,
    Model,
    Posting,
    SalaryPeriod,
    Status,
    Workplace,
)
from boardsync.connectors import decided
from boardsync.connectors.answers import Answer
from boardsync.connectors.base import (
    BoardEvent,
    BoardProblem,
    Channel,
    NotAPosting,
    Remote,
    RemoteStatus,
    Spec,
    Transition,
    Webhook,
    encode_spec,
)
from boardsync.connectors.http import HttpConnector, RateLimiter, excerpt
from boardsync.errors import Ambiguous, Blocked, ProviderError, Rejected
from boardsync.log import get_logger

if TYPE_CHECKING:
    import httpx

log = get_logger("boardsync.connectors.hirempire", provider="hirempire")

# ------------------------------------------------------------------------------ config


class HirempireSettings(Model):
    """How to reach Hirempire's API, and for which company."""

    token: SecretStr = Field(description="API token, as a reference: ${cred:hirempire}.")
    company_id: str = Field(min_length=1, description="The company the jobs are posted for.")
    base_url: str = Field("https://api.hirempire.com/v1", description="API base URL.")
    requests_per_hour: int = Field(
        100, ge=1, description="Your plan's hourly limit: Free 100, Starter 500, Pro 1000, Premium 5000."
    )


class HirempireBoard(Model):
    """Hirempire-only values. Naming `hirempire:` under `boards:` posts it there."""

    department: str | None = Field(
        None, description="Overrides `department` with one of Hirempire's department names."
    )
    career_level: str | None = Field(
        None,
        description="Hirempire career level (Junior, Mid-level, Senior, Team Leader, Manager, "
        "Director, VP, C-level); defaults from `level`.",
    )
    industry: str | None = Field(None, description="Free text industry shown on Hirempire.")
    public_slug: str | None = Field(
        None, min_length=1, max_length=200,
        description="The job's public_slug (its public address); default bs-KEY. `boardsync import` keeps "
        "the slug of a job made elsewhere here, so its address does not change.",
    )

    def handle(self, key: str) -> tuple[str | None, str]:
        """The job's public_slug, which Hirempire holds unique [decided] and boardsync finds
        the job by: the one given here, else ``bs-KEY`` (see `config.model.BoardRules.handle`)."""
        return ("public_slug", self.public_slug) if self.public_slug else (None, slug_for(key))


def section(posting: Posting) -> HirempireBoard | None:
    """The posting's ``boards.hirempire``, or None when it does not name Hirempire."""
    return posting.boards.section(HirempireConnector.name, HirempireBoard)


# ------------------------------------------------------------------------------ words [doc]

DEPARTMENTS = (
    "Accounting/Auditing", "Administrative", "Advertising", "Analyst", "Art/Creative",
    "Business Development", "Consulting", "Customer Service", "Design", "Distribution",
    "Education", "Engineering", "Finance", "Health Care Provider", "Human Resources",
    "Information Technology", "Legal", "Management", "Manufacturing", "Marketing",
    "Product Management", "Project Management", "Production", "Public Relations", "Purchasing",
    "Quality Assurance", "Research", "Sales", "Science", "Strategy/Planning", "Supply Chain",
    "Training", "Operations", "Other",
)
CAREER_LEVELS = ("Junior", "Mid-level", "Senior", "Team Leader", "Manager", "Director", "VP", "C-level")
LEVEL_DEFAULTS = {Level.ENTRY: "Junior", Level.MID: "Mid-level", Level.SENIOR: "Senior"}
SALARY_PERIODS = {
    SalaryPeriod.HOUR: "Per hour",
    SalaryPeriod.DAY: "Per day",
    SalaryPeriod.WEEK: "Per week",
    SalaryPeriod.TWO_WEEKS: "Bi-weekly",
    SalaryPeriod.MONTH: "Per month",
    SalaryPeriod.YEAR: "Per year",
}
JOB_TYPES = {
    EmploymentType.FULL_TIME: "Full-time",
    EmploymentType.PART_TIME: "Part-time",
    EmploymentType.CONTRACT: "Contract",
    EmploymentType.FREELANCE: "Freelance",
    EmploymentType.INTERNSHIP: "Internship",
    EmploymentType.TEMPORARY: "Temporary",
    EmploymentType.PROJECT_BASED: "Project-based",
}
WORKPLACES = {Workplace.ON_SITE: "On-site", Workplace.REMOTE: "Remote", Workplace.HYBRID: "Hybrid"}


@functools.lru_cache(maxsize=256)  # asked for each job of every read, of a few distinct words
def _folded_word(word: str) -> str:
    """A word as the board may write it back, folded: case, spaces, hyphens and underscores
    do not count (``Per year``, ``per-year`` and ``PER_YEAR`` are one word)."""
    return re.sub(r"[\s_-]+", "", word).casefold()


# Output word → input word: what `observe` uses to read a Job back in the spec's words.
JOB_TYPE_INPUT = {word.lower(): word for word in JOB_TYPES.values()}
DEPARTMENT_INPUT = {_folded_word(word): word for word in DEPARTMENTS}
SALARY_PERIOD_INPUT = {_folded_word(word): word for word in SALARY_PERIODS.values()}
"""The words a department and a pay period are sent in, by their folded form: the documents
give no output words for these two, so whatever case or spacing the board writes them back
in reads as the word sent (a Job answering ``per year`` is not an edit of ``Per year``)."""
WORKPLACE_INPUT = {"onsite": "On-site", "remote": "Remote", "hybrid": "Hybrid"}
CAREER_LEVEL_INPUT = {word.lower().replace(" ", "-"): word for word in CAREER_LEVELS}

STATUSES: dict[str, RemoteStatus] = {"draft": "draft", "active": "active", "paused": "paused", "closed": "closed"}
STATUS_INPUT: dict[Transition, str] = {
    "publish": "Active", "resume": "Active", "pause": "Paused", "close": "Closed", "unpublish": "Pending",
}
STATUS_OUTPUT = {"pending": "draft", "hired": "closed"}
"""The input words that read otherwise once lower-cased (``Pending``, ``Hired``), as the output
words they stand for."""

SPEC_FIELDS = (
    "job_title",
    "job_description",
    "department",
    "job_country",
    "city",
    "salary",
    "currency",
    "salary_period",
    "hide_salary",
    "job_type",
    "workplace",
    "career_level",
    "industry",
    "public_slug",
)

MISSING_FIELD = re.compile(r"^Missing required field: (\w+)")
INVALID_FIELD = re.compile(r"^Invalid (\w+):")


# ------------------------------------------------------------------------------ answers [doc]
# What each documented response must look like before anything is believed (see answers.py).

HirempireStatus = Literal["draft", "active", "paused", "closed"]


class HirempireSource(Answer):
    """A Source: ``{id, job_id, source_name, source_url, code, visits, created_at}``."""

    id: str
    source_name: str
    source_url: str
    visits: int = 0


class HirempireSources(Answer):
    count: int | None = None
    items: list[HirempireSource] = []


class HirempireJob(Answer):
    """A Job as ``GET /jobs`` shows it (in output words); the content fields boardsync reads."""

    id: str
    job_title: str
    status: HirempireStatus
    job_description: str | None = None
    public_slug: str | None = None
    department: str | None = None
    industry: str | None = None
    career_level: str | None = None
    job_type: str | None = None
    job_mode: str | None = None
    job_location: str | None = None
    salary_min: float | None = None
    salary_max: float | None = None
    currency: str | None = None
    salary_period: str | None = None
    is_salary_hidden: bool = False
    sources: HirempireSources = HirempireSources()
    applicants: int = 0


class HirempireJobs(Answer):
    """``GET /jobs``: ``{success, total_jobs, jobs}``."""

    jobs: list[HirempireJob]


class HirempireOneJob(Answer):
    """``GET /get-job``: ``{success, job}``."""

    job: HirempireJob


class HirempireApplication(Answer):
    """One of add-job's ``applications``: a source made from ``job_sources``."""

    id: str
    source: str
    application_url: str


def _output_word(word: object) -> object:
    """A status in the board's input words (``Paused``, ``Pending``) as the output word it stands
    for; anything else as it is, for the model to take or refuse."""
    return STATUS_OUTPUT.get(word.lower(), word.lower()) if isinstance(word, str) else word


AnsweredStatus = Annotated[HirempireStatus, BeforeValidator(_output_word)]
"""A status a write answers: which words it comes in is not documented, so the input words are
read too, as the output words they stand for; a word of neither set is not believed."""


class HirempireAdded(Answer):
    """add-job: ``{success, job_id, job_status, total_applications, applications}``."""

    job_id: str
    job_status: AnsweredStatus | None = None
    applications: list[HirempireApplication] = []


class HirempireUpdated(Answer):
    """update-job answering a status change: ``{success, id, status}`` (see `AnsweredStatus`)."""

    id: str
    status: AnsweredStatus


class HirempireUpdateTaken(Answer):
    """update-job answering a change of fields: only that it was taken is needed (its status
    is not, whatever words it comes in)."""

    id: str


class HirempireSourceMade(Answer):
    """create-source: ``{success, source}``."""

    source: HirempireSource


class HirempireCandidate(Answer):
    job_id: str
    source: str | None = None


class HirempireCandidates(Answer):
    """``GET /candidates``: ``{success, total_candidates, candidates}``."""

    candidates: list[HirempireCandidate]


class HirempireWebhookMade(Answer):
    """create-webhook: ``{success, data: {id, events}}``."""

    class Data(Answer):
        id: str

    data: Data


class HirempireWebhook(Answer):
    """One of ``GET /webhooks``' webhooks. [decided: the documents show no answer]"""

    id: str
    request_url: str
    events: list[str] = []


class HirempireWebhooks(Answer):
    """``GET /webhooks``: ``{success, total_webhooks, webhooks}``. [decided]"""

    webhooks: list[HirempireWebhook]


JOB_EVENTS = frozenset({"job_added", "job_activated", "job_deactivated", "job_deleted"})
APPLICANT_EVENTS = frozenset({"applicant_applied"})
OTHER_EVENTS = frozenset({"cv_upload_completed", "meeting_booked"})
"""Hirempire's events [doc]; none of these says anything boardsync keeps."""


def read_event(body: Mapping[str, Any]) -> BoardEvent:
    """A webhook body in boardsync's words.

    The challenge is documented: ``{"challenge", "type": "url_verification"}``, answered with
    ``{"challenge"}``. The event names are documented, their bodies are not: the job is read
    from ``job_id`` beside ``type`` (`decided.HIREMPIRE_EVENT_JOB_ID`) when it is there. A job
    event without one, or a body that names no known event, is kind ``board``: a run of the
    whole board finds what changed, so a body in another shape still has its effect."""
    name = body.get("type")
    challenge = body.get("challenge")
    if name == "url_verification" and isinstance(challenge, str):
        return BoardEvent("challenge", name, reply={"challenge": challenge})
    if name in APPLICANT_EVENTS:
        return BoardEvent("applicants", str(name))
    if name in OTHER_EVENTS:
        return BoardEvent("other", str(name))
    job_id = body.get(decided.HIREMPIRE_EVENT_JOB_ID)
    if name in JOB_EVENTS and isinstance(job_id, str) and job_id:
        return BoardEvent("job", str(name), remote_id=job_id)
    return BoardEvent("board", name if isinstance(name, str) else "unreadable")


def slug_for(key: str) -> str:
    """The `public_slug` of a posting's job: deterministic, so a lost create can be found."""
    return decided.HIREMPIRE_SLUG_PREFIX + key


def key_from_slug(slug: str | None) -> str | None:
    """The posting key a slug stands for, or None for a job boardsync did not create."""
    prefix = decided.HIREMPIRE_SLUG_PREFIX
    if slug and slug.startswith(prefix) and len(slug) > len(prefix):
        return slug[len(prefix):]
    return None


class HirempireConnector(HttpConnector):
    """Hirempire's API v1 (see the provider page for every fact relied on)."""

    name: ClassVar[str] = "hirempire"
    Settings = HirempireSettings
    Section = HirempireBoard
    SETTINGS_HELP = "Hirempire: token, company and your plan's hourly request limit."
    SECTION_HELP = "Post on Hirempire, with one tracked source URL per channel."
    KEY_SHAPES = {"sk-": r"[A-Za-z0-9_-]{8,}"}  # tokens look like sk-… [doc]
    SUPPORTS_JOBS = True
    SUPPORTS_CHANNELS = True
    SUPPORTS_EVENTS = True
    EVENTS = ("job_activated", "job_deactivated", "job_deleted", "applicant_applied")
    """A job of ours changed status or went, or someone applied; `job_added` is left out:
    a job boardsync adds is bound by the run that adds it."""
    NAMES_ITS_POSTINGS = True  # public_slug = "bs-" + key
    RENDERS = {
        "title": ("job_title",),
        "description": ("job_description",),
        "workplace": ("workplace", "job_country", "city"),
        "remote_country": ("job_country",),
        "locations": ("job_country", "city"),
        "employment_type": ("job_type",),
        "level": ("career_level",),
        "salary": ("salary", "currency", "salary_period", "hide_salary"),
    }
    """The posting's fields whose spec fields are named otherwise (the section's
    `department`, `career_level` and `industry` keep their names)."""

    @staticmethod
    def default_limiter(settings: HirempireSettings, stop: threading.Event | None = None) -> RateLimiter:
        """The plan's hourly limit per workspace, sliding. [doc: per plan; sliding: decided]"""
        return RateLimiter(settings.requests_per_hour, 3600.0, stop=stop)

    # -- pure ------------------------------------------------------------------------------

    @classmethod
    def check(cls, posting: Posting) -> list[BoardProblem]:
        """Add-job's required fields and enums, whatever the posting's status."""
        problems = [*_department_problems(posting), *_career_level_problems(posting)]
        if posting.salary is None:
            problems.append(BoardProblem("salary", "Hirempire needs a salary (amount, currency and period)"))
        elif posting.salary.period not in SALARY_PERIODS:
            problems.append(BoardProblem("salary.period", "Hirempire has no word for this salary period"))
        if not _country(posting):
            field = "remote_country" if posting.workplace is Workplace.REMOTE else "locations"
            problems.append(BoardProblem(field, "Hirempire needs the job's country"))
        if not posting.channels and posting.status is not Status.CLOSED:  # a closed posting is never added
            problems.append(BoardProblem(
                "channels",
                "Hirempire needs at least one channel: add-job requires job_sources, one source per channel "
                "(e.g. channels: [careers-page])",
            ))
        return problems

    @classmethod
    def cannot_hold(cls, posting: Posting) -> list[BoardProblem]:
        """Hirempire keeps one salary amount and one place. [doc: the AddJob body]"""
        lost = []
        salary = posting.salary
        if salary is not None and salary.min < salary.max:
            lost.append(BoardProblem(
                "salary.min",
                f"hirempire keeps one salary amount; the range {salary.min}–{salary.max} is sent as {salary.max}",
                severity="warning",
            ))
        if posting.workplace is not Workplace.REMOTE and len(posting.locations) > 1:
            first, rest = posting.locations[0], len(posting.locations) - 1
            lost.append(BoardProblem(
                "locations[1]",
                f"hirempire keeps one place; only {first.city}, {first.country} is sent, "
                f"{rest} more left out",
                severity="warning",
            ))
        return lost

    def render(self, posting: Posting) -> dict[str, Any]:
        board = section(posting)
        salary = posting.salary
        place = posting.locations[0] if posting.workplace is not Workplace.REMOTE and posting.locations else None
        return {
            "job_title": _text(posting.title),
            "job_description": _text(posting.description),
            "department": _department(posting),
            "job_country": _text(_country(posting)),
            "city": _text(place.city) if place else None,
            # Hirempire takes one amount and shows it as both ends of the range [decided]:
            # the top of the posting's range is the number a candidate sees (see decided.py).
            "salary": salary.max if salary else None,
            "currency": salary.currency if salary else None,
            "salary_period": SALARY_PERIODS.get(salary.period) if salary else None,
            "hide_salary": salary.hidden if salary else False,
            "job_type": JOB_TYPES[posting.employment_type],
            "workplace": WORKPLACES[posting.workplace],
            "career_level": _career_level(posting),
            "industry": _text(board.industry) if board and board.industry else None,
            "public_slug": board.public_slug if board and board.public_slug else slug_for(posting.key),
        }

    def lifecycle(self, desired: str, observed: RemoteStatus) -> list[Transition]:
        """Any status may be set to any other in one call [doc], a draft (``Pending``) too."""
        if desired == observed:
            return []
        if desired == "draft":
            return ["unpublish"]
        if desired == "active":
            return ["resume"] if observed == "paused" else ["publish"]
        return {"paused": ["pause"], "closed": ["close"]}.get(desired, [])  # type: ignore[return-value]

    # -- reads -----------------------------------------------------------------------------

    def observe(self) -> list[Remote]:
        """Every job of the workspace, with its sources and visits: one request."""
        return [_remote(job) for job in self._jobs()]

    def find(self, posting: Posting, spec: Spec) -> Remote | None:
        slug = spec.get("public_slug") or slug_for(posting.key)
        return self._find_slug(str(slug))

    def handle(self, spec: Spec) -> str | None:
        """The job's public_slug: ``bs-KEY``, or the one a posting gives itself, which names
        no posting (`key_from_slug`) but is still the handle its create sent."""
        slug = spec.get("public_slug")
        return str(slug) if slug else None

    def read(self, remote_id: str) -> Remote | None:
        """``GET /get-job?job_id=``; None when Hirempire answers 404 "Job not found"."""
        try:
            answer = self._call_answer(HirempireOneJob, "GET", "/get-job", params={"job_id": remote_id})
        except Rejected as exc:
            if exc.status == 404:
                return None
            raise
        return _remote(answer.job)

    def label(self, spec: Spec) -> tuple[str | None, str | None]:
        """The job title, and the place: its city and country, else its workplace word."""
        title = spec.get("job_title")
        place = ", ".join(str(p) for p in (spec.get("city"), spec.get("job_country")) if p)
        return (str(title) if title else None, place or (str(spec["workplace"]) if spec.get("workplace") else None))

    def as_posting(self, remote: Remote) -> dict[str, Any]:
        """A Job in the posting's words (`render` reversed). The career level is always kept
        under ``boards.hirempire`` (a posting's `level` knows three of Hirempire's eight; for
        the others `level` is written as senior, which Hirempire is then never sent), and so
        is the job's slug, so its public address stays. The single salary amount is the
        range's both ends."""
        spec = remote.spec
        return {
            "title": _needed(spec, "job_title"),
            "description": _needed(spec, "job_description"),
            "status": "closed" if remote.status == "expired" else remote.status,
            **_place_words(spec),
            "employment_type": _reverse(JOB_TYPES, spec, "job_type").value,
            "level": _level_of(spec.get("career_level")).value,
            **({"department": spec["department"]} if spec.get("department") else {}),
            **_salary_words(spec),
            "channels": sorted(remote.channels),
            "boards": {self.name: {
                "career_level": _needed(spec, "career_level"),
                **({"industry": spec["industry"]} if spec.get("industry") else {}),
                **({"public_slug": spec["public_slug"]} if spec.get("public_slug") else {}),
            }},
        }

    def applicants(self) -> dict[tuple[str, str], int]:
        """Applicants per (job id, source name), from one `GET /candidates?type=applicant`."""
        body = self._call_answer(HirempireCandidates, "GET", "/candidates", params={"type": "applicant"})
        counts: dict[tuple[str, str], int] = {}
        for candidate in body.candidates:
            pair = (candidate.job_id, candidate.source or "")
            counts[pair] = counts.get(pair, 0) + 1
        return counts

    # -- writes ----------------------------------------------------------------------------

    def create(self, posting: Posting, spec: Spec, *, publish: bool) -> Remote:
        """add-job with the slug, the channels as ``job_sources`` and the status in one call.

        A 409 on the slug means the job exists already, most likely from a create whose
        answer was lost: it is looked up and returned, never sent again."""
        status = "Active" if publish else "Pending"
        body = {
            **{k: v for k, v in spec.items() if v is not None},
            "company_id": self.settings.company_id,
            "job_sources": list(posting.channels),
            "status": status,
        }
        try:
            response = self._call("POST", "/add-job", json=body)
        except Rejected as exc:
            # Any 409 here is the sign to look the slug up [doc], whatever its text says.
            if exc.code != "slug_in_use" and exc.status != 409:
                raise
            return self._settle_slug_in_use(str(spec.get("public_slug")), exc)
        return self._created(response, spec)

    def update(self, remote: Remote, changes: Spec) -> Remote:
        body = {k: v for k, v in changes.items() if k in SPEC_FIELDS}
        if not body:
            return remote
        # update-job sets fields to values: repeating it converges, so it may be retried.
        self._call_answer(HirempireUpdateTaken, "PATCH", "/update-job", json={"job_id": remote.remote_id, **body},
                          idempotent=True)
        return dataclasses.replace(remote, spec_text=encode_spec({**remote.spec, **body}))

    def transition(self, remote: Remote, action: Transition) -> Remote:
        body = {"job_id": remote.remote_id, "status": STATUS_INPUT[action]}
        answer = self._call_answer(HirempireUpdated, "PATCH", "/update-job", json=body, idempotent=True)
        return dataclasses.replace(remote, status=STATUSES[answer.status])

    def ensure_source(self, remote: Remote, channel: str) -> Channel:
        """create-source is idempotent on (job, trimmed name) [doc], so it may be retried."""
        body = {"job_id": remote.remote_id, "source_name": channel.strip()}
        made = self._call_answer(HirempireSourceMade, "POST", "/create-source", json=body, idempotent=True)
        return _channel(made.source)

    # -- events ----------------------------------------------------------------------------

    def read_event(self, body: Mapping[str, Any]) -> BoardEvent:
        return read_event(body)

    def webhooks(self) -> list[Webhook]:
        """``GET /webhooks``; its answer's shape is not documented (`HirempireWebhooks`), so
        one in another shape is `Malformed` rather than taken for an empty list."""
        answer = self._call_answer(HirempireWebhooks, "GET", "/webhooks")
        return [Webhook(w.id, w.request_url, tuple(w.events)) for w in answer.webhooks]

    def add_webhook(self, url: str, events: Sequence[str]) -> Webhook:
        """create-webhook; Hirempire sends the URL its challenge before it answers. Not
        retried: a second webhook would deliver every event twice."""
        body = {"request_url": url, "events": list(events)}
        made = self._call_answer(HirempireWebhookMade, "POST", "/create-webhook", json=body, idempotent=False)
        return Webhook(made.data.id, url, tuple(events))

    def remove_webhook(self, remote_id: str) -> None:
        """``DELETE /delete-webhook?id=``; one already gone (404) is removed all the same."""
        try:
            self._call("DELETE", "/delete-webhook", params={"id": remote_id}, idempotent=True)
        except Rejected as exc:
            if exc.status != 404:
                raise

    # -- the one seam ----------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    def _error(self, response: httpx.Response, call: str) -> ProviderError:
        """Hirempire's ``{"success": false, "error": text}`` → the error tree.

        The board has no error codes; the connector names a few by the documented texts so
        the caller can tell them apart: ``slug_in_use``, ``job_not_found``."""
        status = response.status_code
        message = _message(response)
        kw: dict[str, Any] = {"provider": self.name, "call": call, "status": status}
        if status == 402:
            return Blocked(
                f"{message} A person must upgrade the Hirempire plan or close a job.",
                gate="plan_limit", company_wide=True, **kw,
            )
        if status == 401 and message != "Invalid job id":
            return Blocked(
                f"{message} Check the Hirempire token (providers.hirempire.token) and company_id.",
                gate="credentials", company_wide=True, **kw,
            )
        if (status, message) == decided.HIREMPIRE_SLUG_IN_USE:
            return Rejected(message, code="slug_in_use", **kw)
        if status == 404 or status == 401:  # update-job answers an unknown job with 401 [doc]
            return Rejected(message, code="job_not_found", **kw)
        return Rejected(message, fields=_fields(message), **kw)

    def _said(self, response: httpx.Response) -> tuple[str, str | None]:
        return _message(response), None  # the board has no error codes

    # -- helpers ---------------------------------------------------------------------------

    def _jobs(self) -> Iterator[HirempireJob]:
        """Every job of the workspace, one request, each read as it is handed out: the one
        answer holds them all, and read whole it was the largest thing a run held."""
        return self._call_items(HirempireJobs, HirempireJob, "jobs", "GET", "/jobs")

    def _find_slug(self, slug: str) -> Remote | None:
        for job in self._jobs():
            if job.public_slug == slug:
                return _remote(job)
        return None

    def _settle_slug_in_use(self, slug: str, refused: Rejected) -> Remote:
        found = self._find_slug(slug)
        if found is None and refused.code != "slug_in_use":
            raise refused  # a 409 for another reason, and no job holds the slug: nothing was made
        if found is None:
            # The slug was taken when we asked and is gone now: what happened is unknown.
            raise Ambiguous(
                "public_slug was in use, but no job has it now; look the posting up again",
                provider=self.name, call=refused.call,
            ) from refused
        log.info("create_found", remote_id=found.remote_id, slug=slug)
        return found

    def _created(self, response: httpx.Response, spec: Spec) -> Remote:
        """add-job's answer; when it cannot be read, the job may exist all the same:
        `Ambiguous`, so it is looked up by its slug before anything is sent again."""
        answer = self._created_answer(HirempireAdded, response, "POST /add-job")
        channels = {a.source: Channel(a.source, a.id, a.application_url) for a in answer.applications}
        return Remote(
            remote_id=answer.job_id,
            status=STATUSES[answer.job_status or "draft"],
            spec=dict(spec),
            channels=channels,
            posting_key=key_from_slug(str(spec.get("public_slug"))),
        )


# ------------------------------------------------------------------------------ check


def _department(posting: Posting) -> str | None:
    board = section(posting)
    return (board.department if board and board.department else None) or posting.department


def _career_level(posting: Posting) -> str:
    board = section(posting)
    if board and board.career_level:
        return _canonical(board.career_level, CAREER_LEVELS) or board.career_level
    return LEVEL_DEFAULTS[posting.level]


def _canonical(word: str, allowed: tuple[str, ...]) -> str | None:
    """The documented spelling of `word`, forgiving case and surrounding space."""
    folded = word.strip().casefold()
    return next((a for a in allowed if a.casefold() == folded), None)


def _department_problems(posting: Posting) -> list[BoardProblem]:
    board = section(posting)
    field = "boards.hirempire.department" if board and board.department else "department"
    value = _department(posting)
    if value is None:
        return [BoardProblem("department", "Hirempire needs a department: set `department` or boards.hirempire.department")]
    if value not in DEPARTMENTS:
        close = _canonical(value, DEPARTMENTS)
        hint = f"did you mean {close!r}?" if close else f"use one of: {', '.join(DEPARTMENTS)}"
        return [BoardProblem(field, f"Hirempire has no department {value!r}; {hint}")]
    return []


def _career_level_problems(posting: Posting) -> list[BoardProblem]:
    board = section(posting)
    if board and board.career_level and _canonical(board.career_level, CAREER_LEVELS) is None:
        return [
            BoardProblem(
                "boards.hirempire.career_level",
                f"Hirempire has no career level {board.career_level!r}; use one of: {', '.join(CAREER_LEVELS)}",
            )
        ]
    return []


def _country(posting: Posting) -> str | None:
    if posting.workplace is Workplace.REMOTE:
        return posting.remote_country
    return posting.locations[0].country if posting.locations else None


# ------------------------------------------------------------------------------ reversing


def _needed(spec: Spec, name: str) -> Any:
    value = spec.get(name)
    if value is None or value == "":
        raise NotAPosting(f"hirempire shows no {name}")
    return value


def _reverse(words: Mapping[Any, str], spec: Spec, name: str) -> Any:
    """The posting's value whose board word is `spec[name]`."""
    value = _needed(spec, name)
    found = next((ours for ours, theirs in words.items() if theirs == value), None)
    if found is None:
        raise NotAPosting(f"hirempire's {name} {value!r} has no posting word")
    return found


def _place_words(spec: Spec) -> dict[str, Any]:
    country = _needed(spec, "job_country")
    workplace = _reverse(WORKPLACES, spec, "workplace")
    if workplace is Workplace.REMOTE:
        return {"workplace": workplace.value, "remote_country": country}
    if not spec.get("city"):
        raise NotAPosting(f"hirempire shows no city for a {workplace.value} job")
    return {"workplace": workplace.value, "locations": [{"city": spec["city"], "country": country}]}


def _level_of(career_level: str | None) -> Level:
    found = next((level for level, word in LEVEL_DEFAULTS.items() if word == career_level), None)
    return found or Level.SENIOR


def _salary_words(spec: Spec) -> dict[str, Any]:
    if spec.get("salary") is None:
        return {}
    amount = spec["salary"]
    if not isinstance(amount, int):
        raise NotAPosting(f"hirempire's salary {amount!r} is not a whole amount")
    return {"salary": {
        "min": amount, "max": amount, "period": _reverse(SALARY_PERIODS, spec, "salary_period").value,
        "currency": _needed(spec, "currency"), **({"hidden": True} if spec.get("hide_salary") else {}),
    }}


# ------------------------------------------------------------------------------ normalising


def _text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def job_spec(job: HirempireJob) -> dict[str, Any]:
    """A Job read back in the input words `render` uses."""
    city, country = _split_location(job.job_location)
    return {
        "job_title": _text(job.job_title),
        "job_description": _text(job.job_description),
        "department": _as_sent(DEPARTMENT_INPUT, job.department),
        "job_country": country,
        "city": city,
        "salary": _amount(getattr(job, decided.HIREMPIRE_SALARY_READ_BACK)),
        "currency": job.currency,
        "salary_period": _as_sent(SALARY_PERIOD_INPUT, job.salary_period),
        "hide_salary": job.is_salary_hidden,
        "job_type": _input_word(JOB_TYPE_INPUT, job.job_type),
        "workplace": _input_word(WORKPLACE_INPUT, job.job_mode),
        "career_level": _input_word(CAREER_LEVEL_INPUT, job.career_level),
        "industry": _text(job.industry) or None,
        "public_slug": job.public_slug,
    }


def _input_word(words: Mapping[str, str], output: str | None) -> str | None:
    """The input word for an output word; one the documents do not list stays as it is."""
    return words.get(output, output) if output is not None else None


def _as_sent(words: Mapping[str, str], output: str | None) -> str | None:
    """The word sent for a word read back in another case or spacing; one the documents do
    not list stays as it is."""
    return words.get(_folded_word(output), output) if output is not None else None


def _split_location(location: str | None) -> tuple[str | None, str | None]:
    """"City, Country" or "Country" [doc] → (city, country); country names carry no comma."""
    if not location:
        return None, None
    if ", " in location:
        city, country = location.rsplit(", ", 1)
        return city, country
    return None, location


def _amount(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _channel(source: HirempireSource) -> Channel:
    return Channel(name=source.source_name, remote_id=source.id, url=source.source_url, visits=source.visits)


def _remote(job: HirempireJob) -> Remote:
    channels = {c.name: c for c in (_channel(s) for s in job.sources.items)}
    return Remote(
        remote_id=job.id,
        status=STATUSES[job.status],
        spec=job_spec(job),
        channels=channels,
        applications=job.applicants,
        posting_key=key_from_slug(job.public_slug),
    )


# ------------------------------------------------------------------------------ errors


def _message(response: httpx.Response) -> str:
    try:
        return excerpt(str(response.json()["error"]))
    except (ValueError, KeyError, TypeError):
        return excerpt(response.text or response.reason_phrase)


def _fields(message: str) -> dict[str, str]:
    """The field a 400's text names ("Missing required field: salary"), when it names one."""
    match = MISSING_FIELD.match(message) or INVALID_FIELD.match(message)
    return {match.group(1): message} if match else {}

