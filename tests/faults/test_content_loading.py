"""Nothing a user can put in a routines folder brings the companion down.

Each bad input is made in ``tmp_path`` and given to the real command in a
child process, with a timeout (a hang fails instead of blocking the suite) and
an address-space limit (a runaway read fails with MemoryError instead of
eating the machine). The child reports how long loading took and its peak
memory, and each case asserts a ``file:line`` message, the exit code, no
traceback, and both bounds.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.content.library import (LOAD_TIME_BUDGET_SECONDS, MAX_PROGRAMME_SECONDS, MAX_ROUTINE_FILE_BYTES,
                                       MAX_ROUTINE_SECONDS, load_library)
from companion.content.yamlsource import MAX_YAML_DEPTH, MAX_YAML_NODES, read_yaml

ROOT = Path(__file__).resolve().parents[2]
# The field may hold spaces here: a fuzzed key such as "c    seconds" is a key all the same.
PROBLEM_FORM = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<field>\S.*?): (?P<message>\S.*)$")

SECONDS = 5.0  # loading any of these takes a fraction of a second; before the limits, some took minutes
PEAK_MB = 300  # the command's own peak is about 45 MB; the alias bomb used to reach 10 GB
ADDRESS_SPACE = 1024 ** 3  # the guard: past this the child fails with MemoryError rather than swapping
HANG = 60  # seconds after which the child is killed and the test fails

try:
    import resource
except ImportError:  # Windows: no rlimits, no FIFOs, no /dev/zero
    resource = None
needs_posix = pytest.mark.skipif(resource is None, reason="needs POSIX (rlimits, FIFOs, /dev/zero)")

ROUTINE = """\
id: {id}
title: Chin tuck
purpose: Strengthens the muscles at the front of the neck.
{extra}steps:
  - say: Sit tall and look straight ahead.
    pause: 2
  - hold:
      seconds: [5, 10]
      cue: Gently draw your chin straight back.
sources:
  - lines: "12-14"
    quote: Tuck your chin in and hold.
"""


def routine(folder: Path, rid: str, extra: str = "", name: str | None = None) -> Path:
    """A valid routine file (unless ``extra`` or ``name`` spoil it); ``extra`` goes just before ``steps``."""
    path = folder / (name or f"{rid}.yaml")
    path.write_text(ROUTINE.format(id=rid, extra=extra), encoding="utf-8")
    return path


def folder_with_one_good_routine(tmp_path: Path) -> Path:
    folder = tmp_path / "routines"
    folder.mkdir()
    routine(folder, "chin-tuck")
    return folder


def alias_bomb(levels: int, fan_out: int = 9) -> str:
    """A "billion laughs": each line is ``fan_out`` aliases of the line before, so it holds fan_out**levels values."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * fan_out) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * fan_out) + "]")
    return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float  # spent inside the command (the child's start-up is not counted)
    peak_mb: float  # the child's peak resident memory

    @property
    def text(self) -> str:
        return self.out + self.err


BOUNDED = textwrap.dedent("""\
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    started = time.monotonic()
    try:
    {body}
    finally:
        sys.stdout.flush()
        # VmHWM is this process's own peak; ru_maxrss would also count the test runner's size at fork
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        print(f"\\n@@bounds {{time.monotonic() - started:.3f}} {{peak}}", file=sys.stderr)
    sys.exit(code)
""")


