"""Load and validate every routine and programme file into one library.

Checks that span files (duplicate ids, references to routines that do not
exist, ``requires`` and ``then`` loops, a programme's length) live here;
checks within one file live in :mod:`companion.content.schema`. All problems
are collected, so one ``companion check`` run lists them all.

Users add their own routine files, so loading is bounded: each file is read
with the limits of :func:`companion.content.yamlsource.read_yaml`, at most
:data:`MAX_ROUTINE_FILE_BYTES` of it, without YAML aliases, and the whole
library within :data:`LOAD_TIME_BUDGET_SECONDS`.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from companion.content.locale import package_folder
from companion.content.schema import Programme, Reps, Routine
from companion.content.yamlsource import Problem, SourceDoc, field_name, read_yaml

Entry = Routine | Programme

# The longest shipped routine file is about 3 KiB; a quarter of a megabyte is not a routine.
MAX_ROUTINE_FILE_BYTES = 256 * 1024
# The shipped library loads in a fraction of a second; past this, the rest is reported, not waited for.
LOAD_TIME_BUDGET_SECONDS = 10.0
# The longest shipped routine takes about 10 minutes; a routine of hours is a typo in a number.
MAX_ROUTINE_SECONDS = 2 * 3600
# A programme chains routines; longer than a morning is not one session.
MAX_PROGRAMME_SECONDS = 4 * 3600


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
    """The ``.yaml``/``.yml`` files in each folder of ``paths`` and each other path as given.

    Anything that exists and is not a folder is kept (a pipe or a device too), so
    that reading it reports what it is instead of "no such file".
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            try:
                files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
            except OSError as exc:
                problems.append(Problem(str(path), 1, "(folder)", f"cannot read the folder: {exc.strerror or exc}"))
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            problems.append(Problem(str(path), 1, "(file)", "no such file or folder"))
    return files, problems


def _empty_folders(paths: list[Path], files: list[Path]) -> list[Problem]:
    """A folder given with no routine files in it is a mistake (a wrong path), not an empty library."""
    parents = {file.parent for file in files}
    return [Problem(str(path), 1, "(folder)", f"no routine files (*.yaml or *.yml) in {path}")
            for path in paths if path.is_dir() and path not in parents]


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


def load_library(paths: list[Path] | None = None, *, time_budget: float = LOAD_TIME_BUDGET_SECONDS) -> Library:
    """Read every file under ``paths`` and check them as one set.

    Files not reached within ``time_budget`` seconds are each reported as not read.
    """
    deadline = time.monotonic() + time_budget
    folders = paths if paths is not None else default_routine_dirs()
    files, problems = expand_paths(folders)
    problems += _empty_folders(folders, files)
    lib = Library(problems=problems)
    docs: dict[str, SourceDoc] = {}
    broken: dict[str, str] = {}  # id -> file, for files that did not validate
    for path in files:
        if time.monotonic() >= deadline:
            lib.problems.append(Problem(str(path), 1, "(file)",
                                        f"not read: loading took too long (over {time_budget:g} seconds)"))
            continue
        doc = read_yaml(path, max_bytes=MAX_ROUTINE_FILE_BYTES, aliases=False)
        entry = _validate(doc) if not doc.problems else None
        lib.problems.extend(doc.problems)
        if entry is None:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
                broken.setdefault(doc.data["id"], doc.file)
            continue
        if entry.id != path.stem:
            lib.problems.append(
                Problem(doc.file, doc.line_of(("id",)), "id",
                        f"the id '{entry.id}' must match the file name '{path.name}' "
                        f"(rename the file to {entry.id}{path.suffix}, or change the id)")
            )
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
    _check_loops(lib, docs)
    _check_lengths(lib, docs)
    lib.problems.sort(key=lambda p: (p.file, p.line))
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


