"""Read YAML while remembering the line of every key and value.

PyYAML's plain loader forgets positions and silently keeps the last of two
duplicate keys; content files need both "which line is wrong" and "you wrote
this key twice", so we compose the node tree ourselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class Problem:
    """One thing wrong in a content file, reported as ``file:line: field: message``."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


@dataclass
class SourceDoc:
    """Plain Python data from one YAML file plus the line of each path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """Line of the deepest part of ``path`` that exists in the file."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return 1


def field_name(path: Path_) -> str:
    """``('steps', 2, 'hold', 'seconds')`` -> ``steps[2].hold.seconds``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


def _convert(node: yaml.Node, path: Path_, doc: SourceDoc, active: frozenset[int] = frozenset()) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    line = node.start_mark.line + 1
    if id(node) in active:
        # ``&a [*a]``: an alias inside the thing it names would recurse forever.
        doc.problems.append(Problem(doc.file, line, field_name(path), "an alias (*name) refers to the item it is inside"))
        return None
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP_TAG, _SEQ_TAG):
        doc.problems.append(Problem(doc.file, line, field_name(path), f"YAML tag '{node.tag}' is not supported here"))
        return None
    active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                doc.problems.append(
                    Problem(doc.file, key_node.start_mark.line + 1, field_name(path), "keys must be plain words")
                )
                continue
            key = str(key_node.value)
            child = path + (key,)
            if key in result:
                doc.problems.append(
                    Problem(doc.file, key_node.start_mark.line + 1, field_name(child),
                            f"duplicate key (first given on line {doc.lines[child]})")
                )
                continue
            doc.lines[child] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, child, doc, active)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, active) for i, item in enumerate(node.value)]
    try:
        return _scalar(node)
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # An unknown tag (``!foo x``) or a bad explicit one (``!!int three``).
        reason = getattr(exc, "problem", None) or str(exc)
        doc.problems.append(Problem(doc.file, line, field_name(path), f"cannot read this value: {reason}"))
        return None


_RESOLVER_LOADER = yaml.SafeLoader("")
# libyaml (inside PyYAML's wheels) composes about 20x faster than the pure-Python parser;
# the knowledge base loads at every start, so this is most of its start-up time.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(node: yaml.ScalarNode) -> Any:
    """Construct a scalar with the safe loader's rules (ints, floats, bools, null)."""
    return _RESOLVER_LOADER.construct_object(node, deep=True)


def read_yaml(path: Path, display: str | None = None) -> SourceDoc:
    """Parse ``path``; syntax errors become problems, never exceptions."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SourceDoc(name, None, problems=[Problem(name, 1, "(file)", f"cannot read: {exc}")])
    doc = SourceDoc(name, None)
    try:
        try:
            node = yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            # libyaml's messages are terser; PyYAML's own parser explains the same mistake better
            node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        line, reason = _syntax_error(exc)
        doc.problems.append(Problem(name, line, "(yaml)", f"YAML syntax error: {reason}"))
        return doc
    except RecursionError:
        doc.problems.append(Problem(name, 1, "(yaml)", "the file is nested too deeply"))
        return doc
    if node is None:
        doc.problems.append(Problem(name, 1, "(file)", "the file is empty"))
        return doc
    try:
        doc.data = _convert(node, (), doc)
    except RecursionError:
        doc.problems.append(Problem(name, 1, "(yaml)", "the file is nested too deeply"))
    return doc


# Contexts in which PyYAML's error mark is where it gave up, not where the
# mistake is: the opening bracket or quote that was never closed.
_OPENERS = {
    "while parsing a flow sequence": "the [ opened on this line is not closed properly",
    "while parsing a flow mapping": "the { opened on this line is not closed properly",
    "while scanning a quoted scalar": "the quote opened on this line is not closed",
}


def _syntax_error(exc: yaml.YAMLError) -> tuple[int, str]:
    """Line and reason for a PyYAML error, pointing at an unclosed opener if there is one."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context in _OPENERS and context_mark is not None:
        where = f" on line {problem_mark.line + 1}" if problem_mark is not None else ""
        return context_mark.line + 1, f"{_OPENERS[context]} ({problem}{where})"
    mark = problem_mark or context_mark
    if problem == "but found another document":
        problem = "found a second document (a line with ---); put each routine in a file of its own"
    if "'\\t'" in problem:
        problem += " (indent with spaces, not tabs)"
    elif problem == "mapping values are not allowed here":
        problem += " (check this line's indentation, or put text that contains ': ' in quotes)"
    elif problem.startswith("expected <block end>"):
        problem += " (check this line's indentation)"
    return (mark.line + 1 if mark else 1), problem
