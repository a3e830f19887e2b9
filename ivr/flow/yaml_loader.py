"""Strict YAML for flow files: the data, a position for every node, and the traps reported.

PyYAML's `safe_load` silently keeps the last of two duplicate keys, turns `no` into False, `007`
into 7, a bare `#` into a comment and fails obscurely on a bare `*`. Business users hit each of
these with DTMF keys, so this loader composes the node tree itself, resolves scalars the YAML 1.2
way (only true/false are booleans, no dates, no sexagesimal numbers) and records a problem for
every trap instead of raising. Positions are 1-based (line, column).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from ivr.flow.problems import Problem

Path = tuple[str | int, ...]
Position = tuple[int, int]

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_KNOWN_TAGS = {_STR, _NULL, _BOOL, _INT, _FLOAT, "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_DIGITS = re.compile(r"^[+-]?[0-9]+$")
# Keys whose value is one DTMF key: a null there is almost always a swallowed `#`.
KEY_FIELDS = frozenset({"term_key", "dont_have_key"})


class _StrictComposer(Composer):
    """Composer that reports aliases and anchors instead of following them."""

    unsupported: list[tuple[str, Any]]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        events: Any = self  # the parser half of the loader supplies the event methods
        if events.check_event(AliasEvent):
            event = events.get_event()
            message = f"aliases (*{event.anchor}) are not allowed"
            self.unsupported.append((message, event.start_mark))
            return ScalarNode(_NULL, "", event.start_mark, event.end_mark)
        event = events.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.unsupported.append((f"anchors (&{anchor}) are not allowed", event.start_mark))
            event.anchor = None
        return super().compose_node(parent, index)


class _Resolver(Resolver):
    """YAML 1.2 core scalars: only true/false are booleans; no dates, no base-60 numbers."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


