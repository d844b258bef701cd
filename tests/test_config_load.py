"""`boardsync.config.load`: the desired state as others use it, and the YAML rules behind it."""

from __future__ import annotations

import gc
import textwrap
from pathlib import Path

import pytest

from boardsync.config import ConfigError, Desired, load, yamlfile
from boardsync.config.model import Status, Workplace

EXAMPLES = Path(__file__).parent.parent / "examples"
ENV = {"SORCE_API_KEY": "sk_ext_example", "HIREMPIRE_TOKEN": "sk-example", "RECRUITIFI_CLIENT_SECRET": "rf-example"}

ROOT = """\
version: 1
postings: postings/
providers:
  hirempire:
    token: "${HIREMPIRE_TOKEN}"
    company_id: cmp_test
"""

POSTING = """\
key: {key}
title: Product Designer
description: Design the booking flow.
workplace: remote
remote_country: United States
employment_type: full_time
level: mid
boards:
  hirempire: {{}}
"""


def repo(tmp_path: Path, root: str = ROOT, **postings: str) -> Path:
    """A config repository in `tmp_path`: the root file and `name=text` posting files."""
    (tmp_path / "postings").mkdir(parents=True, exist_ok=True)
    (tmp_path / "boardsync.yaml").write_text(textwrap.dedent(root))
    for name, text in postings.items():
        path = tmp_path / "postings" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "boardsync.yaml"


def messages(error: ConfigError) -> list[str]:
    return [str(problem) for problem in error.problems]


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def test_the_example_repository_loads_with_postings_sorted_by_key() -> None:
    """examples/ is a complete, valid repository; postings come back ordered by key."""
    desired = load(EXAMPLES / "boardsync.yaml", env=ENV)
    keys = [p.key for p in desired.postings]
    assert keys == sorted(keys) and len(keys) >= 6
    assert desired.path == (EXAMPLES / "boardsync.yaml").resolve()
    assert desired.root.providers.names() == ["sorce", "hirempire", "recruitifi"]
    assert desired.root.providers.sorce is not None
    assert desired.root.providers.sorce.api_key.get_secret_value() == "sk_ext_example"
    assert desired.warnings == ()


def test_the_examples_cover_every_kind_of_posting_the_docs_promise() -> None:
    """Remote, hybrid with Sorce locations, on-site, draft, paused, and one not on every board."""
    postings = load(EXAMPLES / "boardsync.yaml", env=ENV).postings
    assert any(p.workplace is Workplace.REMOTE for p in postings)
    assert any(p.workplace is Workplace.HYBRID and p.locations[0].sorce_location_id for p in postings)
    assert any(p.workplace is Workplace.ON_SITE for p in postings)
    assert {Status.DRAFT, Status.PAUSED, Status.ACTIVE} <= {p.status for p in postings}
    assert any(len(p.boards.names()) < 3 and p.status is Status.ACTIVE for p in postings)
    assert any(p.channels for p in postings)


def test_where_points_at_a_field_or_its_nearest_written_parent(tmp_path: Path) -> None:
    """A written field gives its own line; a missing one gives the line of its parent."""
    desired = load(repo(tmp_path, designer=POSTING.format(key="designer")), env=ENV)
    assert desired.where("designer") == "postings/designer.yaml:1:1"
    assert desired.where("designer", "level") == "postings/designer.yaml:7:1"
    assert desired.where("designer", "boards.hirempire") == "postings/designer.yaml:9:3"
    assert desired.where("designer", "boards.hirempire.career_level") == "postings/designer.yaml:9:3"
    assert desired.where("designer", "salary") == "postings/designer.yaml:1:1"


