"""The JSON Schemas: generated from the model, kept in examples/, and true to the examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from boardsync.cli import main
from boardsync.config import json_schema
from boardsync.config.schema import render

EXAMPLES = Path(__file__).parent.parent / "examples"
SCHEMA_FILES = {"root": EXAMPLES / "boardsync.schema.json", "posting": EXAMPLES / "posting.schema.json"}


def yaml_files() -> list[Path]:
    return [EXAMPLES / "boardsync.yaml", *sorted((EXAMPLES / "postings").rglob("*.yaml"))]


def read_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


@pytest.mark.parametrize("which", ["root", "posting"])
def test_the_schema_files_in_examples_are_up_to_date(which: str) -> None:
    """Regenerate with `boardsync schema root > examples/boardsync.schema.json` (and posting)."""
    assert SCHEMA_FILES[which].read_text() == render(json_schema(which)), (  # type: ignore[arg-type]
        f"{SCHEMA_FILES[which].name} is stale: run `boardsync schema {which} > examples/{SCHEMA_FILES[which].name}`"
    )


@pytest.mark.parametrize("which", ["root", "posting"])
def test_the_schemas_are_valid_json_schema(which: str) -> None:
    """Both are valid draft 2020-12 schemas that refuse unknown keys."""
    schema = json_schema(which)  # type: ignore[arg-type]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "additionalProperties': False" in repr(schema)


def test_every_example_file_passes_its_schema() -> None:
    """What the loader accepts in examples/, an editor using the schema accepts too."""
    root = jsonschema.Draft202012Validator(json_schema("root"))
    posting = jsonschema.Draft202012Validator(json_schema("posting"))
    for path in yaml_files():
        validator = root if path.name == "boardsync.yaml" else posting
        errors = [e.message for e in validator.iter_errors(read_yaml(path))]
        assert errors == [], path


def test_the_posting_schema_refuses_an_unknown_key_and_a_wrong_enum() -> None:
    """Editors flag the same mistakes `boardsync validate` does."""
    validator = jsonschema.Draft202012Validator(json_schema("posting"))
    good = read_yaml(EXAMPLES / "postings" / "backend-engineer.yaml")
    assert validator.is_valid(good) and validator.is_valid([good, good])
    assert not validator.is_valid({**good, "titel": "x"})
    assert not validator.is_valid({**good, "status": "live"})


def test_every_example_file_names_its_schema_for_editors() -> None:
    """Each file starts with a yaml-language-server line pointing at a schema that exists."""
    for path in yaml_files():
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target in {p.resolve() for p in SCHEMA_FILES.values()}, path


def test_every_field_in_both_schemas_has_a_description() -> None:
    """Completion in an editor shows what each field means."""
    missing = []
    for which in ("root", "posting"):
        schema = json_schema(which)  # type: ignore[arg-type]
        for name, definition in schema["$defs"].items():
            for field, spec in definition.get("properties", {}).items():
                if not spec.get("description"):
                    missing.append(f"{which}: {name}.{field}")
        for field, spec in schema.get("properties", {}).items():
            if not spec.get("description"):
                missing.append(f"{which}: {field}")
    assert missing == []


def test_boardsync_schema_prints_one_or_both_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`schema root`/`schema posting` print one schema; no argument prints both, keyed."""
    assert main(["schema", "posting"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema("posting")
    assert main(["schema"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both == {"root": json_schema("root"), "posting": json_schema("posting")}


def test_schema_check_passes_the_committed_schema_files_silently(capsys: pytest.CaptureFixture[str]) -> None:
    """`schema --check` knows each file's schema by its name and exits 0 with nothing to say."""
    assert main(["schema", "--check", *map(str, SCHEMA_FILES.values())]) == 0
    assert capsys.readouterr() == ("", "")


def test_schema_check_names_a_stale_file_and_the_command_that_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A schema file one field behind fails the check (exit 1) with the command to regenerate it."""
    stale = json_schema("posting")
    stale["$defs"]["Posting"]["properties"].popitem()
    current, old = tmp_path / "boardsync.schema.json", tmp_path / "posting.schema.json"
    current.write_text(render(json_schema("root")))
    old.write_text(render(stale))
    assert main(["schema", "--check", str(current), str(old)]) == 1
    err = capsys.readouterr().err
    assert f"{old}: stale" in err and f"boardsync schema posting > {old}" in err
    assert str(current) not in err


def test_schema_check_refuses_a_file_it_cannot_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file whose name does not say which schema it holds, or that is missing, is an error;
    naming the schema checks a file of any name."""
    odd = tmp_path / "jobs.json"
    odd.write_text(render(json_schema("root")))
    assert main(["schema", "--check", str(odd), str(tmp_path / "posting.schema.json")]) == 1
    err = capsys.readouterr().err
    assert f"{odd}: cannot tell which schema it holds" in err
    assert f"{tmp_path / 'posting.schema.json'}: no such file" in err
    assert main(["schema", "root", "--check", str(odd)]) == 0