def bounded(body: str, home: Path) -> Outcome:
    """Run ``body`` (Python that sets ``code``) in a child process with the time and memory guards.

    ``home`` is its working folder and COMPANION_HOME, so nothing it might write lands in the checkout.
    """
    if resource is None:
        pytest.skip("needs POSIX rlimits")
    script = BOUNDED.format(limit=ADDRESS_SPACE, body=textwrap.indent(textwrap.dedent(body), "    "))
    env = {**os.environ, "COMPANION_HOME": str(home / "companion-home"), "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=home, env=env, capture_output=True,
                              text=True, encoding="utf-8", errors="replace", timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {HANG} s: {body.strip()}")
    err, _, bounds = done.stderr.rpartition("@@bounds ")
    assert bounds, f"the child did not finish normally (exit {done.returncode}):\n{done.stderr[-3000:]}"
    seconds, peak_kb = bounds.split()
    return Outcome(done.returncode, done.stdout, err, float(seconds), int(peak_kb) / 1024)


def cli(home: Path, *argv: str) -> Outcome:
    """``companion ARGV`` in a bounded child process."""
    return bounded(f"from companion.cli import main\ncode = main({list(argv)!r})", home)


def assert_clean_failure(outcome: Outcome, *expected: str, code: int = 1) -> None:
    """Exit ``code``, each ``expected`` text said, no traceback, within the time and memory bounds."""
    assert "Traceback" not in outcome.text, outcome.text[-3000:]
    assert outcome.code == code, f"exit {outcome.code}, not {code}:\n{outcome.text[-3000:]}"
    for text in expected:
        assert text in outcome.text, f"{text!r} not in:\n{outcome.text[-3000:]}"
    assert outcome.seconds < SECONDS, f"took {outcome.seconds:.1f} s"
    assert outcome.peak_mb < PEAK_MB, f"peak memory {outcome.peak_mb:.0f} MB"


def problems_of(path: Path) -> list[str]:
    """Problems about ``path`` from loading its folder in this process, as printed."""
    return [str(p) for p in load_library([path.parent]).problems if p.file == str(path)]


# -- 1. only regular files -----------------------------------------------------


@needs_posix
@pytest.mark.parametrize("verb", ["check", "list"])
def test_fifo_in_routines_folder_does_not_hang(tmp_path: Path, verb: str) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    outcome = cli(tmp_path, "--routines", str(folder), verb)
    assert_clean_failure(outcome, f"{fifo}:1: (file): not a regular file (a named pipe)")


@needs_posix
def test_fifo_named_on_the_command_line_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert_clean_failure(cli(tmp_path, "check", str(fifo)), f"{fifo}:1: (file): not a regular file (a named pipe)")


@needs_posix
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_symlink_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    zero = folder / "zero.yaml"
    zero.symlink_to("/dev/zero")
    outcome = cli(tmp_path, "--routines", str(folder), "check")
    assert_clean_failure(outcome, f"{zero}:1: (file): not a regular file (a link to a device, /dev/zero)")


def test_directory_named_yaml_is_a_problem(tmp_path: Path) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    (folder / "x.yaml").mkdir()
    assert problems_of(folder / "x.yaml") == [f"{folder / 'x.yaml'}:1: (file): not a regular file (a folder); "
                                              "only ordinary files are read"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_socket_named_yaml_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    monkeypatch.chdir(folder)  # a socket path must be short; a relative one is
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("sock.yaml")
        [problem] = problems_of(folder / "sock.yaml")
    assert problem.endswith("sock.yaml:1: (file): not a regular file (a socket); only ordinary files are read")


def test_symlink_to_a_routine_file_is_fine(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = routine(elsewhere, "chin-tuck")
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "chin-tuck.yaml").symlink_to(target)
    lib = load_library([folder])
    assert not lib.problems and lib.ids() == ["chin-tuck"]


def test_broken_symlink_is_a_problem(tmp_path: Path) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    (folder / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    [problem] = problems_of(folder / "gone.yaml")
    assert problem == f"{folder / 'gone.yaml'}:1: (file): cannot read: a link to {tmp_path / 'nowhere.yaml'}, " \
                      "which does not exist"


# -- 2. a size cap -------------------------------------------------------------


@needs_posix
def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    huge = folder / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(8 * 1024 ** 3)  # 8 GiB, sparse: costs no disk, but reading it would
    outcome = cli(tmp_path, "check", str(folder))
    assert_clean_failure(outcome, f"{huge}:1: (file): the file is larger than 256 KiB")


def test_file_just_under_the_cap_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    path = routine(folder, "chin-tuck")
    padding = MAX_ROUTINE_FILE_BYTES - path.stat().st_size
    path.write_text(path.read_text(encoding="utf-8") + "#" * (padding - 1) + "\n", encoding="utf-8")
    assert path.stat().st_size == MAX_ROUTINE_FILE_BYTES
    assert not load_library([folder]).problems
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n")
    assert [p.message for p in load_library([folder]).problems] == [
        "the file is larger than 256 KiB, far more than a content file needs; is this the right file?"]


# -- 3. YAML aliases -----------------------------------------------------------


@needs_posix
def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    bomb = folder / "bomb.yaml"
    bomb.write_text(alias_bomb(9), encoding="utf-8")
    assert bomb.stat().st_size < 512  # a few lines of text
    outcome = cli(tmp_path, "check", str(folder))
    assert_clean_failure(outcome, f"{bomb}:2: a1[0]: YAML aliases (*name) are not allowed in routine files; "
                                  "write out what *a0 stands for")


@needs_posix
def test_deeper_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    folder = folder_with_one_good_routine(tmp_path)
    bomb = folder / "bomb.yaml"
    bomb.write_text(alias_bomb(40, fan_out=30), encoding="utf-8")  # 30**40 values written out
    assert_clean_failure(cli(tmp_path, "--routines", str(folder), "list"), f"{bomb}:2: a1[0]: YAML aliases (*name)")


@needs_posix
@pytest.mark.parametrize("levels, fan_out", [(9, 9), (40, 30)])
def test_alias_bomb_in_a_data_file_stops_at_the_node_cap(tmp_path: Path, levels: int, fan_out: int) -> None:
    """Knowledge files may use aliases; the walk that expands them stops at MAX_YAML_NODES."""
    bomb = tmp_path / "knowledge.yaml"
    bomb.write_text(alias_bomb(levels, fan_out), encoding="utf-8")
    outcome = bounded(f"""
        from pathlib import Path
        from companion.content.yamlsource import read_yaml
        for problem in read_yaml(Path({str(bomb)!r})).problems:
            print(problem)
        code = 0
    """, tmp_path)
    assert_clean_failure(outcome, f"the file holds more than {MAX_YAML_NODES} values", code=0)


def test_alias_inside_a_routine_names_its_line_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    extra = "warnings:\n  - &stop Stop if it hurts.\n  - Breathe.\n  - *stop\n"
    path = routine(folder, "chin-tuck", extra=extra)
    assert problems_of(path) == [f"{path}:7: warnings[2]: YAML aliases (*name) are not allowed in routine files; "
                                 "write out what *stop stands for"]


def test_too_deep_nesting_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    depth = MAX_YAML_DEPTH + 5
    path.write_text("a: " + "[" * depth + "1" + "]" * depth + "\n", encoding="utf-8")
    doc = read_yaml(path)
    assert [str(p) for p in doc.problems] == [f"{path}:1: (yaml): the file is nested more than "
                                              f"{MAX_YAML_DEPTH} levels deep"]


# -- 4. a time budget ----------------------------------------------------------


def test_files_past_the_time_budget_are_reported_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    paths = [routine(folder, rid) for rid in ("a-one", "b-two")]
    lib = load_library([folder], time_budget=0)
    assert [str(p) for p in lib.problems] == [f"{path}:1: (file): not read: loading took too long (over 0 seconds)"
                                              for path in paths]
    assert LOAD_TIME_BUDGET_SECONDS >= 5  # well above the shipped library's load time, on a slow machine too


# -- 5. checks that were missing -----------------------------------------------


def test_file_name_must_match_id(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    path = routine(folder, "chin-tuck", name="wall-standing.yaml")
    assert problems_of(path) == [f"{path}:1: id: the id 'chin-tuck' must match the file name 'wall-standing.yaml' "
                                 "(rename the file to chin-tuck.yaml, or change the id)"]
    assert_clean_failure(cli(tmp_path, "--routines", str(folder), "check"),
                         f"{path}:1: id: the id 'chin-tuck' must match")


def test_same_id_in_two_folders_is_a_duplicate(tmp_path: Path) -> None:
    """With the name rule, a duplicate id is the same file name in two folders."""
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir(), second.mkdir()
    routine(first, "chin-tuck")
    copy = routine(second, "chin-tuck")
    lib = load_library([first, second])
    assert [str(p) for p in lib.problems] == [
        f"{copy}:1: id: duplicate id 'chin-tuck' (also in {first / 'chin-tuck.yaml'})"]


def requires(*ids: str) -> str:
    return "requires:\n" + "".join(f"  - routine: {rid}\n    why: Learn that one first.\n" for rid in ids)


def test_requires_cycle_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    routine(folder, "a-one", extra=requires("b-two"))
    closing = routine(folder, "b-two", extra=requires("a-one"))
    lib = load_library([folder])
    assert [str(p) for p in lib.problems] == [
        f"{closing}:5: requires[0].routine: these routines require each other in a circle: "
        "b-two -> a-one -> b-two; none of them could ever be done first"]
    assert_clean_failure(cli(tmp_path, "--routines", str(folder), "list"), "b-two -> a-one -> b-two")


def test_longer_requires_cycle_is_reported_once(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    routine(folder, "a-one", extra=requires("b-two"))
    routine(folder, "b-two", extra=requires("wall-standing", "c-three"))
    routine(folder, "c-three", extra=requires("a-one"))
    routine(folder, "wall-standing")
    messages = [p.message for p in load_library([folder]).problems]
    assert len(messages) == 1 and "c-three -> a-one -> b-two -> c-three" in messages[0]


def test_then_cycle_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    routine(folder, "a-one", extra="then: b-two\n")
    closing = routine(folder, "b-two", extra="then: a-one\n")
    assert [str(p) for p in load_library([folder]).problems] == [
        f"{closing}:4: then: 'then' goes round in a circle: b-two -> a-one -> b-two"]


TEN_DAYS = """\
  - reps:
      count: 100
      sets: 20
      sides: [left, right]
      move: Draw your chin back.
      move_seconds: 30
      hold_seconds: 120
      release_seconds: 60
"""


def test_ten_day_routine_is_refused(tmp_path: Path) -> None:
    """Each number is within its own bound (schema.py); together they make about ten days."""
    folder = tmp_path / "routines"
    folder.mkdir()
    path = routine(folder, "chin-tuck")
    path.write_text(path.read_text(encoding="utf-8").replace("sources:\n", TEN_DAYS + "sources:\n"), encoding="utf-8")
    assert problems_of(path) == [f"{path}:4: steps: the steps would take up to 9.7 days; a routine may last at most "
                                 "2 h 00 min (is a number a typo?)"]
    assert_clean_failure(cli(tmp_path, "--routines", str(folder), "run", "chin-tuck", "--virtual-clock", "--text"),
                         f"{path}:4: steps: the steps would take up to 9.7 days")


def test_many_small_steps_add_up_too(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    path = routine(folder, "chin-tuck")
    rests = "  - rest: 600\n" * (MAX_ROUTINE_SECONDS // 600 + 1)
    path.write_text(path.read_text(encoding="utf-8").replace("sources:\n", rests + "sources:\n"), encoding="utf-8")
    [problem] = load_library([folder]).problems
    assert (problem.line, problem.field) == (4, "steps") and "a routine may last at most" in problem.message


def test_routine_just_under_the_limit_is_fine(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    path = routine(folder, "chin-tuck")
    # 2 s pause + 10 s hold from the template, then rests up to the limit exactly
    rests = "  - rest: 600\n" * ((MAX_ROUTINE_SECONDS - 12) // 600) + f"  - rest: {(MAX_ROUTINE_SECONDS - 12) % 600}\n"
    path.write_text(path.read_text(encoding="utf-8").replace("sources:\n", rests + "sources:\n"), encoding="utf-8")
    assert not load_library([folder]).problems


def test_programme_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "routines"
    folder.mkdir()
    path = routine(folder, "long-hold")
    holds = "  - hold:\n      seconds: 1800\n      cue: Stay there.\n"
    path.write_text(path.read_text(encoding="utf-8").replace("sources:\n", holds * 3 + "sources:\n"), encoding="utf-8")
    items = "".join("  - routine: long-hold\n" for _ in range(MAX_PROGRAMME_SECONDS // 5400 + 1))
    programme = folder / "all-day.yaml"
    programme.write_text("id: all-day\nkind: programme\ntitle: All day\npurpose: Too much.\nitems:\n" + items,
                         encoding="utf-8")
    lib = load_library([folder])
    assert [(p.file, p.line, p.field) for p in lib.problems] == [(str(programme), 5, "items")]
    assert "a programme may last at most 4 h 00 min" in lib.problems[0].message


# -- 6. an empty folder --------------------------------------------------------


@needs_posix
@pytest.mark.parametrize("verb", [["list"], ["check"], ["show", "wall-standing"],
                                  ["run", "wall-standing", "--virtual-clock", "--text"]],
                         ids=lambda verb: verb[0])
def test_empty_routines_folder_is_a_clear_message(tmp_path: Path, verb: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = cli(tmp_path, "--routines", str(empty), *verb)
    assert_clean_failure(outcome, f"{empty}:1: (folder): no routine files (*.yaml or *.yml) in {empty}")


def test_folder_with_only_other_files_is_empty_too(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a routine\n", encoding="utf-8")
    [problem] = load_library([tmp_path]).problems
    assert problem.message == f"no routine files (*.yaml or *.yml) in {tmp_path}"


# -- fuzzing -------------------------------------------------------------------

GOOD = ROUTINE.format(id="fuzz", extra="warnings: [Stop if it hurts.]\nnot_for: [acute]\n")
YAML_BITS = st.sampled_from([":", "-", " ", "\n", "\t", "[", "]", "{", "}", ",", "&a", "*a", "!", "!!int", "|", ">",
                             "'", '"', "#", "%", "@", "`", "?", "~", "null", "yes", "1e999", ".nan", "---", "...",
                             "\ufeff", "\x00", "é", "\u2028", "0x1F", "<<: *a"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The good routine with a few slices cut, pasted in twice, or replaced by YAML-significant bits."""
    text = GOOD
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            text = text[:start] + text[end:]
        elif choice == 1:
            text = text[:end] + text[start:end] + text[end:]
        else:
            text = text[:start] + "".join(draw(st.lists(YAML_BITS, min_size=1, max_size=5))) + text[end:]
    return text


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Module-scoped: hypothesis reruns the test body, and a function-scoped tmp_path would not be fresh anyway."""
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated().map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.binary(max_size=300)))
def test_any_text_gives_problems_or_entries_never_an_exception(fuzz_dir: Path, content: bytes) -> None:
    path = fuzz_dir / "fuzz.yaml"
    path.write_bytes(content)
    for aliases in (True, False):  # plain data may be anything, null included; it must just come back
        assert read_yaml(path, aliases=aliases).file == str(path)
    lib = load_library([fuzz_dir])
    assert lib.problems or lib.entries()
    for problem in lib.problems:
        text = str(problem)
        assert "\n" not in text and PROBLEM_FORM.match(text), text
        assert problem.file == str(path) and problem.line >= 1
        assert "Traceback" not in text


def test_every_shipped_routine_still_loads() -> None:
    started = time.monotonic()
    lib = load_library([ROOT / "routines"])
    assert not lib.problems, [str(p) for p in lib.problems]
    assert len(lib.routines) + len(lib.programmes) == len(list((ROOT / "routines").glob("*.yaml")))
    assert time.monotonic() - started < SECONDS


@pytest.mark.parametrize("padding", ["", "# é\n" * 20_000], ids=["small", "over-64-KiB"])
def test_forbidden_character_names_its_line(tmp_path: Path, padding: str) -> None:
    """Past EXPLAIN_ERRORS_BYTES libyaml's own error is used, whose offset counts bytes, not characters."""
    path = tmp_path / "odd.yaml"
    path.write_text(padding + "a: é\nb: x\x1fy\n", encoding="utf-8")
    [problem] = read_yaml(path).problems
    assert problem.line == padding.count("\n") + 2 and problem.field == "(yaml)"
    assert problem.message.startswith("YAML syntax error: the character U+001F cannot be used in YAML (")
    assert "\n" not in problem.message