_Resolver.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), None)
_Resolver.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Resolver.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Resolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _PyLoader(Reader, Scanner, Parser, _StrictComposer, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _StrictComposer.__init__(self)
        _Resolver.__init__(self)
        self.unsupported = []


_Loader: Any = _PyLoader
try:  # libyaml parses faster (bench.engine times flow loading); the composing stays ours
    from yaml import CBaseLoader  # libyaml's parser, through PyYAML's public loader class

    class _CLoader(CBaseLoader, _StrictComposer, _Resolver):
        get_single_node = Composer.get_single_node
        compose_document = Composer.compose_document

        def __init__(self, stream: str) -> None:
            CBaseLoader.__init__(self, stream)
            _StrictComposer.__init__(self)
            _Resolver.__init__(self)
            self.unsupported = []

    _Loader = _CLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    pass


@dataclass
class YamlDocument:
    """Loaded data with positions: `values[path]` is where the value starts, `keys[path]` its key.

    `raw[path]` keeps the source text of plain (unquoted) scalars that did not load as text, so a
    check can say `write it quoted: "007"` when a string was expected.
    """

    filename: str
    text: str
    data: Any = None
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    raw: dict[Path, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    reported: set[Path] = field(default_factory=set)  # paths the loader already complained about
    fatal: bool = False

    def position(self, path: Path) -> Position:
        """Position of the value at `path`, else of the nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return (1, 1)

    def key_position(self, path: Path) -> Position:
        """Position of the key of a mapping entry (the value's for list items)."""
        return self.keys.get(path) or self.position(path)

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def add(self, position: Position, code: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(self.filename, position[0], position[1], code, message, hint))


def _pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def quote_hint(raw: str) -> str:
    return f'write it quoted: "{raw}"'


def load_yaml(text: str, filename: str) -> YamlDocument:
    """Compose `text` strictly; problems land in `doc.problems`, never as exceptions."""
    doc = YamlDocument(filename=filename, text=text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        doc.fatal = True
        _syntax_problem(doc, error)
        return doc
    except yaml.YAMLError as error:  # reader errors (bad characters) carry no mark
        doc.fatal = True
        doc.add((1, 1), "yaml-syntax", str(error).splitlines()[0])
        return doc
    finally:
        loader.dispose()
    for message, mark in loader.unsupported:
        doc.add(_pos(mark), "unsupported-yaml", message, "write the value out in full")
    if root is None:
        doc.add((1, 1), "empty-file", "the file holds no flow", "start with 'schema_version: 1'")
        doc.fatal = True
        return doc
    doc.data = _build(doc, root, ())
    _find_swallowed_keys(doc)
    return doc


def _syntax_problem(doc: YamlDocument, error: yaml.MarkedYAMLError) -> None:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or "invalid YAML"
    context = error.context or ""
    if "alias" in context or "alias" in problem:
        doc.add(
            _pos(mark), "unquoted-symbol", "a bare * starts a YAML alias", 'write "*" in quotes'
        )
        return
    hint = None
    at = doc.line_text(mark.line + 1)[mark.column : mark.column + 1] if mark is not None else ""
    if at == "\t" or "'\\t'" in problem:
        hint = "indent with spaces, not tabs"
    elif mark is not None and _has_bare_hash(doc, mark.line + 1):
        hint = 'a bare # starts a comment: write "#" in quotes'
    elif mark is not None and _misindented(doc, mark.line + 1, problem, context):
        hint = (
            "check the indentation: keys of one mapping start at the same column, and a "
            "step's keys line up under its first key (spaces only)"
        )
    elif "mapping values are not allowed" in problem:
        hint = "a value that contains ': ' must be quoted"
    elif "single document" in context or "<document start>" in problem:
        hint = "a flow file holds one document; remove the '---' line"
    message = f"{context}: {problem}" if context and context not in problem else problem
    doc.add(_pos(mark), "yaml-syntax", message, hint)


_KEY_LINE = re.compile(r"^\s*(- )?[A-Za-z_][\w-]*:( |$)")
_INDENT_PROBLEMS = ("expected <block end>", "did not find expected", "expected a block")


def _misindented(doc: YamlDocument, line: int, problem: str, context: str) -> bool:
    """Does a parser complaint come from a line indented differently from its neighbours?

    "mapping values are not allowed" on a line that is a plain `key: value` means the key sat
    deeper than the mapping above it; "expected <block end>" and friends mean a line came out
    of its block. Both read as riddles to someone who only moved a line.
    """
    text = doc.line_text(line)
    if any(words in problem or words in context for words in _INDENT_PROBLEMS):
        return True
    if "mapping values are not allowed" not in problem or not _KEY_LINE.match(text):
        return False
    previous = next(
        (doc.line_text(n) for n in range(line - 1, 0, -1) if doc.line_text(n).strip()), ""
    )
    indent = len(text) - len(text.lstrip(" "))
    return indent > len(previous) - len(previous.lstrip(" ")) and not previous.rstrip().endswith(
        ":"
    )


def _set(data: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


_BARE_HASH = re.compile(r"[:,\[{-]\s+#")


def _has_bare_hash(doc: YamlDocument, line: int) -> bool:
    """Whether the error line or the one before holds a `#` YAML took as a comment."""
    return any(_BARE_HASH.search(doc.line_text(number)) for number in (line - 1, line))


def _build(doc: YamlDocument, node: Node, path: Path) -> Any:
    doc.values[path] = _pos(node.start_mark)
    if node.tag not in _KNOWN_TAGS:
        doc.add(
            _pos(node.start_mark), "unsupported-yaml", f"YAML tags ({node.tag}) are not allowed"
        )
    if isinstance(node, ScalarNode):
        return _scalar(doc, node, path)
    if isinstance(node, SequenceNode):
        return [_build(doc, child, (*path, index)) for index, child in enumerate(node.value)]
    if isinstance(node, MappingNode):
        return _mapping(doc, node, path)
    return None  # pragma: no cover - the composer makes only these three node kinds


def _scalar(doc: YamlDocument, node: ScalarNode, path: Path) -> Any:
    value: str = node.value
    if node.tag == _STR or node.style:
        return value
    doc.raw[path] = value
    if node.tag == _NULL:
        return None
    if node.tag == _BOOL:
        return value.lower() == "true"
    if node.tag == _INT:
        return int(value)
    if node.tag == _FLOAT:
        return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))
    return value


def _mapping(doc: YamlDocument, node: MappingNode, path: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key_pos = _pos(key_node.start_mark)
        if not isinstance(key_node, ScalarNode):
            doc.add(key_pos, "non-string-key", "a mapping key must be a plain word")
            continue
        key = key_node.value
        if key == "<<" and not key_node.style:
            doc.add(
                key_pos,
                "unsupported-yaml",
                "merge keys (<<) are not allowed",
                "write the keys out in full",
            )
            continue
        if not key_node.style and key_node.tag != _STR:
            _report_key(doc, key_node, key_pos)
        child = (*path, key)
        if key in result:
            first = doc.keys[child]
            doc.add(
                key_pos,
                "duplicate-key",
                f"'{key}' appears twice in this mapping (first at line {first[0]}, "
                f"column {first[1]})",
                "keep one of them; YAML would silently use the last",
            )
            continue
        doc.keys[child] = key_pos
        result[key] = _build(doc, value_node, child)
    return result


def _report_key(doc: YamlDocument, key_node: ScalarNode, position: Position) -> None:
    raw = key_node.value
    if _DIGITS.match(raw):
        doc.add(
            position,
            "unquoted-digits",
            f"the key {raw} must be text, not a number",
            quote_hint(raw),
        )
    else:
        doc.add(position, "non-string-key", f"the key {raw or 'null'} is not text", quote_hint(raw))


_SWALLOWED_VALUE = re.compile(r":\s+#")
_SWALLOWED_KEY = re.compile(r"^\s*(?:-\s+)?#:(?:\s|$)")


def _find_swallowed_keys(doc: YamlDocument) -> None:
    """A bare `#` starts a comment: `term_key: #` loads as null and `#: back` vanishes."""
    for path, raw in doc.raw.items():
        if raw or not path or not isinstance(path[-1], str):
            continue
        line, column = doc.keys.get(path, doc.values[path])
        text = doc.line_text(line)
        match = _SWALLOWED_VALUE.search(text, column - 1)
        if match is None:
            continue
        comment = text[match.end() :].strip()
        if path[-1] in KEY_FIELDS or (len(path) > 1 and path[-2] == "choices") or not comment:
            doc.add(
                (line, match.end()),
                "unquoted-symbol",
                f"'{path[-1]}' is empty: the bare # started a comment",
                'write "#" in quotes',
            )
            doc.reported.add(path)
            _set(doc.data, path, "#")  # what the author meant; keeps the later checks honest
    for number, text in enumerate(doc.text.splitlines(), start=1):
        if _SWALLOWED_KEY.match(text):
            doc.add(
                (number, text.index("#") + 1),
                "unquoted-symbol",
                "this line was read as a comment: a bare # starts a comment",
                'write "#" in quotes',
            )