def test_a_file_may_hold_a_list_of_postings_each_located_in_it(tmp_path: Path) -> None:
    """In a list file, where() is relative to each posting's own entry."""
    listed = "- " + POSTING.format(key="one").replace("\n", "\n  ").rstrip() + "\n"
    listed += "- " + POSTING.format(key="two").replace("\n", "\n  ").rstrip() + "\n"
    desired = load(repo(tmp_path, both=listed), env=ENV)
    assert [p.key for p in desired.postings] == ["one", "two"]
    assert desired.where("two", "level") == "postings/both.yaml:16:3"
    assert desired.where("two", "locations[0].city") == "postings/both.yaml:10:3"


def test_sections_written_empty_are_one_section_and_any_other_is_its_own(tmp_path: Path) -> None:
    """Every posting that names a board with ``{}`` holds the same section (one in memory for
    thousands of postings), with the defaults; a section that gives a value is its own, and
    leaves the shared one as it was."""
    titled = POSTING.format(key="titled").replace("hirempire: {}", "hirempire: {title: Product Designer II}")
    desired = load(repo(tmp_path, one=POSTING.format(key="one"), two=POSTING.format(key="two"), titled=titled),
                   env=ENV)
    one, two, own = (desired.posting(key).boards.hirempire for key in ("one", "two", "titled"))  # type: ignore[attr-defined]
    assert one is two
    assert (one.title, one.ignore, one.public_slug) == (None, [], None)
    assert own is not one and own.title == "Product Designer II" and one.title is None
    again = load(repo(tmp_path / "again", three=POSTING.format(key="three")), env=ENV)
    assert again.posting("three").boards.hirempire is one  # type: ignore[attr-defined]


def test_posting_looks_a_key_up_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    """posting(key) returns the posting; an unknown key is a KeyError, not None."""
    desired = load(repo(tmp_path, designer=POSTING.format(key="designer")), env=ENV)
    assert desired.posting("designer").title == "Product Designer"
    with pytest.raises(KeyError):
        desired.posting("nobody")


def test_folders_are_read_recursively_in_order_and_hidden_entries_skipped(tmp_path: Path) -> None:
    """*.yaml and *.yml at any depth count; dot-files and other extensions do not."""
    root = repo(
        tmp_path,
        **{
            "eng/backend": POSTING.format(key="backend"),
            "design/ui": POSTING.format(key="ui"),
            ".drafts/secret": POSTING.format(key="hidden"),
        },
    )
    (tmp_path / "postings" / "notes.yml").write_text(POSTING.format(key="notes"))
    (tmp_path / "postings" / "README.md").write_text("not a posting")
    assert [p.key for p in load(root, env=ENV).postings] == ["backend", "notes", "ui"]


def test_relative_paths_start_at_the_root_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading from elsewhere finds the same postings, and the state file lands beside the root."""
    root = repo(tmp_path / "repo", designer=POSTING.format(key="designer"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    desired = load(root, env=ENV)
    assert [p.key for p in desired.postings] == ["designer"]
    assert desired.state_url == f"sqlite:///{(tmp_path / 'repo' / 'boardsync.db').resolve()}"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("sqlite:///data/state.db", "sqlite:///{base}/data/state.db"),
        ("data/state.db", "sqlite:///{base}/data/state.db"),
        ("sqlite:////var/lib/boardsync/state.db", "sqlite:////var/lib/boardsync/state.db"),
        ("sqlite://", "sqlite://"),
        ("postgresql+psycopg://boardsync@db.internal/boardsync", "postgresql+psycopg://boardsync@db.internal/boardsync"),
    ],
)
def test_the_state_url_is_resolved_only_where_it_is_a_relative_sqlite_path(tmp_path, state, expected) -> None:
    """Relative SQLite files start at the root's folder; absolute, in-memory and server URLs stay."""
    root = repo(tmp_path, ROOT + f"state: {state}\n", designer=POSTING.format(key="designer"))
    assert load(root, env=ENV).state_url == expected.format(base=tmp_path.resolve())


