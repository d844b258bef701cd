"""A fake Corkboard: the whole API of the board, in memory, as a Starlette app.

Corkboard keeps notes. Every call carries ``Authorization: Bearer <token>``; errors are
``{"error": code, "message": text}``.

    GET   /notes          → {"notes": [note, ...]}
    POST  /notes          {ref, title, body, color, status} → 201 note; 409 when ref is taken
    GET   /notes/{id}     → note, or 404
    PATCH /notes/{id}     {title?, body?, color?, status?} → note

A note is ``{id, ref, title, body, color, status}``; status is draft, pinned, paused or down
(down is final). The module imports nothing but Starlette, so a test can load it alone.
"""

from __future__ import annotations

import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STATUSES = ("draft", "pinned", "paused", "down")
FIELDS = ("title", "body", "color")


class FakeCorkboard:
    """The board's state: notes by id, and the one token it accepts."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.notes: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/notes", self._list, methods=["GET"]),
                Route("/notes", self._create, methods=["POST"]),
                Route("/notes/{id}", self._read, methods=["GET"]),
                Route("/notes/{id}", self._change, methods=["PATCH"]),
            ]
        )

    def _refused(self, request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "a valid bearer token is required")
        return None

    async def _list(self, request: Request) -> JSONResponse:
        return self._refused(request) or JSONResponse({"notes": list(self.notes.values())})

    async def _create(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        if any(note["ref"] == body.get("ref") for note in self.notes.values()):
            return _error(409, "ref_taken", f"a note with ref {body.get('ref')!r} exists")
        if problem := _invalid(body, creating=True):
            return problem
        note = {"id": f"n{next(self._ids)}", "ref": body["ref"], **{f: body[f] for f in FIELDS}}
        note["status"] = body.get("status", "draft")
        self.notes[note["id"]] = note
        return JSONResponse(note, status_code=201)

    async def _read(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        note = self.notes.get(request.path_params["id"])
        return JSONResponse(note) if note else _error(404, "not_found", "no such note")

    async def _change(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        note = self.notes.get(request.path_params["id"])
        if note is None:
            return _error(404, "not_found", "no such note")
        body = await request.json()
        if problem := _invalid(body, creating=False):
            return problem
        if note["status"] == "down" and body:
            return _error(422, "note_down", "a note taken down cannot change")
        note.update({k: v for k, v in body.items() if k in (*FIELDS, "status")})
        return JSONResponse(note)


def _invalid(body: Any, *, creating: bool) -> JSONResponse | None:
    if not isinstance(body, dict):
        return _error(422, "invalid", "a JSON object is expected")
    required = ("ref", *FIELDS) if creating else ()
    if missing := [f for f in required if not isinstance(body.get(f), str) or not body[f]]:
        return _error(422, "invalid", f"{', '.join(missing)}: required")
    if "status" in body and body["status"] not in STATUSES:
        return _error(422, "invalid", f"status: one of {', '.join(STATUSES)}")
    if len(str(body.get("title", ""))) > 80:
        return _error(422, "invalid", "title: at most 80 characters")
    return None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)
