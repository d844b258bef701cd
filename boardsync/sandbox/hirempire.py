"""The Hirempire simulator: the v1 API of `providers/hirempire.md`, served under ``/v1``.

What the contract leaves open, and what this simulator does about it [decided]:

- Status codes of success: ``add-job`` and ``create-webhook`` answer 201; ``create-source``
  answers 201 when it creates a source and 200 when the (job, trimmed name) pair exists;
  everything else answers 200.
- Checks run in this order: Authorization header (400), token (401), the workspace's hourly
  limit (429), query parameters (400), body (400 "Request body must be a JSON object."), then
  the endpoint's own checks. Every authenticated request counts towards the hourly limit,
  whatever its answer; a request refused with 429 does not.
- ``add-job``: the first missing required field in the table's order is named ("Missing
  required field: <f>"; null and blank strings count as missing), then unknown fields
  ("Unknown field: <f>"), then value errors ("Invalid <f>: '<v>'. Must be one of: …"), then the
  company (401), the slug (409), the active-jobs limit (402). ``job_sources`` may be an empty
  array; its names become sources exactly as ``create-source`` would make them (trimmed,
  duplicates collapse). ``total_applications`` is the number of ``applications`` entries, one
  per source, each ``{id: source id, created_at, source: name, application_url: source_url}``.
- ``update-job``: an unknown job id is 401 "Invalid job id" before anything else is looked at;
  ``company_id`` and ``job_sources`` cannot be updated (400 "Field cannot be updated: <f>"),
  other unknown fields are 400 "Unknown field: <f>". Setting ``status`` to active from any
  other status past the plan's active-jobs limit is 402, as on ``add-job``.
- Enums take exactly the documented input words; ``status`` also takes their lowercase.
  ``salary_period`` and ``department`` come back as they were sent.
- One ``salary`` number becomes both ``salary_min`` and ``salary_max``; the display string is
  ``"<CURRENCY> <amount> <period in lowercase>"``, e.g. ``"USD 85,000 per year"``.
  ``job_location`` is ``"City, Country"``, or ``"Country"`` without a city.
- ``public_slug`` is any non-blank string; a deleted job frees its slug. The default is the
  title as a slug plus ``-`` and 4 random lowercase letters or digits.
- ``GET /jobs`` lists jobs oldest first; ``applicants`` counts the job's candidates of type
  ``applicant``. A deleted job's sources and candidates disappear with it.
- ``GET /candidates`` refuses other parameters with "Only 'type' query parameter is allowed."
  and an unknown type with "Invalid type: '<t>'. Must be one of: applicant, prospect, upload".
- Plans: requests per sliding hour Free 100, Starter 500, Pro 1,000, Premium 5,000 [doc];
  active jobs Free 2, Starter 10, Pro 25, Premium 100. The sandbox starts on Pro.
- Public source pages are served by the simulator at ``<server>/p/<company-slug>/<source-id>``
  (no auth, no rate limit): each GET adds one visit and answers a small HTML page; a deleted
  job's or unknown source's page is 404 and counts nothing.
- Webhooks: on create (and when ``request_url`` changes) the URL is verified with
  ``{"challenge", "type": "url_verification"}`` only when it points at loopback; it must answer
  2xx with the same challenge, else 400 "Webhook URL verification failed". A URL elsewhere is
  stored unverified and never called.
- Events go to every verified webhook subscribed to them, whoever made the change (the API or
  a hand edit), after the change, in order, from one background thread; one attempt each, no
  retry and no signature [doc: no signature]. The body is ``{"type": <event>, "job_id": <job
  id>}``: ``job_added`` (add-job), ``job_activated`` (the status becomes active),
  ``job_deactivated`` (an active job's status becomes another), ``job_deleted``,
  ``applicant_applied`` and ``cv_upload_completed`` (a candidate of type applicant or upload
  added to the job). ``meeting_booked`` is never sent. What each delivery got back is kept in
  the snapshot's ``deliveries`` (the last 100).
"""

from __future__ import annotations

import html
import ipaddress
import math
import queue
import re
import secrets
import string
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from boardsync.sandbox.core import (
    CONTROL_PREFIX,
    ASGIApp,
    Clock,
    Simulator,
    SlidingWindow,
    control_routes,
    json_object,
    wrap,
)

API_PREFIX = "/v1"
PUBLIC_PREFIX = "/p"
REAL_PUBLIC_BASE = "https://jobs.hirempire.com"

SANDBOX_TOKEN = "sk-sandbox-hirempire"
EXPIRED_TOKEN = "sk-sandbox-hirempire-expired"
SANDBOX_COMPANY_ID = "cmp_hm_sandbox"
SANDBOX_COMPANY_NAME = "Sandbox Company"
SANDBOX_COMPANY_SLUG = "sandbox-company"
WORKSPACE = "ws_sandbox"

HOUR = 3600.0


@dataclass(frozen=True)
class Plan:
    name: str
    requests_per_hour: int
    active_jobs: int


PLANS = {
    "free": Plan("free", 100, 2),
    "starter": Plan("starter", 500, 10),
    "pro": Plan("pro", 1000, 25),
    "premium": Plan("premium", 5000, 100),
}
DEFAULT_PLAN = "pro"