def test_the_digest_ignores_secret_values_and_follows_the_postings(tmp_path: Path) -> None:
    """Rotating a secret keeps the digest; editing a posting changes it; no secret is in it."""
    root = repo(tmp_path, designer=POSTING.format(key="designer"))
    first = load(root, env={"HIREMPIRE_TOKEN": "sk-first-token-value"})
    rotated = load(root, env={"HIREMPIRE_TOKEN": "sk-second-token-value"})
    unresolved = load(root, env={}, resolve_secrets=False)
    assert first.digest == rotated.digest == unresolved.digest
    (tmp_path / "postings" / "designer.yaml").write_text(POSTING.format(key="designer").replace("mid", "senior"))
    assert load(root, env={"HIREMPIRE_TOKEN": "x"}).digest != first.digest
    assert "sk-first-token-value" not in repr(first)


def test_a_posting_digest_does_not_depend_on_the_order_its_file_writes_the_fields_in(tmp_path: Path) -> None:
    """The same posting written in another order is the same desired state: no saved plan goes
    stale and no run records a changed config for it."""
    root = repo(tmp_path, designer=POSTING.format(key="designer"))
    first = load(root, env=ENV)
    lines = POSTING.format(key="designer").splitlines()
    reordered = "\n".join([*reversed(lines[:7]), *lines[7:]]) + "\n"
    assert reordered != POSTING.format(key="designer")
    (tmp_path / "postings" / "designer.yaml").write_text(reordered)
    again = load(root, env=ENV)
    assert again.postings == first.postings
    assert again.posting_digests == first.posting_digests
    assert again.digest == first.digest


def test_load_raises_one_config_error_listing_every_problem(tmp_path: Path) -> None:
    """Problems in the root file and in two postings all come back together."""
    root = repo(
        tmp_path,
        ROOT + "policy: {max_close_percent: 130}\n",
        a=POSTING.format(key="a").replace("level: mid", "level: medium"),
        b=POSTING.format(key="B"),
    )
    with pytest.raises(ConfigError) as caught:
        load(root, env=ENV)
    assert messages(caught.value) == [
        "boardsync.yaml:7:10: policy.max_close_percent: should be less than or equal to 100",
        "postings/a.yaml:7:1: level: 'medium' is not allowed; use one of: entry, mid, senior",
        "postings/b.yaml:1:1: key: must be lowercase letters, digits, '.', '_' or '-', starting with a "
        "letter or digit, at most 100 characters (got 'B')",
    ]


def test_a_root_file_problem_does_not_hide_the_postings_problems(tmp_path: Path) -> None:
    """An unknown provider key and a broken posting are both reported."""
    root = repo(tmp_path, ROOT.replace("company_id", "compny_id"), a=POSTING.format(key="a").replace("mid", "x"))
    with pytest.raises(ConfigError) as caught:
        load(root, env=ENV)
    assert [p.field for p in caught.value.problems] == ["providers.hirempire.compny_id", "level"]
    assert "did you mean 'company_id'?" in caught.value.problems[0].message


def test_a_posting_naming_a_board_not_configured_is_a_problem(tmp_path: Path) -> None:
    """boards.sorce needs providers.sorce; the posting's `sorce:` line is blamed."""
    posting = POSTING.format(key="designer").replace("  hirempire: {}", "  hirempire: {}\n  sorce: {}")
    with pytest.raises(ConfigError) as caught:
        load(repo(tmp_path, designer=posting), env=ENV)
    assert messages(caught.value) == [
        "postings/designer.yaml:10:3: boards.sorce: sorce is not configured under `providers:` in the root file"
    ]


def test_yaml_is_read_as_yaml_1_2_so_no_is_not_false(tmp_path: Path) -> None:
    """Norway's code `NO` stays text: YAML 1.1's yes/no booleans do not apply."""
    posting = POSTING.format(key="oslo").replace("United States", "NO")
    assert load(repo(tmp_path, oslo=posting), env=ENV).postings[0].remote_country == "NO"


