"""Read YAML while remembering the line of every key and value.

PyYAML's plain loader forgets positions and silently keeps the last of two
duplicate keys; content files need both "which line is wrong" and "you wrote
this key twice", so we compose the node tree ourselves.

Users write their own content files, so reading one is bounded: only regular
files are opened (a named pipe would block, ``/dev/zero`` never ends), at most
``max_bytes`` are read, and the walk over the composed tree stops after
:data:`MAX_YAML_NODES` values, which is what defuses a "billion laughs" file
whose aliases (``*name``) repeat what they name again and again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The largest shipped data file (a knowledge file) is under 40 KiB; 1 MiB is a wrong file, not content.
MAX_FILE_BYTES = 1024 * 1024
# Values in one file after expanding aliases; the knowledge files hold a few thousand, a 272-byte alias bomb a billion.
MAX_YAML_NODES = 100_000
# Nesting levels; content files use about six, and each level makes every path below it longer.
MAX_YAML_DEPTH = 64
# PyYAML's own parser explains syntax errors better but is about 20x slower than libyaml: only for files this small.
EXPLAIN_ERRORS_BYTES = 64 * 1024
# Problems listed for aliases in a file that may not use them; the rest are reported once these are fixed.
MAX_ALIAS_PROBLEMS = 10

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


class _TooMuch(Exception):
    """The file goes past :data:`MAX_YAML_NODES` or :data:`MAX_YAML_DEPTH`; ``line`` is where."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


