"""Which boards exist: one index, loaded from entry points, that the config models, the
secrets and the capability lookups are all built from."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import BaseModel

from boardsync import config
from boardsync.config.boards import BUILTIN, GROUP, BoardLoadError, boards, load_boards
from boardsync.config.loader import secret_fields
from boardsync.config.model import providers_model
from boardsync.connectors import REGISTRY, with_capability
from boardsync.connectors.recruitifi import RecruitifiConnector, RecruitifiSettings
from boardsync.connectors.sorce import SorceConnector
from boardsync.errors import ConfigError
from boardsync.reconcile import fresh_links


class Renamed(SorceConnector):
    """A board whose class says one name while its entry point says another."""

    name = "elsewhere"


class OtherSorce(SorceConnector):
    """Another package's board that also calls itself sorce."""


class Empty(BaseModel):
    pass


class NotABoard:
    """A class that declares none of a board's parts."""


class Broken:
    name = "broken"
    Settings = "not a model"
    Section = Empty
    SETTINGS_HELP = SECTION_HELP = "…"


def point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, target, GROUP)


def test_the_builtin_boards_are_loaded_in_their_order() -> None:
    """Sorce, Hirempire and RecruitiFi, each read from its connector module's declaration."""
    loaded = load_boards(BUILTIN)
    assert list(loaded) == ["sorce", "hirempire", "recruitifi"]
    assert loaded["recruitifi"].settings is RecruitifiSettings and loaded["recruitifi"].board is RecruitifiConnector


def test_the_same_board_listed_twice_counts_once() -> None:
    """A built-in that an installed package's metadata also lists is one board, not a clash."""
    assert list(load_boards([*BUILTIN, BUILTIN[0]])) == ["sorce", "hirempire", "recruitifi"]


def test_two_boards_of_one_name_are_an_error_naming_both() -> None:
    """Two packages that claim one board name are refused, with both targets named."""
    clash = point("sorce", f"{__name__}:OtherSorce")
    with pytest.raises(BoardLoadError) as caught:
        load_boards([*BUILTIN, clash])
    message = str(caught.value)
    assert "two boards are named 'sorce'" in message
    assert "boardsync.connectors.sorce:SorceConnector" in message and f"{__name__}:OtherSorce" in message


def test_an_entry_point_that_fails_to_import_names_the_board_and_the_cause() -> None:
    """A board whose module cannot be imported says which board, which target and why."""
    with pytest.raises(BoardLoadError) as caught:
        load_boards([point("acme", "boardsync_no_such_board_module:AcmeConnector")])
    message = str(caught.value)
    assert message.startswith("board 'acme' (boardsync_no_such_board_module:AcmeConnector) failed to load")
    assert "ModuleNotFoundError" in message
    assert isinstance(caught.value, ConfigError)  # the command line says it and exits 1


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (f"{__name__}:NotABoard", "lacks name, Settings, Section, SETTINGS_HELP, SECTION_HELP"),
        (f"{__name__}:Renamed", "calls itself 'elsewhere'"),
        (f"{__name__}:Broken", "Settings is not a pydantic model"),
    ],
)
def test_a_class_that_is_not_a_whole_board_is_refused(target: str, said: str) -> None:
    """An entry point must name a class with the whole declaration, under its own name."""
    name = "broken" if target.endswith("Broken") else "sorce"
    with pytest.raises(BoardLoadError, match=said):
        load_boards([point(name, target)])


def test_the_config_models_have_a_field_per_board() -> None:
    """`providers:` and `boards:` take exactly the boards of the index, with their models."""
    assert list(providers_model().model_fields) == list(boards())
    assert providers_model().model_fields["sorce"].description == SorceConnector.SETTINGS_HELP


def test_the_secret_fields_are_the_settings_secretstr_fields() -> None:
    """What is warned about when written literally comes from each board's settings model."""
    assert secret_fields() == [
        ("providers", "hirempire", "token"),
        ("providers", "recruitifi", "client_secret"),
        ("providers", "sorce", "api_key"),
    ]


def test_capabilities_find_the_boards_of_a_kind() -> None:
    """Code asks for a capability and gets the boards that have it."""
    assert with_capability("SUPPORTS_LINKS") == ["recruitifi"]
    assert with_capability("SUPPORTS_CHANNELS") == ["hirempire"]
    assert with_capability("SUPPORTS_JOBS") == ["sorce", "hirempire"]
    assert all(REGISTRY[name].name == name for name in REGISTRY)


def test_links_without_a_link_board_names_the_section_that_would_do(tmp_path: Path) -> None:
    """`boardsync links` with no board that hands out links points at the board that does."""
    from boardsync.state.store import open_store

    root = tmp_path / "boardsync.yaml"
    root.write_text("version: 1\nstate: sqlite:///state.db\npostings: postings/\nproviders: {}\n")
    (tmp_path / "postings").mkdir()
    desired = config.load(root)
    with open_store(desired.state_url) as store, pytest.raises(ConfigError) as caught:
        fresh_links(desired, store, {})
    assert str(caught.value) == "no board configured that hands out signed links (providers.recruitifi)"


def test_a_literal_key_is_known_by_the_shapes_the_boards_declare() -> None:
    """Each board's KEY_SHAPES is what a key written into a file is recognised by; a shape
    no board declares is not refused."""
    from boardsync.config.secrets import looks_like_key

    declared = {board.name: dict(board.key_shapes) for board in boards().values()}
    assert declared == {"sorce": {"sk_ext_": r"[A-Za-z0-9_-]{6,}"}, "hirempire": {"sk-": r"[A-Za-z0-9_-]{8,}"},
                        "recruitifi": {}}
    assert looks_like_key("sk_ext_4f9a8b7c") and looks_like_key("postgresql://u:sk-abcdef012345@db/x")
    assert not looks_like_key("pk_live_4f9a8b7c6d5e")