@pytest.mark.parametrize(
    "text", [POSTING.format(key="designer"), "notes:\n" + "[\n" * 1100 + "]\n" * 1100],
    ids=["a posting", "nested deeper than the C parser is trusted with"],
)
def test_parsing_leaves_nothing_behind(text: str) -> None:
    """A first sync or a `validate` parses every posting file: each parse, or refusal, frees
    all it made as it ends, leaving no reference cycle for the collector and nothing kept."""

    def parse(source: str) -> None:
        try:
            yamlfile.parse(text, source)
        except yamlfile.FileProblem:
            pass

    def from_ruamel(found: object) -> bool:
        module = vars(found).get("__module__") if isinstance(found, type) else type(found).__module__
        return isinstance(module, str) and module.startswith("ruamel")

    parse("first.yaml")  # what every parse shares is made by the first
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        kept = sum(map(from_ruamel, gc.get_objects()))
        for index in range(200):
            parse(f"posting-{index}.yaml")
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        assert [o for o in gc.garbage if from_ruamel(o)] == []
        assert sum(map(from_ruamel, gc.get_objects())) == kept
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def test_two_postings_giving_one_hirempire_slug_are_refused_naming_both_places(tmp_path: Path) -> None:
    """One public_slug in two postings would be one Hirempire job for both: refused at load,
    at the second slug, naming the first; a third posting with a slug of its own is not."""
    slugged = POSTING.replace("hirempire: {{}}", "hirempire:\n    public_slug: {slug}")
    path = repo(
        tmp_path,
        day=slugged.format(key="day", slug="warehouse-shifts"),
        night=slugged.format(key="night", slug="warehouse-shifts"),
        other=slugged.format(key="other", slug="other-shifts"),
    )
    with pytest.raises(ConfigError) as caught:
        load(path, env=ENV)
    assert messages(caught.value) == [
        "postings/night.yaml:10:5: boards.hirempire.public_slug: 'warehouse-shifts' is also the hirempire "
        "public_slug of posting 'day' (at postings/day.yaml:10:5): the two postings would share one hirempire job"
    ]


def test_a_hirempire_slug_that_is_another_postings_default_is_refused(tmp_path: Path) -> None:
    """A public_slug equal to another posting's bs-KEY would make its job that posting's:
    refused at the slug written out, naming the other posting's key, whichever file comes first."""
    path = repo(
        tmp_path,
        a=POSTING.format(key="zeta").replace("hirempire: {}", "hirempire:\n    public_slug: bs-alpha"),
        b=POSTING.format(key="alpha"),
    )
    with pytest.raises(ConfigError) as caught:
        load(path, env=ENV)
    assert messages(caught.value) == [
        "postings/a.yaml:10:5: boards.hirempire.public_slug: 'bs-alpha' is also the hirempire public_slug of "
        "posting 'alpha', by default from its key (at postings/b.yaml:1:1): the two postings would share one "
        "hirempire job"
    ]
    (tmp_path / "postings" / "a.yaml").write_text(POSTING.format(key="zeta").replace(
        "hirempire: {}", "hirempire:\n    public_slug: bs-zeta"))
    assert [p.key for p in load(path, env=ENV).postings] == ["alpha", "zeta"]


def test_a_key_written_twice_in_one_mapping_is_refused(tmp_path: Path) -> None:
    """YAML parsers usually keep the last of two equal keys; here it is an error."""
    posting = POSTING.format(key="designer") + "title: Another title\n"
    with pytest.raises(ConfigError) as caught:
        load(repo(tmp_path, designer=posting), env=ENV)
    assert messages(caught.value) == ["postings/designer.yaml:10:1: duplicate key 'title' (first written on line 2)"]