def _loops(graph: dict[str, list[tuple[int, str]]]) -> list[tuple[str, int, list[str]]]:
    """Each edge that closes a loop, as ``(from, edge number, [from, ..., from])``.

    An iterative depth-first search (a user's library may chain many routines),
    started from the ids in order so the same loop is reported the same way each run.
    """
    found: list[tuple[str, int, list[str]]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if start in state:
            continue
        state[start] = 1
        trail = [start]
        stack = [iter(graph[start])]
        while stack:
            for number, target in stack[-1]:
                if state.get(target) == 1:  # back on the current path: a loop, told from where it closes
                    found.append((trail[-1], number, [trail[-1], *trail[trail.index(target):]]))
                elif target not in state:
                    state[target] = 1
                    trail.append(target)
                    stack.append(iter(graph[target]))
                    break
            else:
                state[trail.pop()] = 2
                stack.pop()
    return found


def _check_loops(lib: Library, docs: dict[str, SourceDoc]) -> None:
    """``requires`` and ``then`` must not go round in a circle (a routine naming itself is reported already)."""
    requires = {rid: [(i, req.routine) for i, req in enumerate(r.requires)
                      if req.routine in lib.routines and req.routine != rid]
                for rid, r in lib.routines.items()}
    for rid, number, loop in _loops(requires):
        path = ("requires", number, "routine")
        lib.problems.append(Problem(docs[rid].file, docs[rid].line_of(path), field_name(path),
                                    f"these routines require each other in a circle: {' -> '.join(loop)}; "
                                    "none of them could ever be done first"))
    then = {rid: [(0, r.then)] if r.then in lib.routines and r.then != rid else []
            for rid, r in lib.routines.items()}
    for rid, _, loop in _loops(then):
        lib.problems.append(Problem(docs[rid].file, docs[rid].line_of(("then",)), "then",
                                    f"'then' goes round in a circle: {' -> '.join(loop)}"))


def _reps_seconds(reps: Reps) -> float:
    passes = reps.sets * max(1, len(reps.sides))
    per_rep = reps.move_seconds + reps.hold_seconds + reps.release_seconds
    return passes * reps.count.high * per_rep + (passes - 1) * reps.rest_between_sets


def routine_seconds(routine: Routine) -> float:
    """The longest a routine's steps can take as written: the top of every range, at the normal pace.

    A said sentence counts only the pause after it (at least the second the
    engine always waits), not the time to say it, which depends on the
    language; this catches a routine of hours or days, it does not time one.
    """
    total = 0.0
    for step in routine.steps:
        if step.hold:
            total += step.hold.seconds.high
        elif step.reps:
            total += _reps_seconds(step.reps)
        elif step.rest:
            total += step.rest
        else:
            total += max(1.0, step.pause)
    return total


def programme_seconds(programme: Programme, routines: dict[str, Routine]) -> float:
    """A programme's routines (each with the routine it is always followed by), rests included."""
    total = 0.0
    ids = programme.routine_ids()
    first: dict[str, int] = {}
    for index, rid in enumerate(ids):
        first.setdefault(rid, index)
    for item in programme.items:
        routine = routines.get(item.routine or "")
        if routine is None:
            total += item.rest or 0.0
            continue
        total += routine_seconds(routine)
        # As the plan does it: the follower is left out when the programme runs it next anyway.
        following = ids[first[routine.id] + 1] if routine.id != ids[-1] else None
        if routine.then in routines and routine.then != following:
            total += routine_seconds(routines[routine.then])
    return total


def _length(seconds: float) -> str:
    if seconds >= 48 * 3600:
        return f"{seconds / 86400:.1f} days"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _check_lengths(lib: Library, docs: dict[str, SourceDoc]) -> None:
    """Per-field bounds allow a hold of half an hour, 100 reps and 20 sets; together they could last days."""
    for routine in lib.routines.values():
        seconds = routine_seconds(routine)
        if seconds > MAX_ROUTINE_SECONDS:
            doc = docs[routine.id]
            lib.problems.append(Problem(doc.file, doc.line_of(("steps",)), "steps",
                                        f"the steps would take up to {_length(seconds)}; a routine may last at most "
                                        f"{_length(MAX_ROUTINE_SECONDS)} (is a number a typo?)"))
    for programme in lib.programmes.values():
        seconds = programme_seconds(programme, lib.routines)
        if seconds > MAX_PROGRAMME_SECONDS:
            doc = docs[programme.id]
            lib.problems.append(Problem(doc.file, doc.line_of(("items",)), "items",
                                        f"the programme would take up to {_length(seconds)}; a programme may last "
                                        f"at most {_length(MAX_PROGRAMME_SECONDS)}"))
