"""The plan's three renderings: text for a terminal, JSON with a stable schema, Markdown."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

from boardsync.console import drift_table
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
from boardsync.state import DriftRow
from boardsync.terminal import plain

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

PLAN = Plan(
    changes=(
        Change("hirempire", "designer", Action.CREATE, "not on the board yet", publish=True,
               diffs=(FieldDiff("job_title", None, "Designer"),), channels=("linkedin",)),
        Change("sorce", "backend", Action.UPDATE, "the source changed", remote_id="j1",
               diffs=(FieldDiff("title", "Old | title", "New title"), FieldDiff("salaryMax", 100, 120))),
        Change("sorce", "backend", Action.PAUSE, "the source says paused", remote_id="j1"),
        Change("recruitifi", "backend", Action.REFRESH_LINK, "no signed link yet"),
        Change("hirempire", "backend", Action.UNPUBLISH, "the source says draft", remote_id="h1"),
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


DESCRIPTION = "".join(f"Line {n} of what the job is.\n" for n in range(1, 11))
EDITED = DESCRIPTION.replace("Line 5 of what", "Line 5, rewritten, of what")
DESCRIBED = Change("sorce", "a", Action.UPDATE, "x", diffs=(
    FieldDiff("description", DESCRIPTION, EDITED), FieldDiff("title", "Old", "New"),
))


def test_a_changed_description_is_a_diff_of_the_lines_that_changed() -> None:
    """A long text's change is a unified diff: the changed line out and in, a little context
    around it, nothing cut with an ellipsis; short values keep ``before → after``."""
    text = to_text(Plan(changes=(DESCRIBED,)))
    diff = [line.strip() for line in text.splitlines()]
    assert "-Line 5 of what the job is." in diff and "+Line 5, rewritten, of what the job is." in diff
    assert "Line 4 of what the job is." in diff and "Line 6 of what the job is." in diff
    assert "Line 1 of what the job is." not in diff and "Line 10 of what the job is." not in diff
    assert "--- on the board" in diff and "+++ desired" in diff
    assert "…" not in text and '      title: "Old" → "New"' in text


def test_a_paragraph_on_one_line_is_diffed_sentence_by_sentence() -> None:
    """A long one-line description shows only the sentence that changed, whole."""
    before = " ".join(f"Sentence {n} says what the team builds." for n in range(1, 9))
    after = before.replace("Sentence 8 says", "Sentence 8 now says")
    change = Change("sorce", "a", Action.UPDATE, "x", diffs=(FieldDiff("description", before, after),))
    diff = [line.strip() for line in to_text(Plan(changes=(change,))).splitlines()]
    assert "-Sentence 8 says what the team builds." in diff
    assert "+Sentence 8 now says what the team builds." in diff
    assert not any("Sentence 1 " in line for line in diff)


def test_drift_of_a_long_text_is_a_diff_from_the_board_to_the_desired() -> None:
    """A hand edit of a description reads as a diff from what the board has to what is desired."""
    drift = DriftItem("sorce", "a", "description", DESCRIPTION, EDITED, "report")
    lines = [line.strip() for line in to_text(Plan(drift=(drift,))).splitlines()]
    assert "? sorce/a description (reported):" in lines
    assert "-Line 5, rewritten, of what the job is." in lines and "+Line 5 of what the job is." in lines


def test_markdown_shows_a_long_text_change_in_a_fenced_diff_block() -> None:
    """Markdown: the fields table points below it, to a ```diff block of the changed lines."""
    markdown = to_markdown(Plan(changes=(DESCRIBED,)))
    assert "| description | (diff below) | (diff below) |" in markdown
    block = markdown.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert "-Line 5 of what the job is." in block and "+Line 5, rewritten, of what the job is." in block
    assert "| title | `\"Old\"` | `\"New\"` |" in markdown


def test_markdown_diff_fence_outlasts_backticks_in_the_text() -> None:
    """A description holding a code fence cannot close the diff block early."""
    before = "Intro line that is here.\n```\ncode\n```\n" + DESCRIPTION
    change = Change("sorce", "a", Action.UPDATE, "x", diffs=(FieldDiff("description", before, "```" + before),))
    markdown = to_markdown(Plan(changes=(change,)))
    assert "````diff\n" in markdown and "\n````\n" in markdown


def test_drift_table_lists_a_long_text_below_as_a_diff() -> None:
    """The drift command's table keeps one line per row and shows a long text's change under it."""
    row = DriftRow(1, "a", "sorce", "description", EDITED, DESCRIPTION, "report", NOW, NOW, None, None)
    short = DriftRow(2, "b", "sorce", "title", "New", "Old", "report", NOW, NOW, None, None)
    table, below = plain(drift_table([row, short])).split("\n\n", 1)
    assert len(table.splitlines()) == 3 and "(diff below)" in table and '"Old"' in table
    assert below.splitlines()[0] == "a sorce description:"
    assert "  +Line 5, rewritten, of what the job is." in below.splitlines()


def test_markdown_has_a_table_escapes_pipes_and_folds_diffs() -> None:
    """Markdown: a changes table, field diffs in a details block, pipes escaped in cells."""
    markdown = to_markdown(PLAN)
    assert "| board | posting | action | why |" in markdown
    assert "| sorce | backend | update | the source changed |" in markdown
    assert "<details><summary>Field changes</summary>" in markdown
    assert "Old \\| title" in markdown
    assert "#### Blocked" in markdown and "#### Drift" in markdown


def test_a_diff_in_colour_paints_only_the_lines_that_changed() -> None:
    """In colour, removed lines are red and added ones green; context lines carry no code."""
    lines = to_text(Plan(changes=(DESCRIBED,)), color=True).splitlines()
    assert "\033[31m        -Line 5 of what the job is.\033[0m" in lines
    assert "\033[32m        +Line 5, rewritten, of what the job is.\033[0m" in lines
    assert "         Line 4 of what the job is." in lines
