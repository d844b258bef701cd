"""JSON Schema of the two files, generated from the model: what editors complete and check.

``examples/boardsync.schema.json`` and ``examples/posting.schema.json`` are these, written
by ``boardsync schema root`` and ``boardsync schema posting``; a test fails when they drift.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from boardsync.config.model import Posting, RootConfig

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(which: Literal["root", "posting"]) -> dict[str, Any]:
    """The JSON Schema of the root file (``root``) or of a posting file (``posting``)."""
    if which == "root":
        return _root_schema()
    if which == "posting":
        return _posting_file_schema()
    raise ValueError(f"no schema named {which!r}; use 'root' or 'posting'")


def render(schema: dict[str, Any]) -> str:
    """The schema as a file holds it: stable, indented, ending with a newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _root_schema() -> dict[str, Any]:
    schema = RootConfig.model_json_schema()
    return {"$schema": DIALECT, "title": "boardsync root file (boardsync.yaml)", **_without_title(schema)}


def _posting_file_schema() -> dict[str, Any]:
    posting = Posting.model_json_schema(ref_template="#/$defs/{model}")
    definitions = posting.pop("$defs", {})
    definitions["Posting"] = posting
    return {
        "$schema": DIALECT,
        "title": "boardsync posting file",
        "description": "One posting, or a list of postings.",
        "anyOf": [
            {"$ref": "#/$defs/Posting"},
            {"type": "array", "items": {"$ref": "#/$defs/Posting"}},
        ],
        "$defs": dict(sorted(definitions.items())),
    }


def _without_title(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "title"}
