"""The plan's three renderings: text for a terminal, JSON with a stable schema, Markdown."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from boardsync.reconcile.model import (
    Action,
    BlockedItem,
    BoardError,
    Change,
    DriftItem,
    FieldDiff,
    Plan,
    RemovedItem,
)
from boardsync.reconcile.render import load_schema, to_document, to_json, to_markdown, to_text

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

PLAN = Plan(
    changes=(
        Change("hirempire", "designer", Action.CREATE, "not on the board yet", publish=True,
               diffs=(FieldDiff("job_title", None, "Designer"),), channels=("linkedin",)),
        Change("sorce", "backend", Action.UPDATE, "the source changed", remote_id="j1",
               diffs=(FieldDiff("title", "Old | title", "New title"), FieldDiff("salaryMax", 100, 120))),
        Change("sorce", "backend", Action.PAUSE, "the source says paused", remote_id="j1"),
        Change("recruitifi", "backend", Action.REFRESH_LINK, "no signed link yet"),
    ),
    drift=(DriftItem("sorce", "frontend", "qualifications", ["a"], ["b"], "frozen"),),
    blocked=(BlockedItem("sorce", "ops", "Terms not accepted. A person must accept them.", gate="terms",
                         fields={"terms": "accept in the dashboard"}),),
    removed=(RemovedItem("sorce", "old", "j9", "active", closing=False),),
    errors=(BoardError("hirempire", "GET /jobs: 500"),),
    generated_at=NOW,
    config_digest="abc123",
)


def test_json_plan_validates_against_the_published_schema() -> None:
    """Every part of a plan renders to JSON that the shipped schema accepts."""
    jsonschema.validate(json.loads(to_json(PLAN)), load_schema())
    jsonschema.validate(json.loads(to_json(Plan())), load_schema())


def test_json_schema_rejects_a_document_missing_a_field() -> None:
    """The schema is strict enough to notice a missing top-level field."""
    document = to_document(PLAN)
    del document["changes"]
    try:
        jsonschema.validate(document, load_schema())
    except jsonschema.ValidationError as exc:
        assert "changes" in exc.message
    else:
        raise AssertionError("a document without changes validated")


def test_json_plan_carries_field_diffs_and_in_sync_flag() -> None:
    """The JSON lists each change's fields with before and after, and says whether in sync."""
    document = to_document(PLAN)
    update = document["changes"][1]
    assert update["action"] == "update" and update["remote_id"] == "j1"
    assert update["fields"][1] == {"field": "salaryMax", "before": 100, "after": 120}
    assert document["in_sync"] is False and document["counts"]["update"] == 1
    only_link = Plan(changes=(PLAN.changes[3],))
    assert to_document(only_link)["in_sync"] is True


def test_text_shows_each_field_before_and_after() -> None:
    """The text diff has one line per changed field, and sections for the rest."""
    text = to_text(PLAN)
    assert '      title: "Old | title" → "New title"' in text
    assert "  ~ backend: update [j1]" in text
    assert "+ designer: create (live)" in text
    for section in ("Drift", "Blocked", "Removed from the source", "Errors"):
        assert f"\n{section}\n" in text
    assert "accept in the dashboard" in text
    assert text.rstrip().endswith(".")


def test_text_is_coloured_only_when_asked() -> None:
    """ANSI colour codes appear with color=True and never without."""
    assert "\033[" not in to_text(PLAN)
    assert "\033[33m" in to_text(PLAN, color=True)


def test_text_of_an_empty_plan_says_nothing_to_change() -> None:
    """An in-sync plan renders as a single summary line."""
    assert to_text(Plan()) == "Plan: nothing to change.\n"


def test_long_values_are_shortened_in_text() -> None:
    """A long description does not flood the terminal: it is cut with an ellipsis."""
    change = Change("sorce", "a", Action.UPDATE, "x", diffs=(FieldDiff("description", "a" * 500, "b" * 500),))
    line = to_text(Plan(changes=(change,))).splitlines()[2]
    assert len(line) < 200 and "…" in line


def test_markdown_has_a_table_escapes_pipes_and_folds_diffs() -> None:
    """Markdown: a changes table, field diffs in a details block, pipes escaped in cells."""
    markdown = to_markdown(PLAN)
    assert "| board | posting | action | why |" in markdown
    assert "| sorce | backend | update | the source changed |" in markdown
    assert "<details><summary>Field changes</summary>" in markdown
    assert "Old \\| title" in markdown
    assert "#### Blocked" in markdown and "#### Drift" in markdown
