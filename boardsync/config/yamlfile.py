"""Reading one YAML file into plain values, keeping where each value was written.

The file is read defensively, because it comes from a pull request as often as from an
operator: its size is checked before it is read, it must be UTF-8, tabs in indentation are
named, duplicate keys are refused, and aliases may not expand it past a fixed number of
values (a "billion laughs" file is refused before anything is built from it).

A value's place is kept in `Document.marks`, keyed by its path (``("salary", "max")``,
``(2, "locations", 0)``): the line and column of the key for a mapping entry, of the item for
a sequence entry, of the node for the root. Lines and columns are 1-based.
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.main import CParser  # type: ignore[attr-defined]  # None without ruamel.yaml.clib
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from boardsync.errors import Problem

MAX_FILE_BYTES = 1024 * 1024
"""No config or posting file is larger than this; a bigger one is a mistake or an attack."""
MAX_VALUES = 250_000
"""Values a file may hold once aliases are expanded (a 1 MiB file of postings holds far fewer)."""
MAX_DEPTH = 64
"""Nesting deeper than this is never a posting."""
_C_PARSER_DEPTH_BOUND = 1000
"""libyaml recurses on the C stack; a file that might nest deeper is parsed in Python instead."""

Path_ = tuple[str | int, ...]
Marks = Mapping[Path_, tuple[int, int]]

_TAG = "tag:yaml.org,2002:"
_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s\]},]")
"""Something that may be an anchor; false positives only cost a count of the nodes."""


@dataclass
class Document:
    """A parsed file: its values and where each was written."""

    source: str
    """The file as shown in messages (relative to the working directory when inside it)."""
    data: Any
    marks: Marks = field(default_factory=dict)

    def where(self, path: Path_) -> str:
        """``file:line:col`` of `path`, or of its nearest parent that was written."""
        return f"{self.source}:{format_mark(nearest_mark(self.marks, path))}"


def nearest_mark(marks: Marks, path: Path_) -> tuple[int, int]:
    """The mark of `path` or of the nearest parent present in `marks` (the root: 1:1)."""
    for end in range(len(path), -1, -1):
        mark = marks.get(path[:end])
        if mark is not None:
            return mark
    return (1, 1)


def format_mark(mark: tuple[int, int]) -> str:
    return f"{mark[0]}:{mark[1]}"


class FileProblem(Exception):
    """The file cannot be turned into values; carries the one problem that says why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def display_path(path: Path) -> str:
    """`path` as a user reads it: relative to the working directory when inside it."""
    return shown_from(str(path.resolve()), str(Path.cwd().resolve()))


def shown_from(real: str, cwd: str) -> str:
    """`display_path` of a resolved path, given the working directory resolved."""
    inside = cwd.rstrip(os.sep) + os.sep
    return real[len(inside):] if real.startswith(inside) else real


def resolve_all(paths: list[tuple[str, bool]]) -> list[str]:
    """Each path resolved, as `Path.resolve` does, but each folder only once: resolving a
    path looks at every folder above it, which for a folder of postings read from the cache
    would be most of the cost of reading them. Each path comes with whether it is a symbolic
    link (`yaml_files_under`): only a link is resolved itself."""
    folders: dict[str, str] = {}
    resolved = []
    for path, linked in paths:
        parent, name = os.path.split(path)
        folder = folders.get(parent)
        if folder is None:
            folder = folders[parent] = os.path.realpath(parent)
        real = os.path.join(folder, name)
        resolved.append(os.path.realpath(real) if linked else real)
    return resolved


# ------------------------------------------------------------------------------ reading


def read_text(path: Path, source: str, *, limit: int = MAX_FILE_BYTES) -> str:
    """The file's text, refusing a file over `limit` bytes before reading it whole."""
    return decode_utf8(read_bytes(path, source, limit=limit), source)


