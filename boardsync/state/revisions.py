"""The schema revisions this boardsync ships, read from their file names: which revision a
database must be at, known without loading Alembic or SQLAlchemy (`migrations` runs them)."""

from __future__ import annotations

import functools
from pathlib import Path

from boardsync.errors import StateError

SCRIPTS = Path(__file__).resolve().parent / "schema"
"""Alembic's script folder: `env.py` and `versions/`, shipped inside the package."""
VERSIONS = SCRIPTS / "versions"


@functools.cache
def revisions() -> tuple[str, ...]:
    """The revisions shipped with this boardsync, oldest first, read from their file names
    (``NNNN_what_it_adds.py``); tests/test_migrations.py checks they are Alembic's chain."""
    found = tuple(sorted(path.name.split("_", 1)[0] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")))
    if not found:
        raise StateError(f"no revision in {VERSIONS}")
    return found


def head() -> str:
    """The revision this boardsync needs."""
    return revisions()[-1]