DEPARTMENTS = (
    "Accounting/Auditing", "Administrative", "Advertising", "Analyst", "Art/Creative",
    "Business Development", "Consulting", "Customer Service", "Design", "Distribution",
    "Education", "Engineering", "Finance", "Health Care Provider", "Human Resources",
    "Information Technology", "Legal", "Management", "Manufacturing", "Marketing",
    "Product Management", "Project Management", "Production", "Public Relations", "Purchasing",
    "Quality Assurance", "Research", "Sales", "Science", "Strategy/Planning", "Supply Chain",
    "Training", "Operations", "Other",
)
SALARY_PERIODS = ("Per hour", "Per day", "Per week", "Bi-weekly", "Per month", "Per year")
JOB_TYPES = {
    word: word.lower()
    for word in ("Full-time", "Part-time", "Contract", "Freelance", "Internship", "Temporary", "Project-based")
}
WORKPLACES = {"On-site": "onsite", "Remote": "remote", "Hybrid": "hybrid"}
CAREER_LEVELS = {
    word: word.lower().replace(" ", "-")
    for word in ("Junior", "Mid-level", "Senior", "Team Leader", "Manager", "Director", "VP", "C-level")
}
STATUSES = {"Pending": "draft", "Active": "active", "Paused": "paused", "Hired": "closed", "Closed": "closed"}
CANDIDATE_TYPES = ("applicant", "prospect", "upload")
WEBHOOK_EVENTS = (
    "job_added", "job_activated", "job_deactivated", "job_deleted",
    "applicant_applied", "cv_upload_completed", "meeting_booked",
)

CANDIDATE_EVENTS = {"applicant": "applicant_applied", "upload": "cv_upload_completed"}

REQUIRED_FIELDS = (
    "company_id", "job_title", "job_description", "department", "job_country", "salary",
    "currency", "salary_period", "job_type", "workplace", "career_level", "job_sources",
)
OPTIONAL_FIELDS = ("city", "hide_salary", "industry", "public_slug", "status")
UPDATABLE_FIELDS = tuple(f for f in REQUIRED_FIELDS + OPTIONAL_FIELDS if f not in ("company_id", "job_sources"))

MSG_NO_QUERY = "Query parameters are not allowed."
MSG_JOB_ID_ONLY = "Only 'job_id' query parameter is allowed."
MSG_JOB_ID_REQUIRED = "Query parameter 'job_id' is required."
MSG_ACTIVE_LIMIT = "Active jobs limit reached. Upgrade to add more, or close one of your jobs."


class HirempireError(Exception):
    """An answer in Hirempire's error shape: ``{"success": false, "error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RateLimited(HirempireError):
    """Over the workspace's hourly limit; `retry_after` is whole seconds until a place frees."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "Rate limit exceeded")
        self.retry_after = retry_after


def error_body(status: int, message: str) -> tuple[bytes, dict[str, str]]:
    """Hirempire's envelope, for faults injected by the core middleware; an injected 429 reads
    like the real one, `Retry-After` included (the fault's own value wins when it has one)."""
    if status == 429:
        return bytes(JSONResponse({"success": False, "error": "Rate limit exceeded"}).body), {"retry-after": "1"}
    return bytes(JSONResponse({"success": False, "error": message}).body), {}


# ---------------------------------------------------------------------------------- state


@dataclass
class Source:
    id: str
    job_id: str
    source_name: str
    code: str
    created_at: datetime
    visits: int = 0


@dataclass
class Candidate:
    id: str
    job_id: str
    source: str
    type: str
    name: str
    email: str
    applied_at: datetime
    status: str = "new"


@dataclass
class Job:
    """A job as stored: the validated input words; output words are made when rendering."""

    id: str
    company_id: str
    created_time: datetime
    spec: dict[str, Any]
    sources: list[Source] = field(default_factory=list)
    deleted: bool = False

    @property
    def status(self) -> str:
        return str(self.spec["status"])


@dataclass
class Webhook:
    id: str
    request_url: str
    events: list[str]
    created_at: datetime
    verified: bool


@dataclass(frozen=True)
class Delivery:
    """One event bound for one webhook's URL; `epoch` is the simulator's reset count when it
    was made, so a reset drops what was still waiting."""

    epoch: int
    webhook_id: str
    url: str
    body: dict[str, Any]


class Deliverer:
    """Sends events one at a time, in order, from a thread of its own, so the call that made
    the change answers without waiting for the receiver. `record` hears each outcome."""

    TIMEOUT = 5.0

    def __init__(self, record: Callable[[Delivery, int | None, str | None], None], epoch: Callable[[], int]) -> None:
        self._record = record
        self._epoch = epoch
        self._queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def send(self, delivery: Delivery) -> None:
        self._queue.put(delivery)
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hirempire-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.TIMEOUT) as client:
            while True:
                delivery = self._queue.get()
                if delivery.epoch != self._epoch():
                    continue  # made before a reset: that workspace is gone
                try:
                    status: int | None = client.post(delivery.url, json=delivery.body).status_code
                    error = None
                except httpx.HTTPError as exc:
                    status, error = None, type(exc).__name__
                self._record(delivery, status, error)