def read_bytes(path: Path, source: str, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, refusing a file over `limit` bytes before reading it whole."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise FileProblem(Problem(f"{source}:1:1", "", _too_big(size, limit)))
        with path.open("rb") as handle:
            # What stat says, and one byte more: a read of the limit makes a buffer of a megabyte
            # for every file, which cost as much as reading it. Stat can lie (a FIFO, a file still
            # growing): what is there beyond it is read on, never more than the limit.
            raw = handle.read(size + 1)
            if len(raw) > size:
                raw += handle.read(limit + 1 - len(raw))
    except FileNotFoundError:
        raise FileProblem(Problem(source, "", "file does not exist")) from None
    except IsADirectoryError:
        raise FileProblem(Problem(source, "", "is a folder, not a file")) from None
    except OSError as exc:
        raise FileProblem(Problem(source, "", f"cannot be read: {exc.strerror}")) from None
    if len(raw) > limit:
        raise FileProblem(Problem(f"{source}:1:1", "", _too_big(len(raw), limit)))
    return raw


def _too_big(size: int, limit: int) -> str:
    return (
        f"file is too large ({_human_size(size)}; the limit is {_human_size(limit)}): "
        "split the postings into several files"
    )


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB".replace(".0 MiB", " MiB")
    if size >= 1024:
        return f"{size / 1024:.1f} KiB".replace(".0 KiB", " KiB")
    return f"{size} bytes"


def decode_utf8(raw: bytes, source: str) -> str:
    """UTF-8 text (an initial byte-order mark is dropped); names the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start]
        raise FileProblem(
            Problem(
                f"{source}:{line}:{col}",
                "",
                f"not UTF-8: byte 0x{bad:02x} at offset {exc.start} cannot be decoded; "
                "save the file as UTF-8",
            )
        ) from None


# ------------------------------------------------------------------------------ parsing


def parse(text: str, source: str) -> Document:
    """Parse one YAML document into plain dicts, lists and scalars, with marks."""
    root = _compose(text, source)
    if root is None:
        return Document(source, None, {})
    if _ANCHOR.search(text):
        _check_size(root, source)  # without anchors there are no aliases, and nothing expands
    builder = _Builder(source)
    data = builder.build(root, ())
    return Document(source, data, builder.marks)


def load_file(path: Path, source: str | None = None) -> Document:
    """Read and parse `path`; raises `FileProblem` naming what is wrong with it."""
    shown = source or display_path(path)
    return parse(read_text(path, shown), shown)


class _Yaml12Resolver(VersionedResolver):
    """Always YAML 1.2 (so `no` is text), and quick about it: ruamel works the version and
    its table of patterns out again for every scalar, and makes a new tag for each, which
    costs more than parsing. Here the table is made once for every file (the version is
    always the same) and the tags are shared."""

    _table: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]] | None] = None

    @property
    def processing_version(self) -> Any:
        return (1, 2)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or not implicit[0]:
            return super().resolve(kind, value, implicit)
        table = _Yaml12Resolver._table or self._fill_table()
        for suffix, pattern in table.get(value[:1], ()):
            if pattern.match(value):
                return _shared_tag(suffix)
        return self.DEFAULT_SCALAR_TAG

    def _fill_table(self) -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
        resolvers = self.versioned_resolver
        table = {first: list(found) + list(resolvers.get(None, [])) for first, found in resolvers.items()}
        table.setdefault("", list(resolvers.get(None, [])))
        _Yaml12Resolver._table = table  # two threads may both make it: the same table
        return table


@functools.cache
def _shared_tag(suffix: str) -> Tag:
    """One tag per kind for every node: a tag is never changed once made."""
    return Tag(suffix=suffix)


_parsers = threading.local()


def _parser(pure: bool) -> YAML:
    """One YAML instance per thread and kind: making one scans for plug-ins, which is slow."""
    cached: dict[bool, YAML] = _parsers.__dict__.setdefault("by_kind", {})
    if pure not in cached:
        yaml = YAML(typ="safe", pure=pure)
        yaml.Resolver = _Yaml12Resolver
        cached[pure] = yaml
    return cached[pure]


@functools.cache
def _c_composer() -> Callable[[str], Any] | None:
    """ruamel's C parser set up as `YAML.compose` sets it up, once; None without it (no
    compiled ruamel.yaml.clib). ruamel makes a new class for every document it composes with
    its C parser: two fifths of the time it took to compose a posting file, a reference cycle
    left for the collector each time, and a note of the document kept on the `YAML` for good."""
    yaml = _parser(False)
    if CParser is None or yaml.Parser is not CParser:
        return None
    constructor, resolver = yaml.Constructor, yaml.Resolver

    class _Composer(CParser, constructor, resolver):  # type: ignore[misc, valid-type]
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            self._parser = self._composer = self
            constructor.__init__(self, loader=self)
            self.allow_duplicate_keys = yaml.allow_duplicate_keys
            resolver.__init__(self, version=yaml.version, loadumper=self)

    return _Composer


def _composed(text: str, pure: bool) -> Node | None:
    made = None if pure else _c_composer()
    if made is None:
        yaml = _parser(pure)
        try:
            return yaml.compose(text)  # type: ignore[no-any-return]
        finally:
            yaml.doc_infos.clear()  # a note of each document composed, never let go of
    composer = made(text)
    try:
        return composer.get_single_node()  # type: ignore[no-any-return]
    finally:
        composer.dispose()
        composer.__dict__.clear()  # it names itself as parser, composer, loader, resolver: no cycle is left


def _compose(text: str, source: str) -> Node | None:
    pure = _may_nest_deeper_than(text, _C_PARSER_DEPTH_BOUND)
    try:
        return _composed(text, pure)
    except RecursionError:
        raise FileProblem(
            Problem(f"{source}:1:1", "", f"nested too deeply (more than {MAX_DEPTH} levels)")
        ) from None
    except MarkedYAMLError as exc:
        raise FileProblem(_syntax_problem(exc, text, source)) from None
    except YAMLError as exc:
        raise FileProblem(Problem(f"{source}:1:1", "", f"YAML syntax: {exc}")) from None


def _may_nest_deeper_than(text: str, bound: int) -> bool:
    """An upper bound on nesting: indentation, block indicators and open brackets."""
    longest_line = max((len(line) for line in text.splitlines()), default=0)
    if longest_line + text.count("[") + text.count("{") <= bound:
        return False  # no line and no run of brackets can nest that deep: skip the scan
    flow = deepest = 0
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        block = len(line) - len(stripped) + line.count("- ") + line.count("? ") + line.count(": ")
        for char in line:
            if char in "[{":
                flow += 1
            elif char in "]}" and flow:
                flow -= 1
        deepest = max(deepest, block + flow)
        if deepest > bound:
            return True
    return False


def _syntax_problem(exc: MarkedYAMLError, text: str, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and "end of stream" in (exc.problem or ""):
        mark = exc.context_mark  # where the unclosed thing starts, not the end of the file
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or "").strip()
    if "'\\t'" in problem or "\t" in problem:
        return Problem(
            f"{source}:{line}:{col}", "", f"tab character in indentation on line {line}; indent with spaces"
        )
    tab_line = _first_tab_indented_line(text, before=line)
    if tab_line is not None:
        return Problem(
            f"{source}:{tab_line}:1", "", f"tab character in indentation on line {tab_line}; indent with spaces"
        )
    if "another document" in problem:
        return Problem(
            f"{source}:{line}:{col}", "", "a second YAML document ('---'); a file holds one document"
        )
    message = f"YAML syntax: {problem}"
    context = (exc.context or "").strip()
    if context:
        started = exc.context_mark
        if started is not None and started.line + 1 != line:
            context += f" that starts on line {started.line + 1}, column {started.column + 1}"
        message += f" ({context})"
    return Problem(f"{source}:{line}:{col}", "", message)


def _first_tab_indented_line(text: str, *, before: int) -> int | None:
    for number, line in enumerate(text.splitlines()[:before], start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            return number
    return None


# ------------------------------------------------------------------------------ building


def _check_size(root: Node, source: str) -> None:
    """Refuse a file whose aliases would expand it past MAX_VALUES, before expanding it.

    Aliases make the node graph a DAG; its expanded size is counted once per distinct node.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            raise FileProblem(_at(source, node, f"nested too deeply (more than {MAX_DEPTH} levels)"))
        if id(node) in in_progress:
            raise FileProblem(_at(source, node, "an alias refers to itself"))
        in_progress.add(id(node))
        total = 1 + sum(size(child, depth + 1) for child in _children(node))
        in_progress.discard(id(node))
        if total > MAX_VALUES:
            raise FileProblem(
                _at(
                    source,
                    node,
                    f"aliases expand this file to more than {MAX_VALUES} values; "
                    "write the values out, or use fewer aliases",
                )
            )
        sizes[id(node)] = total
        return total

    size(root, 0)


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _tag(node: Node) -> str:
    """The node's tag as text; `Node.tag` formats it anew on every call."""
    return str(node.ctag.trval)