def test_merge_keys_share_values_between_postings(tmp_path: Path) -> None:
    """`<<: *defaults` fills what a posting does not write itself."""
    text = """\
        - &base
          key: base
          title: Base
          description: Shared values.
          workplace: remote
          remote_country: United States
          employment_type: full_time
          level: mid
          boards: {hirempire: {}}
        - <<: *base
          key: derived
          level: senior
        """
    desired = load(repo(tmp_path, both=text), env=ENV)
    derived = desired.posting("derived")
    assert (derived.title, derived.level.value) == ("Base", "senior")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key: !!python/object:os.system {}\n", "postings/bad.yaml:1:6: unsupported tag tag:yaml.org,2002:python/object:os.system"),
        ("a: 1\n---\nb: 2\n", "postings/bad.yaml:2:1: a second YAML document ('---'); a file holds one document"),
        ("just some text\n", "postings/bad.yaml:1:1: a posting file holds one posting (a mapping) or a list of them"),
        ("- just text\n", "postings/bad.yaml:1:3: expected a posting (a mapping of fields)"),
        ("a: &x [*x]\n", "postings/bad.yaml:1:4: an alias refers to itself"),
        ("[" * 80 + "]" * 80 + "\n", "postings/bad.yaml:1:66: nested too deeply (more than 64 levels)"),
    ],
)
def test_yaml_that_is_not_a_posting_is_refused_with_its_place(tmp_path: Path, text: str, message: str) -> None:
    """Tags, several documents, scalars, recursive aliases and deep nesting each get a message."""
    with pytest.raises(ConfigError) as caught:
        load(repo(tmp_path, bad=text), env=ENV)
    assert messages(caught.value) == [message]


def test_an_empty_posting_file_is_a_warning(tmp_path: Path) -> None:
    """A file with only comments holds no postings; loading goes on."""
    desired = load(repo(tmp_path, empty="# nothing yet\n", designer=POSTING.format(key="designer")), env=ENV)
    assert [str(w) for w in desired.warnings] == ["postings/empty.yaml:1:1: empty file: no postings"]
    assert len(desired.postings) == 1


def test_a_posting_that_names_no_board_is_a_warning(tmp_path: Path) -> None:
    """`boards: {}` is valid but goes nowhere, which is worth saying."""
    posting = POSTING.format(key="designer").replace("  hirempire: {}\n", "").replace("boards:", "boards: {}")
    desired = load(repo(tmp_path, designer=posting), env=ENV)
    assert [str(w) for w in desired.warnings] == [
        "postings/designer.yaml:8:1: boards: names no board; the posting goes nowhere"
    ]


def test_a_root_file_that_is_empty_says_what_it_needs(tmp_path: Path) -> None:
    """An empty root file is not a crash but a problem naming the two required keys."""
    root = tmp_path / "boardsync.yaml"
    root.write_text("")
    with pytest.raises(ConfigError) as caught:
        load(root, env=ENV)
    assert messages(caught.value) == [
        "boardsync.yaml:1:1: the root file is empty; it needs at least `version: 1` and `providers:`"
    ]


def test_a_root_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    """The path given is the one reported, as the config file it should be."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "nope.yaml", env=ENV)
    assert messages(caught.value) == [
        "nope.yaml: file does not exist; no boardsync config here (-c names the root file; default ./boardsync.yaml)"
    ]


def test_a_wrong_postings_value_gets_one_message_not_one_per_alternative(tmp_path: Path) -> None:
    """`postings:` is a path or {sql, table}; a typo inside {sql} is one problem with a hint."""
    root = repo(tmp_path, ROOT.replace("postings: postings/", "postings: {sql: 'sqlite://', tabel: jobs}"))
    with pytest.raises(ConfigError) as caught:
        load(root, env=ENV)
    assert messages(caught.value) == [
        "boardsync.yaml:2:30: postings.tabel: unknown key 'tabel'; did you mean 'table'?"
    ]


def test_desired_is_a_frozen_value(tmp_path: Path) -> None:
    """Desired and the models in it cannot be changed after loading."""
    desired: Desired = load(repo(tmp_path, designer=POSTING.format(key="designer")), env=ENV)
    with pytest.raises(AttributeError):
        desired.digest = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        desired.postings[0].title = "x"  # type: ignore[misc]
