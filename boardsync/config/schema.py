"""JSON Schema of the two files, generated from the model: what editors complete and check.

``examples/boardsync.schema.json`` and ``examples/posting.schema.json`` are these, written
by ``boardsync schema root`` and ``boardsync schema posting``; a test fails when they drift.
A config repository keeps its own copies for its editors: ``boardsync schema --check FILE``
(the pre-commit hook ``boardsync-schema``) tells when they lag behind the installed boardsync.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from boardsync.config.model import Posting, RootConfig

DIALECT = "https://json-schema.org/draft/2020-12/schema"

Which = Literal["root", "posting"]

# The names the schema files go by (examples/ and the editors' `$schema=` lines): a file
# checked without saying which schema it holds is known by its name.
FILE_NAMES: dict[str, Which] = {"boardsync.schema.json": "root", "posting.schema.json": "posting"}


def json_schema(which: Which) -> dict[str, Any]:
    """The JSON Schema of the root file (``root``) or of a posting file (``posting``)."""
    if which == "root":
        return _root_schema()
    if which == "posting":
        return _posting_file_schema()
    raise ValueError(f"no schema named {which!r}; use 'root' or 'posting'")


def render(schema: dict[str, Any]) -> str:
    """The schema as a file holds it: stable, indented, ending with a newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def which_schema(path: Path) -> Which | None:
    """The schema a file holds, known by its name (``boardsync.schema.json``,
    ``posting.schema.json``, or a name ending so), or None when the name does not tell."""
    for name, which in FILE_NAMES.items():
        if path.name == name or path.name.endswith("." + name) or path.name.endswith("-" + name):
            return which
    return None


def is_current(path: Path, which: Which) -> bool:
    """Whether the file holds exactly what ``boardsync schema WHICH`` prints now."""
    return path.read_text(encoding="utf-8") == render(json_schema(which))


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