def _at(source: str, node: Node, message: str) -> Problem:
    return Problem(f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}", "", message)


class _Builder:
    """Turns composed nodes into plain values, recording each value's mark."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.marks: dict[Path_, tuple[int, int]] = {}

    def build(self, node: Node, path: Path_) -> Any:
        self.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if len(path) > MAX_DEPTH:
            raise FileProblem(_at(self.source, node, f"nested too deeply (more than {MAX_DEPTH} levels)"))
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            self._expect_tag(node, _TAG + "seq")
            return [self._item(child, path + (index,)) for index, child in enumerate(node.value)]
        return self._scalar(node)

    def _item(self, node: Node, path: Path_) -> Any:
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        return self.build(node, path)

    def _mapping(self, node: MappingNode, path: Path_) -> dict[Any, Any]:
        self._expect_tag(node, _TAG + "map")
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if _tag(key_node) == _TAG + "merge":
                merged.extend(self._merge_sources(value_node))
                continue
            key = self._key(key_node)
            if key in seen:
                raise FileProblem(
                    _at(self.source, key_node, f"duplicate key '{key}' (first written on line {seen[key]})")
                )
            seen[key] = key_node.start_mark.line + 1
            self._entry(result, key, key_node, value_node, path)
        for source_node in merged:
            # Explicit keys win over merged ones, and earlier merge sources over later ones.
            for key_node, value_node in source_node.value:
                key = self._key(key_node)
                if key not in result:
                    self._entry(result, key, key_node, value_node, path)
        return result

    def _entry(self, result: dict[Any, Any], key: Any, key_node: Node, value_node: Node, path: Path_) -> None:
        child = path + (key,)
        self.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        result[key] = self.build(value_node, child)

    def _merge_sources(self, node: Node) -> list[MappingNode]:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        if not all(isinstance(n, MappingNode) for n in nodes):
            raise FileProblem(_at(self.source, node, "a merge key (<<) takes a mapping or a list of mappings"))
        return list(nodes)

    def _key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise FileProblem(_at(self.source, node, "a key must be a plain value, not a list or mapping"))
        return self._scalar(node)

    def _expect_tag(self, node: Node, expected: str) -> None:
        if _tag(node) != expected:
            raise FileProblem(_at(self.source, node, f"unsupported tag {_tag(node)}"))

    def _scalar(self, node: Node) -> Any:
        tag = _tag(node)
        text: str = node.value
        if tag == _TAG + "str":
            return text
        if tag == _TAG + "timestamp":
            return text  # No field is a date; keep what was written.
        converter = _SCALARS.get(tag)
        if converter is None:
            raise FileProblem(_at(self.source, node, f"unsupported tag {tag}"))
        try:
            return converter(text)
        except ValueError:
            raise FileProblem(_at(self.source, node, f"{text!r} is not a valid {tag.removeprefix(_TAG)}")) from None


def _yaml_int(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    for prefix, base in (("0o", 8), ("0x", 16), ("0b", 2)):
        if digits.lower().startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits, 10)


def _yaml_float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered in (".inf", "+.inf"):
        return math.inf
    if lowered == "-.inf":
        return -math.inf
    if lowered == ".nan":
        return math.nan
    return float(lowered)


_SCALARS: dict[str, Any] = {
    _TAG + "int": _yaml_int,
    _TAG + "float": _yaml_float,
    _TAG + "bool": lambda text: text.lower() == "true",
    _TAG + "null": lambda text: None,
}


def walk_yaml_files(folder: Path) -> list[Path]:
    """Every *.yaml / *.yml under `folder`, recursively, sorted; hidden entries skipped."""
    return [Path(path) for path, _ in yaml_files_under(str(folder))]


def yaml_files_under(folder: str) -> list[tuple[str, bool]]:
    """`walk_yaml_files` as text paths, each with whether it is a symbolic link: what the
    folder listing already says, so that reading thousands of posting files neither makes a
    `Path` of each nor asks the system about each again. Sorted as paths sort (by their
    parts); a linked folder is not entered, as `os.walk` does not."""
    found: list[tuple[tuple[str, ...], str, bool]] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(folder, ())]
    while pending:
        current, parts = pending.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError:
            continue  # a folder that cannot be listed holds nothing, as for `os.walk`
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if _is_folder(entry):
                if not entry.is_symlink():
                    pending.append((entry.path, (*parts, entry.name)))
            elif entry.name.endswith((".yaml", ".yml")):
                found.append(((*parts, entry.name), entry.path, entry.is_symlink()))
    found.sort(key=lambda item: item[0])
    return [(path, linked) for _, path, linked in found]


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
