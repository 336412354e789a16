"""Load and validate every routine and programme file into one library.

Checks that span files (duplicate ids, references to routines that do not
exist) live here; checks within one file live in :mod:`companion.content.schema`.
All problems are collected, so one ``companion check`` run lists them all.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from companion.content.locale import package_folder
from companion.content.schema import Programme, Routine
from companion.content.yamlsource import Problem, SourceDoc, field_name, read_yaml

Entry = Routine | Programme


@dataclass
class Library:
    routines: dict[str, Routine] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, entry_id: str) -> Entry | None:
        return self.routines.get(entry_id) or self.programmes.get(entry_id)

    def entries(self) -> list[Entry]:
        return [*self.routines.values(), *self.programmes.values()]

    def ids(self) -> list[str]:
        return sorted([*self.routines, *self.programmes])


def default_routine_dirs() -> list[Path]:
    """Where routine files are looked for, in order.

    ``COMPANION_ROUTINES`` (a path list) wins; otherwise the built-in
    routines: the checkout's ``routines/`` folder, which ships inside the
    wheel as ``companion.routines``.
    """
    env = os.environ.get("COMPANION_ROUTINES")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [package_folder("companion.routines")]


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), 1, "(file)", "no such file or folder"))
    return files, problems


# Plain-words versions of the schema's patterns (pydantic would quote the regex).
_PATTERN_HINTS = {
    r"^[a-z0-9]+(-[a-z0-9]+)*$": "must be lowercase letters and digits joined by hyphens, like wall-standing",
    r"^\d+(-\d+)?$": "must be a line number or range in quotes, like \"12\" or \"12-15\"",
}


def _yaml_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false (YAML reads yes, no, on, off, true and false that way)"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return "something other than text"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _message(error: dict) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see 'Writing a routine' in the README)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("int_type", "float_type") and isinstance(value, bool):
        return "must be a number, not true/false (YAML reads yes, no, on, off, true and false that way)"
    if kind in ("int_type", "float_type") and isinstance(value, str):
        return f"must be a number, not {value!r}" + (" (leave out the quotes)" if _numeric(value) else "")
    if kind == "string_type" and value is None:
        return "is empty; write something after the colon"
    if kind == "string_type" and not isinstance(value, (dict, list)):
        return f"must be text, but YAML read it as {_yaml_kind(value)}; put it in quotes"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(error.get("ctx", {}).get("pattern", ""))
        if hint:
            return f"{hint}, not {value!r}"
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _validate(doc: SourceDoc) -> Entry | None:
    data = doc.data
    if not isinstance(data, dict):
        doc.problems.append(Problem(doc.file, 1, "(file)", "the file must be a mapping with id, title, ..."))
        return None
    kind = data.get("kind", "routine")
    if kind not in ("routine", "programme"):
        doc.problems.append(Problem(doc.file, doc.line_of(("kind",)), "kind",
                                    f"must be 'routine' or 'programme', not {kind!r}"))
        return None
    model = Programme if kind == "programme" else Routine
    try:
        # strict: YAML turns yes/no/on/off into booleans, and lax pydantic would
        # then quietly accept them as 1 and 0 in number fields.
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        doc.problems.extend(validation_problems(doc, exc))
        return None


def validation_problems(doc: SourceDoc, exc: ValidationError, prefix: tuple = ()) -> list[Problem]:
    """pydantic's errors as ``file:line: field: message`` problems (shared by every YAML loader).

    ``prefix`` is the path of the validated value inside the file, when only part of it was validated.
    """
    problems = []
    for error in exc.errors():
        loc = prefix + tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
        if error["type"] == "missing":
            line = doc.line_of(loc[:-1]) if loc else 1
        else:
            line = doc.line_of(loc)
        problems.append(Problem(doc.file, line, field_name(loc), _message(error)))
    return problems


def load_library(paths: list[Path] | None = None) -> Library:
    """Read every file under ``paths`` and check them as one set."""
    files, problems = expand_paths(paths if paths is not None else default_routine_dirs())
    lib = Library(problems=problems)
    docs: dict[str, SourceDoc] = {}
    broken: dict[str, str] = {}  # id -> file, for files that did not validate
    for path in files:
        doc = read_yaml(path)
        entry = _validate(doc) if not doc.problems else None
        lib.problems.extend(doc.problems)
        if entry is None:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
                broken.setdefault(doc.data["id"], doc.file)
            continue
        if entry.id in lib.files:
            lib.problems.append(
                Problem(doc.file, doc.line_of(("id",)), "id",
                        f"duplicate id '{entry.id}' (also in {lib.files[entry.id]})")
            )
            continue
        lib.files[entry.id] = doc.file
        docs[entry.id] = doc
        if isinstance(entry, Programme):
            lib.programmes[entry.id] = entry
        else:
            lib.routines[entry.id] = entry
    _check_references(lib, docs, broken)
    return lib


def _check_references(lib: Library, docs: dict[str, SourceDoc], broken: dict[str, str]) -> None:
    known = set(lib.routines)

    def missing(doc: SourceDoc, path: tuple, ref: str) -> None:
        hint = f"unknown routine '{ref}'"
        if ref in broken:
            hint = f"routine '{ref}' could not be loaded (see the problems in {broken[ref]})"
        elif ref in lib.programmes:
            hint += " (that is a programme; only routines can be referenced here)"
        lib.problems.append(Problem(doc.file, doc.line_of(path), field_name(path), hint))

    for routine in lib.routines.values():
        doc = docs[routine.id]
        for i, req in enumerate(routine.requires):
            if req.routine not in known:
                missing(doc, ("requires", i, "routine"), req.routine)
            elif req.routine == routine.id:
                lib.problems.append(Problem(doc.file, doc.line_of(("requires", i, "routine")),
                                            field_name(("requires", i, "routine")), "a routine cannot require itself"))
        if routine.then:
            if routine.then not in known:
                missing(doc, ("then",), routine.then)
            elif routine.then == routine.id:
                lib.problems.append(Problem(doc.file, doc.line_of(("then",)), "then", "a routine cannot follow itself"))
        if routine.alternative_to and routine.alternative_to.routine not in known:
            missing(doc, ("alternative_to", "routine"), routine.alternative_to.routine)
    for programme in lib.programmes.values():
        doc = docs[programme.id]
        for i, item in enumerate(programme.items):
            if item.routine and item.routine not in known:
                missing(doc, ("items", i, "routine"), item.routine)
    lib.problems.sort(key=lambda p: (p.file, p.line))
