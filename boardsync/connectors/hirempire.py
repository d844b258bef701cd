"""Hirempire: jobs with free status changes, one tracked source URL per channel, applicants.

Hirempire answers in other words than it takes (``Full-time`` in, ``full-time`` out; key
``workplace`` in, ``job_mode`` out). The spec is in the *input* words, exactly the add-job body
minus ``company_id``, ``job_sources`` and ``status``; `observe` translates each Job back into
them, so the planner compares like with like and a change is an update-job body as it is.

A posting's job carries ``public_slug = "bs-" + key``: the board's own handle on the posting,
so `observe` knows which posting a job is, and `find` after a lost create is a slug lookup.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict

import httpx
import structlog

from boardsync.config.model import (
    EmploymentType,
    HirempireSettings,
    Level,
    Posting,
    SalaryPeriod,
    Status,
    Workplace,
)
from boardsync.connectors import decided
from boardsync.connectors.base import (
    BoardProblem,
    Channel,
    Remote,
    RemoteStatus,
    Spec,
    Transition,
)
from boardsync.connectors.http import HttpConnector, RateLimiter, excerpt, retry_after_header
from boardsync.errors import Ambiguous, Blocked, ProviderError, Rejected, Transient

log = structlog.get_logger("boardsync.connectors.hirempire", provider="hirempire")

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

# Output word → input word: what `observe` uses to read a Job back in the spec's words.
JOB_TYPE_INPUT = {word.lower(): word for word in JOB_TYPES.values()}
WORKPLACE_INPUT = {"onsite": "On-site", "remote": "Remote", "hybrid": "Hybrid"}
CAREER_LEVEL_INPUT = {word.lower().replace(" ", "-"): word for word in CAREER_LEVELS}

STATUSES: dict[str, RemoteStatus] = {"draft": "draft", "active": "active", "paused": "paused", "closed": "closed"}
STATUS_INPUT: dict[Transition, str] = {"publish": "Active", "resume": "Active", "pause": "Paused", "close": "Closed"}

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


class HirempireJob(TypedDict, total=False):
    """A Job as `GET /jobs` returns it (the fields boardsync reads)."""

    id: str
    job_title: str
    job_description: str
    public_slug: str
    department: str
    industry: str | None
    career_level: str
    job_type: str
    job_mode: str
    job_location: str
    salary_min: float
    salary_max: float
    currency: str
    salary_period: str
    is_salary_hidden: bool
    sources: dict[str, Any]
    status: str
    applicants: int


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
    SUPPORTS_JOBS = True
    SUPPORTS_CHANNELS = True

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
        board = posting.boards.hirempire
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
            "public_slug": slug_for(posting.key),
        }

    def lifecycle(self, desired: str, observed: RemoteStatus) -> list[Transition]:
        """Any status may be set to any other in one call; there is no way back to draft."""
        if desired == observed or desired == "draft":
            return []
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

    def applicants(self) -> dict[tuple[str, str], int]:
        """Applicants per (job id, source name), from one `GET /candidates?type=applicant`."""
        body = self._call_json("GET", "/candidates", params={"type": "applicant"})
        counts: dict[tuple[str, str], int] = {}
        for candidate in body.get("candidates") or []:
            pair = (str(candidate.get("job_id")), str(candidate.get("source") or ""))
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
            if exc.code != "slug_in_use":
                raise
            return self._settle_slug_in_use(str(spec.get("public_slug")), exc)
        return self._created(response, spec)

    def update(self, remote: Remote, changes: Spec) -> Remote:
        body = {k: v for k, v in changes.items() if k in SPEC_FIELDS}
        if not body:
            return remote
        # update-job sets fields to values: repeating it converges, so it may be retried.
        self._call("PATCH", "/update-job", json={"job_id": remote.remote_id, **body}, idempotent=True)
        return dataclasses.replace(remote, spec={**remote.spec, **body})

    def transition(self, remote: Remote, action: Transition) -> Remote:
        body = {"job_id": remote.remote_id, "status": STATUS_INPUT[action]}
        answer = self._call_json("PATCH", "/update-job", json=body, idempotent=True)
        status = STATUSES.get(str(answer.get("status")), remote.status)
        return dataclasses.replace(remote, status=status)

    def ensure_source(self, remote: Remote, channel: str) -> Channel:
        """create-source is idempotent on (job, trimmed name) [doc], so it may be retried."""
        body = {"job_id": remote.remote_id, "source_name": channel.strip()}
        source = self._call_json("POST", "/create-source", json=body, idempotent=True).get("source") or {}
        return _channel(source)

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
        if status == 429 or status >= 500:
            return Transient(message, retry_after=retry_after_header(response), **kw)
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

    # -- helpers ---------------------------------------------------------------------------

    def _jobs(self) -> list[HirempireJob]:
        return list(self._call_json("GET", "/jobs").get("jobs") or [])

    def _find_slug(self, slug: str) -> Remote | None:
        for job in self._jobs():
            if job.get("public_slug") == slug:
                return _remote(job)
        return None

    def _settle_slug_in_use(self, slug: str, refused: Rejected) -> Remote:
        found = self._find_slug(slug)
        if found is None:
            # The slug was taken when we asked and is gone now: what happened is unknown.
            raise Ambiguous(
                "public_slug was in use, but no job has it now; look the posting up again",
                provider=self.name, call=refused.call,
            ) from refused
        log.info("create_found", remote_id=found.remote_id, slug=slug)
        return found

    def _created(self, response: httpx.Response, spec: Spec) -> Remote:
        try:
            answer = response.json()
            job_id = str(answer["job_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Ambiguous(
                f"answered {response.status_code} without a readable job id",
                provider=self.name, call="POST /add-job",
            ) from exc
        channels = {
            str(a.get("source")): Channel(str(a.get("source")), str(a.get("id")), str(a.get("application_url")))
            for a in answer.get("applications") or []
        }
        return Remote(
            remote_id=job_id,
            status=STATUSES.get(str(answer.get("job_status")), "draft"),
            spec=dict(spec),
            channels=channels,
            posting_key=key_from_slug(str(spec.get("public_slug"))),
        )


# ------------------------------------------------------------------------------ check


def _department(posting: Posting) -> str | None:
    board = posting.boards.hirempire
    return (board.department if board and board.department else None) or posting.department


def _career_level(posting: Posting) -> str:
    board = posting.boards.hirempire
    if board and board.career_level:
        return _canonical(board.career_level, CAREER_LEVELS) or board.career_level
    return LEVEL_DEFAULTS[posting.level]


def _canonical(word: str, allowed: tuple[str, ...]) -> str | None:
    """The documented spelling of `word`, forgiving case and surrounding space."""
    folded = word.strip().casefold()
    return next((a for a in allowed if a.casefold() == folded), None)


def _department_problems(posting: Posting) -> list[BoardProblem]:
    board = posting.boards.hirempire
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
    board = posting.boards.hirempire
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


# ------------------------------------------------------------------------------ normalising


def _text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def job_spec(job: HirempireJob | Mapping[str, Any]) -> dict[str, Any]:
    """A Job read back in the input words `render` uses."""
    city, country = _split_location(job.get("job_location"))
    return {
        "job_title": _text(job.get("job_title")),
        "job_description": _text(job.get("job_description")),
        "department": job.get("department"),
        "job_country": country,
        "city": city,
        "salary": _amount(job.get(decided.HIREMPIRE_SALARY_READ_BACK)),
        "currency": job.get("currency"),
        "salary_period": job.get("salary_period"),
        "hide_salary": bool(job.get("is_salary_hidden")),
        "job_type": JOB_TYPE_INPUT.get(str(job.get("job_type")), job.get("job_type")),
        "workplace": WORKPLACE_INPUT.get(str(job.get("job_mode")), job.get("job_mode")),
        "career_level": CAREER_LEVEL_INPUT.get(str(job.get("career_level")), job.get("career_level")),
        "industry": _text(job.get("industry")) or None,
        "public_slug": job.get("public_slug"),
    }


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


def _channel(source: Mapping[str, Any]) -> Channel:
    return Channel(
        name=str(source.get("source_name")),
        remote_id=str(source.get("id")),
        url=str(source.get("source_url")),
        visits=int(source.get("visits") or 0),
    )


def _remote(job: HirempireJob) -> Remote:
    items = (job.get("sources") or {}).get("items") or []
    channels = {c.name: c for c in (_channel(s) for s in items)}
    return Remote(
        remote_id=str(job.get("id")),
        status=STATUSES.get(str(job.get("status")), "draft"),
        spec=job_spec(job),
        channels=channels,
        applications=int(job.get("applicants") or 0),
        posting_key=key_from_slug(job.get("public_slug")),
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

