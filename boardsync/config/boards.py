"""Which boards exist: one index of them, filled from the ``boardsync.boards`` entry points.

A board is one connector module. Its connector class declares, as class constants, all that
the rest of boardsync knows of it: its ``name`` (its key under ``providers:`` and a posting's
``boards:``), the pydantic model of its ``providers:`` section (``Settings``; every
`SecretStr` field of it is a secret), the model of a posting's ``boards.<name>`` section
(``Section``), the two one-line descriptions the JSON Schema shows for them, how its keys
look (``KEY_SHAPES``, refused when written literally), its checks and its capabilities
(``SUPPORTS_*``). The config models of ``providers:`` and ``boards:`` are
built from this index (`model.Providers`, `model.Boards`), and code that needs a board of
some kind asks the connectors for a capability, never for a name.

The boards that ship with boardsync are listed here, as entry points of the same group an
installed package declares its own in (``[project.entry-points."boardsync.boards"]``), and
are loaded by the same code: a board from another package is not a second-class citizen.

Why this lives in `config`, the lower layer: connectors import `config` (a posting is their
input), so `config` may not import them; yet the models that validate the root file and the
postings are made of what each board declares. So `config` loads boards the way any plugin
is loaded, by entry point through `importlib.metadata`, and reads from each class only the
declaration above, never calling into it. That happens lazily, the first time a model that
holds ``providers:`` or ``boards:`` is validated or its schema is asked for (those models
are built with ``defer_build``), when `config` itself is fully imported. The static import
graph keeps its one direction (connectors → config), and a connector class is handed back
up to `boardsync.connectors`, which checks that it is one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from boardsync.errors import ConfigError

GROUP = "boardsync.boards"
"""The entry-point group a package declares its boards in."""

BUILTIN: tuple[EntryPoint, ...] = (
    EntryPoint("sorce", "boardsync.connectors.sorce:SorceConnector", GROUP),
    EntryPoint("hirempire", "boardsync.connectors.hirempire:HirempireConnector", GROUP),
    EntryPoint("recruitifi", "boardsync.connectors.recruitifi:RecruitifiConnector", GROUP),
)
"""The boards boardsync ships with, in the order they are listed everywhere."""


class BoardLoadError(ConfigError):
    """A board cannot be loaded: its entry point fails to import, its class lacks part of
    the declaration, or two boards claim one name."""


@dataclass(frozen=True)
class BoardDeclaration:
    """What `config` reads of a board: enough to build and describe its config models."""

    name: str
    settings: type[BaseModel]
    """The model of ``providers.<name>``."""
    section: type[BaseModel]
    """The model of a posting's ``boards.<name>``."""
    settings_help: str
    section_help: str
    key_shapes: Mapping[str, str]
    """Prefix → regex of the rest, of the board's credentials written out (may be empty)."""
    board: type
    """The connector class itself, for `boardsync.connectors` to build."""
    target: str
    """The entry point's ``module:Class``."""
    source: str
    """Where it came from: ``module:Class`` and the package that declares it."""


def boards() -> Mapping[str, BoardDeclaration]:
    """Every board, built-ins first, then installed ones by name; loaded once per process."""
    with _lock:
        if _loaded is None:
            _load()
        assert _loaded is not None
        return _loaded


def installed_entry_points() -> list[EntryPoint]:
    """The ``boardsync.boards`` entry points of the installed packages, by name."""
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def load_boards(points: Iterable[EntryPoint]) -> dict[str, BoardDeclaration]:
    """Load each entry point and read its declaration. The same target listed twice (a
    built-in also found installed) counts once; two targets for one name are an error."""
    found: dict[str, BoardDeclaration] = {}
    for point in points:
        if point.name in found and found[point.name].target == point.value:
            continue
        declaration = _declaration(point)
        if point.name in found:
            raise BoardLoadError(
                f"two boards are named {point.name!r}: {found[point.name].source} and {declaration.source}; "
                "uninstall one of the packages"
            )
        found[point.name] = declaration
    return found


_lock = threading.Lock()
_loaded: dict[str, BoardDeclaration] | None = None


def _load() -> None:
    global _loaded
    _loaded = load_boards([*BUILTIN, *installed_entry_points()])


def _declaration(point: EntryPoint) -> BoardDeclaration:
    source = _source(point)
    try:
        board = point.load()
    except Exception as exc:  # a broken plugin can raise anything while it imports
        raise BoardLoadError(
            f"board {point.name!r} ({source}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    missing = [attribute for attribute in _DECLARED if not hasattr(board, attribute)]
    if not isinstance(board, type) or missing:
        what = f"lacks {', '.join(missing)}" if missing else "is not a class"
        raise BoardLoadError(f"board {point.name!r} ({source}) {what}; a board is a Connector subclass")
    declared = {attribute: getattr(board, attribute) for attribute in _DECLARED}
    if declared["name"] != point.name:
        raise BoardLoadError(
            f"board {point.name!r} ({source}) calls itself {declared['name']!r}; "
            "the entry point's name must be the board's"
        )
    for attribute in ("Settings", "Section"):
        model = declared[attribute]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise BoardLoadError(f"board {point.name!r} ({source}): {attribute} is not a pydantic model")
    return BoardDeclaration(
        name=point.name,
        settings=declared["Settings"],
        section=declared["Section"],
        settings_help=str(declared["SETTINGS_HELP"]),
        section_help=str(declared["SECTION_HELP"]),
        key_shapes=dict(getattr(board, "KEY_SHAPES", {})),
        board=board,
        target=point.value,
        source=source,
    )


_DECLARED = ("name", "Settings", "Section", "SETTINGS_HELP", "SECTION_HELP")


def _source(point: EntryPoint) -> str:
    dist: Any = getattr(point, "dist", None)
    package = f" from {dist.metadata['Name']} {dist.version}" if dist is not None else ""
    return f"{point.value}{package}"