@dataclass
class Company:
    id: str
    name: str
    slug: str


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number")
    return value


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "job"


def _random_chars(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------ validation


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _one_of(name: str, value: Any, allowed: Mapping[str, str] | tuple[str, ...]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    raise HirempireError(400, f"Invalid {name}: '{value}'. Must be one of: {', '.join(allowed)}")


def _status_word(value: Any) -> str:
    """Input status (Pending…Closed, or its lowercase) → output word (draft…closed)."""
    by_word = {**STATUSES, **{k.lower(): v for k, v in STATUSES.items()}}
    if isinstance(value, str) and value in by_word:
        return by_word[value]
    raise HirempireError(400, f"Invalid status: '{value}'. Must be one of: {', '.join(STATUSES)}")


def _salary(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
        raise HirempireError(400, "salary must be a non-negative number")
    return int(value) if float(value).is_integer() else float(value)


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise HirempireError(400, "currency must be an ISO 4217 code such as USD, EUR or GBP")
    return value


def _text(name: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise HirempireError(400, f"{name} must be a string")
        return value

    return check


def _optional_text(name: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None or value == "":
            return None
        return _text(name)(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise HirempireError(400, "hide_salary must be a boolean")
    return value


def _slug(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HirempireError(400, "public_slug must be a non-empty string")
    return value.strip()


def _source_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise HirempireError(400, "job_sources must be an array of non-empty strings")
    return list(dict.fromkeys(v.strip() for v in value))


FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "company_id": _text("company_id"),
    "job_title": _text("job_title"),
    "job_description": _text("job_description"),
    "department": lambda v: _one_of("department", v, DEPARTMENTS),
    "job_country": _text("job_country"),
    "city": _optional_text("city"),
    "salary": _salary,
    "currency": _currency,
    "salary_period": lambda v: _one_of("salary_period", v, SALARY_PERIODS),
    "hide_salary": _boolean,
    "job_type": lambda v: _one_of("job_type", v, JOB_TYPES),
    "workplace": lambda v: _one_of("workplace", v, WORKPLACES),
    "career_level": lambda v: _one_of("career_level", v, CAREER_LEVELS),
    "job_sources": _source_names,
    "industry": _optional_text("industry"),
    "public_slug": _slug,
    "status": _status_word,
}


def _check_fields(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The given fields, checked and normalised; a required field may not be null or blank."""
    checked: dict[str, Any] = {}
    for name in names:
        if name not in body:
            continue
        value = body[name]
        if name in REQUIRED_FIELDS and _blank(value):
            raise HirempireError(400, f"Missing required field: {name}")
        checked[name] = FIELD_CHECKS[name](value)
    return checked


# ------------------------------------------------------------------------------ simulator


class HirempireSim(Simulator):
    """One Hirempire workspace with one company, its jobs, sources, candidates and webhooks."""

    name = "hirempire"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        tokens: Mapping[str, datetime | None] | None = None,
        plan: str = DEFAULT_PLAN,
    ) -> None:
        super().__init__(clock)
        self._default_tokens = dict(tokens) if tokens is not None else None
        self._default_plan = plan
        self.company = Company(SANDBOX_COMPANY_ID, SANDBOX_COMPANY_NAME, SANDBOX_COMPANY_SLUG)
        self.public_base_url = REAL_PUBLIC_BASE
        """Where source URLs point: the real public host, or this simulator's `/p` once served."""
        self.window = SlidingWindow(self.clock, PLANS[plan].requests_per_hour, HOUR)
        self._epoch = 0
        self.deliverer = Deliverer(self._delivered, lambda: self._epoch)
        self._reset_state()

    # ---------------------------------------------------------------- base hooks

    def _reset_state(self) -> None:
        self.tokens: dict[str, datetime | None] = (
            dict(self._default_tokens)
            if self._default_tokens is not None
            else {SANDBOX_TOKEN: None, EXPIRED_TOKEN: self.clock.now() - timedelta(days=1)}
        )
        self.jobs_by_id: dict[str, Job] = {}
        self.candidates: list[Candidate] = []
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._epoch += 1
        self.plan = PLANS[self._default_plan]
        self.active_jobs_limit = self.plan.active_jobs
        self.window.limit = self.plan.requests_per_hour
        self.window.reset()

    def _snapshot_state(self) -> dict[str, Any]:
        return {
            "plan": self.plan.name,
            "limits": {"requests_per_hour": self.window.limit, "active_jobs": self.active_jobs_limit},
            "rate_limited": self.window.refused,
            "company": {"id": self.company.id, "name": self.company.name, "slug": self.company.slug},
            "jobs": self.jobs(),
            "deleted_jobs": [j.id for j in self.jobs_by_id.values() if j.deleted],
            "candidates": [self._render_candidate(c) for c in self.candidates],
            "webhooks": [self._render_webhook(w) | {"verified": w.verified} for w in self.webhooks.values()],
            "deliveries": list(self.deliveries),
        }

    # ---------------------------------------------------------------- controls (Python API)

    def set_plan(self, name: str) -> Plan:
        """Switch the workspace's plan: its hourly request limit and its active-jobs limit."""
        plan = PLANS.get(name.lower())
        if plan is None:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}")
        with self.lock:
            self.plan = plan
            self.window.limit = plan.requests_per_hour
            self.active_jobs_limit = plan.active_jobs
        return plan

    def set_limits(self, requests_per_hour: int | None = None, active_jobs: int | None = None) -> None:
        """Override the plan's limits (None leaves one as it is); small limits make tests short."""
        # A window that allows nothing could never say when to come back: at least one request.
        if requests_per_hour is not None and _count(requests_per_hour, "requests_per_hour") < 1:
            raise ValueError("requests_per_hour must be at least 1")
        if active_jobs is not None and _count(active_jobs, "active_jobs") < 0:
            raise ValueError("active_jobs must be 0 or more")
        with self.lock:
            if requests_per_hour is not None:
                self.window.limit = requests_per_hour
            if active_jobs is not None:
                self.active_jobs_limit = active_jobs

    def expire_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token] = self.clock.now()

    def add_visits(self, source_id: str, count: int = 1) -> int:
        """Count `count` opens of a source's public URL; returns its visits."""
        with self.lock:
            source = self._live_source(source_id)
            if source is None:
                raise HirempireError(404, "Source not found")
            source.visits += count
            return source.visits

    def add_candidate(
        self, job_id: str, source_name: str, type: str = "applicant", name: str | None = None
    ) -> dict[str, Any]:
        """A person applied (or was added) to a job through the named source."""
        if type not in CANDIDATE_TYPES:
            raise HirempireError(400, f"Invalid type: '{type}'. Must be one of: {', '.join(CANDIDATE_TYPES)}")
        with self.lock:
            job = self._live_job(job_id)
            if job is None:
                raise HirempireError(404, "Job not found")
            number = len(self.candidates) + 1
            name = name or f"Candidate {number}"
            candidate = Candidate(
                id=str(uuid.uuid4()), job_id=job.id, source=source_name.strip(), type=type, name=name,
                email=f"{_slugify(name)}.{number}@example.com", applied_at=self.clock.now(),
            )
            self.candidates.append(candidate)
            self._emit(CANDIDATE_EVENTS.get(type), job)
            return self._render_candidate(candidate)

    def edit_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        """A hand edit in Hirempire's dashboard, in the API's input words; returns the Job."""
        with self.lock:
            job = self._live_job(job_id)
            if job is None:
                raise HirempireError(404, "Job not found")
            self._apply_update(job, fields)
            return self._render_job(job)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job not deleted, as `GET /jobs` shows it."""
        with self.lock:
            return [self._render_job(j) for j in self._live_jobs()]

    # ---------------------------------------------------------------- request gate

    def authenticate(self, header: str | None) -> str:
        """The workspace a request acts for, or the documented 400/401."""
        if header is None or not header.strip():
            raise HirempireError(400, "Authorization header is required.")
        if not header.startswith("Bearer "):
            raise HirempireError(400, "Authorization header must start with 'Bearer '.")
        token = header[len("Bearer "):].strip()
        with self.lock:
            if token not in self.tokens:
                raise HirempireError(401, "Invalid token")
            expires = self.tokens[token]
            if expires is not None and expires <= self.clock.now():
                raise HirempireError(401, "Token is expired")
        return WORKSPACE

    def throttle(self, workspace: str) -> None:
        wait = self.window.hit(workspace)
        if wait is not None:
            raise RateLimited(math.ceil(wait))

    # ---------------------------------------------------------------- jobs

    def list_jobs(self) -> dict[str, Any]:
        jobs = self.jobs()
        return {"success": True, "total_jobs": len(jobs), "jobs": jobs}

    def get_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return {"success": True, "job": self._render_job(self._job_or_404(job_id))}

    def add_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        spec, source_names = self._new_job(body)
        with self.lock:
            if "public_slug" in spec:
                self._refuse_slug_in_use(spec["public_slug"])
            else:
                spec["public_slug"] = self._fresh_slug(spec["job_title"])
            if spec["status"] == "active":
                self._refuse_past_active_limit()
            job, sources = self._added(spec, source_names)
            applications = [
                {"id": s.id, "created_at": _iso(s.created_at), "source": s.source_name,
                 "application_url": self._source_url(s)}
                for s in sources
            ]
        return {
            "success": True, "job_id": job.id, "job_status": job.status,
            "total_applications": len(applications), "applications": applications,
        }

    def seed(self, bodies: list[Mapping[str, Any]]) -> int:
        """Add a job for each add-job body at once, as the API would one by one (each body
        checked the same way, each `public_slug` required and unique, the active-job limit
        kept): a large board for a benchmark without a request per job. All or nothing."""
        checked = [self._new_job(body) for body in bodies]
        with self.lock:
            taken = {j.spec["public_slug"] for j in self._live_jobs()}
            slugs = [spec.get("public_slug") for spec, _ in checked]
            if None in slugs or len(set(slugs)) < len(slugs) or taken & set(slugs):
                raise HirempireError(409, "each seeded job needs its own public_slug, not in use")
            active = sum(1 for j in self._live_jobs() if j.status == "active")
            if active + sum(1 for spec, _ in checked if spec["status"] == "active") > self.active_jobs_limit:
                raise HirempireError(402, MSG_ACTIVE_LIMIT)
            for spec, source_names in checked:
                self._added(spec, source_names)
        return len(checked)

    def _new_job(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """An add-job body checked: the job's fields, with defaults, and its source names."""
        for name in REQUIRED_FIELDS:
            if _blank(body.get(name)):
                raise HirempireError(400, f"Missing required field: {name}")
        _refuse_unknown(body, REQUIRED_FIELDS + OPTIONAL_FIELDS, "Unknown field")
        spec = _check_fields(body, REQUIRED_FIELDS + OPTIONAL_FIELDS)
        if spec.pop("company_id") != self.company.id:
            raise HirempireError(401, "Invalid company id")
        source_names = spec.pop("job_sources")
        spec.setdefault("status", "draft")
        spec.setdefault("hide_salary", False)
        spec.setdefault("city", None)
        spec.setdefault("industry", None)
        return spec, source_names

    def _added(self, spec: dict[str, Any], source_names: list[str]) -> tuple[Job, list[Source]]:
        job = Job(id=str(uuid.uuid4()), company_id=self.company.id, created_time=self.clock.now(), spec=spec)
        self.jobs_by_id[job.id] = job
        self._emit("job_added", job)
        return job, [self._ensure_source(job, name)[0] for name in source_names]

    def update_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if _blank(body.get("job_id")):
            raise HirempireError(400, "Missing required field: job_id")
        with self.lock:
            job = self._live_job(body["job_id"])
            if job is None:
                raise HirempireError(401, "Invalid job id")
            fields = {k: v for k, v in body.items() if k != "job_id"}
            self._apply_update(job, fields)
            return {"success": True, "id": job.id, "status": job.status}

    def delete_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job_or_404(job_id)
            job.deleted = True
            self._emit("job_deleted", job)
        return {"success": True, "job_id": job.id, "message": "Job deleted successfully", "deleted": True}

    # ---------------------------------------------------------------- sources

    def create_source(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """The source for (job_id, trimmed source_name), and whether it was created now."""
        job_id, name = body.get("job_id"), body.get("source_name")
        if not _is_uuid(job_id):
            raise HirempireError(400, "job_id is required and must be a UUID")
        if not isinstance(name, str) or not name.strip():
            raise HirempireError(400, "source_name is required and must be a non-empty string")
        with self.lock:
            source, created = self._ensure_source(self._job_or_404(job_id), name)
            return {"success": True, "source": self._render_source(source)}, created

    def job_sources(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job_or_404(job_id)
            sources = [self._render_source(s) for s in job.sources]
        return {"success": True, "job_id": job.id, "total_sources": len(sources), "sources": sources}

    def open_source_page(self, company_slug: str, source_id: str, *, visit: bool = True) -> tuple[int, str]:
        """A person opens a source's public URL: one more visit, and the page they see."""
        with self.lock:
            source = self._live_source(source_id)
            if source is None or company_slug != self.company.slug:
                return 404, _page("Not found", "This job is not available.")
            source.visits += int(visit)
            job = self.jobs_by_id[source.job_id]
            return 200, _page(str(job.spec["job_title"]), f"{self.company.name} is hiring.")

    # ---------------------------------------------------------------- candidates

    def list_candidates(self, type: str | None) -> dict[str, Any]:
        if type is not None and type not in CANDIDATE_TYPES:
            raise HirempireError(400, f"Invalid type: '{type}'. Must be one of: {', '.join(CANDIDATE_TYPES)}")
        with self.lock:
            candidates = [
                self._render_candidate(c)
                for c in self.candidates
                if self._live_job(c.job_id) is not None and (type is None or c.type == type)
            ]
        return {"success": True, "total_candidates": len(candidates), "candidates": candidates}

    def job_candidates(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job_or_404(job_id)
            candidates = [self._render_candidate(c) for c in self.candidates if c.job_id == job.id]
        return {"success": True, "total_candidates": len(candidates), "candidates": candidates}

    # ---------------------------------------------------------------- webhooks

    def check_webhook(self, body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """The webhook fields in `body`, checked; on create both are required."""
        checked: dict[str, Any] = {}
        if "request_url" in body or not partial:
            url = body.get("request_url")
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise HirempireError(400, "request_url is required and must be an http(s) URL")
            checked["request_url"] = url
        if "events" in body or not partial:
            events = body.get("events")
            if not isinstance(events, list) or not events:
                raise HirempireError(400, "events is required and must be a non-empty array")
            for event in events:
                _one_of("event", event, WEBHOOK_EVENTS)
            checked["events"] = list(dict.fromkeys(events))
        return checked

    def add_webhook(self, request_url: str, events: list[str], verified: bool) -> dict[str, Any]:
        with self.lock:
            hook = Webhook(str(uuid.uuid4()), request_url, events, self.clock.now(), verified)
            self.webhooks[hook.id] = hook
        return {"success": True, "data": {"id": hook.id, "events": hook.events}}

    def list_webhooks(self) -> dict[str, Any]:
        with self.lock:
            hooks = [self._render_webhook(w) for w in self.webhooks.values()]
        return {"success": True, "total_webhooks": len(hooks), "webhooks": hooks}

    def webhook(self, hook_id: Any) -> Webhook:
        with self.lock:
            hook = self.webhooks.get(hook_id) if isinstance(hook_id, str) else None
        if hook is None:
            raise HirempireError(404, "Webhook not found")
        return hook

    def update_webhook(self, hook: Webhook, changes: Mapping[str, Any], verified: bool | None) -> dict[str, Any]:
        with self.lock:
            hook.request_url = changes.get("request_url", hook.request_url)
            hook.events = changes.get("events", hook.events)
            if verified is not None:
                hook.verified = verified
        return {"success": True, "data": {"id": hook.id, "request_url": hook.request_url, "events": hook.events}}

    def delete_webhook(self, hook_id: str) -> dict[str, Any]:
        with self.lock:
            hook = self.webhook(hook_id)
            del self.webhooks[hook.id]
        return {"success": True, "id": hook.id, "deleted": True, "message": "Webhook deleted successfully"}

    def _emit(self, event: str | None, job: Job) -> None:
        """Send `event` about `job` to every verified webhook subscribed to it (under the lock,
        so events leave in the order their changes happened)."""
        if event is None:
            return
        for hook in self.webhooks.values():
            if hook.verified and event in hook.events:
                body = {"type": event, "job_id": job.id}
                self.deliverer.send(Delivery(self._epoch, hook.id, hook.request_url, body))

    def _delivered(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        with self.lock:
            if delivery.epoch != self._epoch:
                return
            self.deliveries.append({"webhook_id": delivery.webhook_id, **delivery.body, "status": status,
                                    "error": error, "at": _iso(self.clock.now())})
            del self.deliveries[:-100]

    # ---------------------------------------------------------------- helpers

    def _live_jobs(self) -> list[Job]:
        return [j for j in self.jobs_by_id.values() if not j.deleted]

    def _live_job(self, job_id: Any) -> Job | None:
        job = self.jobs_by_id.get(job_id) if isinstance(job_id, str) else None
        return job if job is not None and not job.deleted else None

    def _job_or_404(self, job_id: Any) -> Job:
        job = self._live_job(job_id)
        if job is None:
            raise HirempireError(404, "Job not found")
        return job

    def _live_source(self, source_id: str) -> Source | None:
        for job in self._live_jobs():
            for source in job.sources:
                if source.id == source_id:
                    return source
        return None

    def _apply_update(self, job: Job, fields: Mapping[str, Any]) -> None:
        for name in fields:
            if name in ("company_id", "job_sources"):
                raise HirempireError(400, f"Field cannot be updated: {name}")
        _refuse_unknown(fields, UPDATABLE_FIELDS, "Unknown field")
        if not fields:
            raise HirempireError(400, "At least one updatable field must be provided")
        changes = _check_fields(fields, UPDATABLE_FIELDS)
        if "public_slug" in changes and changes["public_slug"] != job.spec["public_slug"]:
            self._refuse_slug_in_use(changes["public_slug"])
        if changes.get("status") == "active" and job.status != "active":
            self._refuse_past_active_limit()
        was = job.status
        job.spec.update(changes)
        if was != job.status and "active" in (was, job.status):
            self._emit("job_activated" if job.status == "active" else "job_deactivated", job)

    def _refuse_slug_in_use(self, slug: str) -> None:
        if any(j.spec["public_slug"] == slug for j in self._live_jobs()):
            raise HirempireError(409, "public_slug already in use")

    def _fresh_slug(self, title: str) -> str:
        taken = {j.spec["public_slug"] for j in self._live_jobs()}
        while True:
            slug = f"{_slugify(title)}-{_random_chars(4)}"
            if slug not in taken:
                return slug

    def _refuse_past_active_limit(self) -> None:
        if sum(1 for j in self._live_jobs() if j.status == "active") >= self.active_jobs_limit:
            raise HirempireError(402, MSG_ACTIVE_LIMIT)

    def _ensure_source(self, job: Job, name: str) -> tuple[Source, bool]:
        """create-source's idempotency: an exact match after trimming is the same source."""
        name = name.strip()
        for source in job.sources:
            if source.source_name == name:
                return source, False
        source = Source(
            id=str(uuid.uuid4()), job_id=job.id, source_name=name,
            code=_random_chars(4, string.ascii_uppercase + string.digits), created_at=self.clock.now(),
        )
        job.sources.append(source)
        return source, True

    def _source_url(self, source: Source) -> str:
        return f"{self.public_base_url}/{self.company.slug}/{source.id}"

    def _render_source(self, source: Source) -> dict[str, Any]:
        return {
            "id": source.id, "job_id": source.job_id, "source_name": source.source_name,
            "source_url": self._source_url(source), "code": source.code, "visits": source.visits,
            "created_at": _iso(source.created_at),
        }

    def _render_job(self, job: Job) -> dict[str, Any]:
        spec = job.spec
        items = [
            {"id": s.id, "source_name": s.source_name, "source_url": self._source_url(s),
             "visits": s.visits, "created_at": _iso(s.created_at)}
            for s in job.sources
        ]
        applicants = sum(1 for c in self.candidates if c.job_id == job.id and c.type == "applicant")
        return {
            "id": job.id,
            "created_time": _iso(job.created_time),
            "job_title": spec["job_title"],
            "public_slug": spec["public_slug"],
            "company_name": self.company.name,
            "department": spec["department"],
            "industry": spec["industry"],
            "career_level": CAREER_LEVELS[spec["career_level"]],
            "job_type": JOB_TYPES[spec["job_type"]],
            "job_mode": WORKPLACES[spec["workplace"]],
            "job_location": ", ".join(p for p in (spec["city"], spec["job_country"]) if p),
            "salary": _salary_display(spec["salary"], spec["currency"], spec["salary_period"]),
            "salary_min": spec["salary"],
            "salary_max": spec["salary"],
            "currency": spec["currency"],
            "salary_period": spec["salary_period"],
            "is_salary_hidden": spec["hide_salary"],
            "job_description": spec["job_description"],
            "sources": {"count": len(items), "items": items},
            "status": job.status,
            "applicants": applicants,
        }

    def _render_candidate(self, candidate: Candidate) -> dict[str, Any]:
        job = self.jobs_by_id[candidate.job_id]
        return {
            "id": candidate.id, "applied_at": _iso(candidate.applied_at), "type": candidate.type,
            "name": candidate.name, "email": candidate.email, "source": candidate.source,
            "status": candidate.status, "job_id": job.id, "job_title": job.spec["job_title"],
        }

    @staticmethod
    def _render_webhook(hook: Webhook) -> dict[str, Any]:
        return {"id": hook.id, "request_url": hook.request_url, "events": hook.events,
                "created_at": _iso(hook.created_at)}


def _refuse_unknown(body: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    for name in body:
        if name not in known:
            raise HirempireError(400, f"{what}: {name}")


def _salary_display(amount: int | float, currency: str, period: str) -> str:
    number = f"{amount:,}" if isinstance(amount, int) else f"{amount:,.2f}"
    return f"{currency} {number} {period.lower()}"


def _page(title: str, text: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>"
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>"
    )


# ---------------------------------------------------------------------------------- HTTP

Handler = Callable[[Request, HirempireSim], Awaitable[Response]]


def _error(exc: HirempireError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return JSONResponse({"success": False, "error": exc.message}, status_code=exc.status, headers=headers)


def _api(sim: HirempireSim, handler: Handler, query: tuple[str, ...], query_message: str) -> Callable[[Request], Awaitable[Response]]:
    """An API endpoint behind the gate every Hirempire call passes: auth, limit, parameters."""

    async def endpoint(request: Request) -> Response:
        try:
            workspace = sim.authenticate(request.headers.get("authorization"))
            sim.throttle(workspace)
            if any(name not in query for name in request.query_params):
                raise HirempireError(400, query_message)
            return await handler(request, sim)
        except HirempireError as exc:
            return _error(exc)

    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HirempireError(400, "Request body must be a JSON object.")
    return body


def _required_query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise HirempireError(400, f"Query parameter '{name}' is required.")
    return value


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _verify_webhook(url: str) -> bool | None:
    """Send the url_verification challenge to a loopback URL; None: not loopback, not called."""
    if not _is_loopback(url):
        return None
    challenge = secrets.token_urlsafe(16)
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.post(url, json={"challenge": challenge, "type": "url_verification"})
        ok = answer.is_success and answer.json().get("challenge") == challenge
    except (httpx.HTTPError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise HirempireError(400, "Webhook URL verification failed")
    return True


async def _list_jobs(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.list_jobs())


async def _get_job(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.get_job(_required_query(request, "job_id")))


async def _add_job(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.add_job(await _body(request)), status_code=201)


async def _update_job(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.update_job(await _body(request)))


async def _delete_job(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.delete_job(_required_query(request, "job_id")))


async def _create_source(request: Request, sim: HirempireSim) -> Response:
    answer, created = sim.create_source(await _body(request))
    return JSONResponse(answer, status_code=201 if created else 200)


async def _job_sources(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.job_sources(_required_query(request, "job_id")))


async def _candidates(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.list_candidates(request.query_params.get("type")))


async def _job_candidates(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.job_candidates(_required_query(request, "job_id")))


async def _create_webhook(request: Request, sim: HirempireSim) -> Response:
    fields = sim.check_webhook(await _body(request), partial=False)
    verified = await _verify_webhook(fields["request_url"])
    return JSONResponse(sim.add_webhook(fields["request_url"], fields["events"], bool(verified)), status_code=201)


async def _webhooks(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.list_webhooks())


async def _update_webhook(request: Request, sim: HirempireSim) -> Response:
    body = await _body(request)
    if _blank(body.get("id")):
        raise HirempireError(400, "Missing required field: id")
    hook = sim.webhook(body["id"])
    _refuse_unknown(body, ("id", "request_url", "events"), "Unknown field")
    changes = sim.check_webhook(body, partial=True)
    if not changes:
        raise HirempireError(400, "At least one updatable field must be provided")
    verified = None
    if changes.get("request_url", hook.request_url) != hook.request_url:
        verified = bool(await _verify_webhook(changes["request_url"]))
    return JSONResponse(sim.update_webhook(hook, changes, verified))


async def _delete_webhook(request: Request, sim: HirempireSim) -> Response:
    return JSONResponse(sim.delete_webhook(_required_query(request, "id")))


def _api_routes(sim: HirempireSim) -> list[Route]:
    none, job_id = ((), MSG_NO_QUERY), (("job_id",), MSG_JOB_ID_ONLY)
    table: list[tuple[str, str, Handler, tuple[tuple[str, ...], str]]] = [
        ("GET", "/jobs", _list_jobs, none),
        ("GET", "/get-job", _get_job, job_id),
        ("POST", "/add-job", _add_job, none),
        ("PATCH", "/update-job", _update_job, none),
        ("DELETE", "/delete-job", _delete_job, job_id),
        ("POST", "/create-source", _create_source, none),
        ("GET", "/job-sources", _job_sources, job_id),
        ("GET", "/candidates", _candidates, (("type",), "Only 'type' query parameter is allowed.")),
        ("GET", "/job-candidates", _job_candidates, job_id),
        ("POST", "/create-webhook", _create_webhook, none),
        ("GET", "/webhooks", _webhooks, none),
        ("PATCH", "/webhook", _update_webhook, none),
        ("DELETE", "/delete-webhook", _delete_webhook, (("id",), "Only 'id' query parameter is allowed.")),
    ]
    return [
        Route(API_PREFIX + path, _api(sim, handler, *query), methods=[method])
        for method, path, handler, query in table
    ]


def _public_routes(sim: HirempireSim) -> list[Route]:
    async def source_page(request: Request) -> Response:
        status, page = sim.open_source_page(
            request.path_params["company"], request.path_params["source_id"],
            visit=request.method == "GET",  # a link checker's HEAD is not a visit
        )
        return HTMLResponse(page, status_code=status)

    return [Route(PUBLIC_PREFIX + "/{company}/{source_id}", source_page, methods=["GET"])]


def _board_controls(sim: HirempireSim) -> list[Route]:
    """Hirempire's own controls: plan and limits, visits, candidates, hand edits."""

    def answer(action: Callable[[dict[str, Any]], Any], status: int = 200) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await json_object(request)
            body.update(request.path_params)
            try:
                return JSONResponse(action(body), status_code=status)
            except HirempireError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            except KeyError as exc:  # a field the control needs was not sent
                return JSONResponse({"error": f"bad control request: missing {exc}"}, status_code=422)
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": f"bad control request: {exc}"}, status_code=422)

        return endpoint

    def plan(body: dict[str, Any]) -> dict[str, Any]:
        chosen = sim.set_plan(str(body["plan"]))
        return {"plan": chosen.name, "requests_per_hour": chosen.requests_per_hour, "active_jobs": chosen.active_jobs}

    def limits(body: dict[str, Any]) -> dict[str, Any]:
        sim.set_limits(body.get("requests_per_hour"), body.get("active_jobs"))
        return {"requests_per_hour": sim.window.limit, "active_jobs": sim.active_jobs_limit}

    def visits(body: dict[str, Any]) -> dict[str, Any]:
        return {"source_id": body["source_id"], "visits": sim.add_visits(str(body["source_id"]), int(body.get("count", 1)))}

    def candidate(body: dict[str, Any]) -> dict[str, Any]:
        return sim.add_candidate(
            str(body["job_id"]), str(body["source_name"]), str(body.get("type", "applicant")), body.get("name")
        )

    def edit(body: dict[str, Any]) -> dict[str, Any]:
        job_id = body.pop("job_id")
        return sim.edit_job(job_id, **body)

    def jobs(body: dict[str, Any]) -> dict[str, Any]:
        return {"jobs": sim.jobs()}

    def expire(body: dict[str, Any]) -> dict[str, Any]:
        sim.expire_token(str(body["token"]))
        return {"expired": True}

    def seed(body: dict[str, Any]) -> dict[str, Any]:
        jobs = body["jobs"]
        if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
            raise ValueError("jobs must be a list of add-job bodies")
        return {"added": sim.seed(jobs)}

    p = CONTROL_PREFIX
    return [
        Route(f"{p}/plan", answer(plan), methods=["POST"]),
        Route(f"{p}/limits", answer(limits), methods=["POST"]),
        Route(f"{p}/visits", answer(visits), methods=["POST"]),
        Route(f"{p}/candidates", answer(candidate, 201), methods=["POST"]),
        Route(f"{p}/jobs", answer(jobs), methods=["GET"]),
        Route(f"{p}/jobs/{{job_id}}", answer(edit), methods=["PATCH"]),
        Route(f"{p}/expire-token", answer(expire), methods=["POST"]),
        Route(f"{p}/seed", answer(seed, 201), methods=["POST"]),
    ]


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "Not found", 405: "Method not allowed"}.get(status, "Internal server error")
    return JSONResponse({"success": False, "error": message}, status_code=status)


def make_app(sim: HirempireSim) -> ASGIApp:
    """The simulator as served: API under /v1, public source pages under /p, controls."""
    routes = _api_routes(sim) + _public_routes(sim) + control_routes(sim) + _board_controls(sim)
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found})
    return wrap(app, sim, error_body)