class _Converter:
    """Turns composed nodes into plain data, counting every value it makes.

    The composed graph shares one node for an anchor and all its aliases, so
    the walk repeats the aliased part once per alias: the count is what bounds
    the work. With ``expand_aliases`` off (routine files), a node met a second
    time is an alias; the reader has already reported it, and it reads as None.
    """

    def __init__(self, doc: SourceDoc, expand_aliases: bool) -> None:
        self.doc, self.expand_aliases = doc, expand_aliases
        self.count = 0
        self.seen: set[int] = set()
        self.active: set[int] = set()

    def _tick(self, node: yaml.Node, path: Path_) -> None:
        self.count += 1
        if self.count > MAX_YAML_NODES:
            raise _TooMuch(node.start_mark.line + 1,
                           f"the file holds more than {MAX_YAML_NODES} values (counting each repeat "
                           "of an alias, *name); a content file needs far fewer")
        if len(path) > MAX_YAML_DEPTH:
            raise _TooMuch(node.start_mark.line + 1, f"the file is nested more than {MAX_YAML_DEPTH} levels deep")

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        doc = self.doc
        self._tick(node, path)
        doc.lines.setdefault(path, node.start_mark.line + 1)
        line = node.start_mark.line + 1
        if id(node) in self.active:
            if self.expand_aliases:
                # ``&a [*a]``: an alias inside the thing it names would recurse forever.
                doc.problems.append(Problem(doc.file, line, field_name(path),
                                            "an alias (*name) refers to the item it is inside"))
            return None
        if not self.expand_aliases and id(node) in self.seen:
            return None
        self.seen.add(id(node))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP_TAG, _SEQ_TAG):
            doc.problems.append(Problem(doc.file, line, field_name(path),
                                        f"YAML tag '{node.tag}' is not supported here"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))
        try:
            return _scalar(node)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            # An unknown tag (``!foo x``) or a bad explicit one (``!!int three``).
            reason = getattr(exc, "problem", None) or str(exc)
            doc.problems.append(Problem(doc.file, line, field_name(path), f"cannot read this value: {reason}"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        doc = self.doc
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            self._tick(key_node, path)
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
            result[key] = self.convert(value_node, child)
        return result


_RESOLVER_LOADER = yaml.SafeLoader("")
# libyaml (inside PyYAML's wheels) composes about 20x faster than the pure-Python parser;
# the knowledge base loads at every start, so this is most of its start-up time.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(node: yaml.ScalarNode) -> Any:
    """Construct a scalar with the safe loader's rules (ints, floats, bools, null).

    The shared constructor caches every node it builds; forgetting each one
    keeps it from holding every scalar of every file ever read.
    """
    try:
        return _RESOLVER_LOADER.construct_object(node, deep=True)
    finally:
        _RESOLVER_LOADER.constructed_objects.pop(node, None)
        _RESOLVER_LOADER.recursive_objects.pop(node, None)


class _Unreadable(Exception):
    """The path is not something to read as a content file; the message says why."""


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "an unusual kind of file"


def _not_regular(path: Path, mode: int) -> _Unreadable:
    kind = _kind_of(mode)
    if os.path.islink(path):
        kind = f"a link to {kind}, {os.path.realpath(path)}"
    return _Unreadable(f"not a regular file ({kind}); only ordinary files are read")


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count // 1024} KiB"


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of a regular file (a link to one is fine); anything else raises ``_Unreadable``.

    ``stat`` first, so a pipe or device is never opened; the open is non-blocking
    and ``fstat`` checks the opened file again, in case the path changed in between.
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
    except FileNotFoundError:
        target = f"a link to {os.readlink(path)}, which does not exist" if os.path.islink(path) else "no such file"
        raise _Unreadable(f"cannot read: {target}") from None
    except OSError as exc:
        raise _Unreadable(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        too_big = _Unreadable(f"the file is larger than {_size(max_bytes)}, far more than a content file needs; "
                              "is this the right file?")
        if info.st_size > max_bytes:
            raise too_big
        try:
            data = handle.read(max_bytes + 1)  # a file that grew since fstat still stops here
        except OSError as exc:
            raise _Unreadable(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise too_big
    return data


def read_yaml(path: Path, display: str | None = None, *, max_bytes: int = MAX_FILE_BYTES,
              aliases: bool = True) -> SourceDoc:
    """Parse ``path``; syntax errors and files that are too big or not files become problems, never exceptions.

    ``aliases=False`` (routine files) reports each ``*name`` (up to :data:`MAX_ALIAS_PROBLEMS`) instead
    of expanding it: a routine is short enough to write out, and its reader should not have to chase
    what an alias stands for.
    """
    name = display or str(path)
    try:
        raw = _read_bounded(path, max_bytes)
        # Universal newlines, as Path.read_text gives them.
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except _Unreadable as exc:
        return SourceDoc(name, None, problems=[Problem(name, 1, "(file)", str(exc))])
    except UnicodeDecodeError as exc:
        return SourceDoc(name, None, problems=[Problem(name, 1, "(file)", f"cannot read: {exc}")])
    doc = SourceDoc(name, None)
    loader = _FAST_LOADER
    try:
        try:
            node = yaml.compose(text, Loader=loader)
        except yaml.YAMLError:
            if len(text) > EXPLAIN_ERRORS_BYTES:
                raise
            # libyaml's messages are terser; PyYAML's own parser explains the same mistake better
            loader = yaml.SafeLoader
            node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        line, reason = _syntax_error(exc, text, loader)
        doc.problems.append(Problem(name, line, "(yaml)", f"YAML syntax error: {reason}"))
        return doc
    except RecursionError:
        doc.problems.append(Problem(name, 1, "(yaml)", "the file is nested too deeply"))
        return doc
    if node is None:
        doc.problems.append(Problem(name, 1, "(file)", "the file is empty"))
        return doc
    if not aliases and "*" in text:
        doc.problems.extend(_alias_problems(text, name, loader))
    try:
        doc.data = _Converter(doc, expand_aliases=aliases).convert(node, ())
    except _TooMuch as exc:
        doc.data = None
        doc.problems.append(Problem(name, exc.line, "(yaml)", exc.message))
    except RecursionError:
        doc.data = None
        doc.problems.append(Problem(name, 1, "(yaml)", "the file is nested too deeply"))
    return doc


@dataclass
class _Frame:
    """An open mapping or sequence while scanning events: its path and where in it the scan is."""

    path: Path_
    mapping: bool
    index: int = 0
    key: str = "?"
    expect_key: bool = True

    def child(self, event: yaml.Event) -> Path_:
        """The path of the node ``event`` starts, moving this frame on past it."""
        if not self.mapping:
            self.index += 1
            return self.path + (self.index - 1,)
        if self.expect_key:
            self.expect_key = False
            self.key = event.value if isinstance(event, yaml.ScalarEvent) else "?"
            return self.path
        self.expect_key = True
        return self.path + (self.key,)


def _alias_problems(text: str, name: str, loader: type) -> list[Problem]:
    """One problem for each alias (``*name``), at its own line and field (the composed tree has neither)."""
    problems: list[Problem] = []
    stack: list[_Frame] = []
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        path = stack[-1].child(event) if stack else ()
        if isinstance(event, yaml.AliasEvent):
            problems.append(Problem(name, event.start_mark.line + 1, field_name(path),
                                    f"YAML aliases (*name) are not allowed in routine files; "
                                    f"write out what *{event.anchor} stands for"))
            if len(problems) >= MAX_ALIAS_PROBLEMS:
                break
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append(_Frame(path, isinstance(event, yaml.MappingStartEvent)))
    return problems


# Contexts in which PyYAML's error mark is where it gave up, not where the
# mistake is: the opening bracket or quote that was never closed.
_OPENERS = {
    "while parsing a flow sequence": "the [ opened on this line is not closed properly",
    "while parsing a flow mapping": "the { opened on this line is not closed properly",
    "while scanning a quoted scalar": "the quote opened on this line is not closed",
}


def _syntax_error(exc: yaml.YAMLError, text: str, loader: type) -> tuple[int, str]:
    """Line and reason for a PyYAML error, pointing at an unclosed opener if there is one."""
    if isinstance(exc, yaml.reader.ReaderError):
        # A character YAML forbids: the error has an offset (libyaml's in bytes), not a line.
        before = text[:exc.position] if loader is yaml.SafeLoader else \
            text.encode("utf-8")[:exc.position].decode("utf-8", "ignore")
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        return before.count("\n") + 1, f"the character {character} cannot be used in YAML ({exc.reason}); delete it"
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
