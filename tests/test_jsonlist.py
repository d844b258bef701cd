"""`jsonlist.listed` reads one list of a JSON answer an item at a time, and reads exactly
what ``json.loads`` reads: the same items, and a refusal of the same broken text."""

from __future__ import annotations

import json

import pytest

from boardsync.connectors.jsonlist import listed

AGREED = [
    '{"success":true,"total_jobs":2,"jobs":[{"id":"a"},{"id":"b"}]}',
    '{"jobs":[{"id":"a"}],"success":true,"total_jobs":1}',
    ' \n{ "jobs" :\t[ {"id": "a", "tags": ["x", {"jobs": [1]}]} ,\r\n {"id":"b"} ] } \n',
    '{"jobs":[]}',
    '{"jobs":[ ]}',
    '{"meta":{"jobs":[9]},"jobs":[1,"two",null,3.5,[4]]}',
    '{"jobs":null,"jobs":[{"id":"a"}]}',  # json.loads keeps the last of two names
    '{"note":"a \\"jobs\\": [ inside a string","jobs":[{"id":"\\u00e9t\\u00e9"}]}',
]


@pytest.mark.parametrize("text", AGREED)
def test_the_items_are_those_json_loads_reads(text: str) -> None:
    items = listed(text, "jobs")
    assert items is not None
    assert list(items) == json.loads(text)["jobs"]


@pytest.mark.parametrize("text", ['{}', '{"jobs":null}', '{"jobs":{"0":1}}', '{"other":[1]}', '[{"id":"a"}]', '"jobs"'])
def test_an_answer_without_the_list_is_left_to_be_read_whole(text: str) -> None:
    """None: the caller parses it whole, to say what it is."""
    assert listed(text, "jobs") is None


@pytest.mark.parametrize(
    "text",
    [
        '{"jobs":[{"id":"a"},{"id":"b"}',  # cut short after the second item
        '{"jobs":[{"id":"a"},{"id":"b"}]',  # the object never closed
        '{"jobs":[{"id":"a"},{"id":"b"}]} and more',
        '{"jobs":[{"id":"a"},{"id":"b"}],}',
        '{"jobs":[{"id":"a"},{"id":"b"}],"success":tru}',
        '{"jobs":[{"id":"a"},{"id":"b"}],"jobs":[]}',  # the list handed out is not the one kept
    ],
)
def test_text_broken_after_the_items_is_refused_when_reached(text: str) -> None:
    """The items before the break are handed out, then the walk refuses the text as
    ``json.loads`` refuses it (or, for a second list of the same name, as not the list read)."""
    items = listed(text, "jobs")
    assert items is not None
    assert next(items) == {"id": "a"}
    assert next(items) == {"id": "b"}
    with pytest.raises(ValueError):
        next(items)
    if '"jobs":[]' not in text:
        with pytest.raises(ValueError):
            json.loads(text)


@pytest.mark.parametrize(
    "text",
    ['{"success":tru,"jobs":[]}', '{"success" true,"jobs":[]}', '{success:true,"jobs":[]}', '{"a":1 "jobs":[]}', '{'],
)
def test_text_broken_before_the_list_is_refused_at_once(text: str) -> None:
    with pytest.raises(ValueError):
        listed(text, "jobs")
    with pytest.raises(ValueError):
        json.loads(text)


def test_each_item_is_parsed_only_when_asked_for() -> None:
    """A break in the third item is not reached while the first two are read."""
    items = listed('{"jobs":[1,2,{"broken"]}', "jobs")
    assert items is not None
    assert (next(items), next(items)) == (1, 2)
    with pytest.raises(ValueError):
        next(items)
