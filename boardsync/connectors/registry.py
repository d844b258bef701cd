"""Which boards exist, found by name or by what they can do.

Kept apart from the package's `__init__` (which builds HTTP clients) so that the run can ask
for a board's capabilities without reaching the transport.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from boardsync.config.boards import BoardLoadError, boards
from boardsync.connectors.base import Connector
from boardsync.errors import ConfigError


class _Registry(Mapping[str, type[Connector]]):
    """Every board's connector class by name, in the order boards are listed; read when
    first asked for, so that importing this package loads no board."""

    def __getitem__(self, name: str) -> type[Connector]:
        return _connector_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(boards())

    def __len__(self) -> int:
        return len(boards())


REGISTRY: Mapping[str, type[Connector]] = _Registry()


def with_capability(capability: str) -> list[str]:
    """The names of the boards whose connector sets `capability` (``"SUPPORTS_LINKS"``)."""
    return [name for name, connector in REGISTRY.items() if getattr(connector, capability)]


def none_configured(capability: str, does: str) -> ConfigError:
    """The error of a command that needs a board that `does` something (one whose connector
    sets `capability`) when none is configured: it names the sections that would do."""
    known = " or ".join(f"providers.{name}" for name in with_capability(capability))
    return ConfigError(f"no board configured that {does} ({known or 'no board known does'})")


def _connector_class(name: str) -> type[Connector]:
    declared = boards()[name]
    if not (isinstance(declared.board, type) and issubclass(declared.board, Connector)):
        raise BoardLoadError(f"board {name!r} ({declared.source}) is not a boardsync.connectors.base.Connector")
    return declared.board
