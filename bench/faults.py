"""Fault injection, measured: `python bench/faults.py` (add --json for machine-readable figures).

Runs the fault-injection suite (tests/faults/) and counts the cases tried, survived and
failed, then feeds the worst routine files we know of to `companion check` in a child
process each, and reports the time and peak memory of each (the worst is the figure to
quote). Nothing here is timed in the unit tests: they only assert generous bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""
DEEPER_BOMB = ALIAS_BOMB + "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
DEEP_NESTING = "a: " + "[" * 5000 + "]" * 5000 + "\n"


def suite() -> dict[str, int]:
    """Run tests/faults and count its cases."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "faults.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "faults"),
                        f"--junitxml={report}"], cwd=ROOT, capture_output=True, text=True)
        cases = ET.parse(report).getroot().iter("testcase")
        counts = {"tried": 0, "survived": 0, "failed": 0, "skipped": 0}
        for case in cases:
            counts["tried"] += 1
            if case.find("failure") is not None or case.find("error") is not None:
                counts["failed"] += 1
            elif case.find("skipped") is not None:
                counts["skipped"] += 1
            else:
                counts["survived"] += 1
    return counts


def _make(folder: Path, name: str) -> Path:
    """One routines folder holding one bad file."""
    folder.mkdir()
    target = folder / f"{name}.yaml"
    if name == "alias-bomb":
        target.write_text(ALIAS_BOMB)
    elif name == "deeper-alias-bomb":
        target.write_text(DEEPER_BOMB)
    elif name == "deep-nesting":
        target.write_text(DEEP_NESTING)
    elif name == "fifo":
        os.mkfifo(target)
    elif name == "dev-zero":
        target.symlink_to("/dev/zero")
    elif name == "huge":
        target.write_text("id: huge\ntitle: " + "x" * (20 * 1024 * 1024) + "\n")
    return folder


# Runs `companion ARGS` and reports its own peak resident memory (VmHWM): the rusage of a child
# also counts the parent's size at fork, so it would say more about this script than about companion.
CHILD = """\
import sys
from companion.cli import main
try:
    code = main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"@@peak_kb {peak}", file=sys.stderr)
sys.exit(code)
"""


def companion_command(*args: str) -> list[str]:
    return [sys.executable, "-c", CHILD, *args]


def _measured(command: list[str], timeout: float, env: dict[str, str]) -> tuple[object, float, int, str]:
    """Run ``command``; its exit code (or "timeout"), wall seconds, its own peak RSS (kB) and output."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, text=True)
        code: object = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                code = "timeout"
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - start
        proc.returncode = 0  # reaped above
        out.seek(0)
        text, _, peak = out.read().rpartition("@@peak_kb ")
        if not peak:  # killed before it could tell: the rusage figure, an upper bound
            return code, seconds, usage.ru_maxrss, text
        return code, seconds, int(peak.split()[0]), text


def loading_cases(timeout: float) -> list[dict[str, object]]:
    """Each bad file through `companion --routines DIR check` in a child process: time, peak memory, exit."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("alias-bomb", "deeper-alias-bomb", "deep-nesting", "fifo", "dev-zero", "huge"):
            folder = _make(Path(tmp) / name, name)
            code, seconds, peak_kb, output = _measured(companion_command("--routines", str(folder), "check"), timeout,
                                                       {**os.environ, "COMPANION_HOME": tmp})
            rows.append({"case": name, "exit": code, "seconds": round(seconds, 3),
                         "peak_rss_mb": round(peak_kb / 1024, 1), "traceback": "Traceback" in output,
                         "message": output.strip().splitlines()[:1]})
        # Knowledge files may use aliases; the deeper bomb there meets the value cap instead.
        language = Path(tmp) / "language"
        shutil.copytree(ROOT / "companion" / "content" / "data" / "en", language)
        (language / "knowledge" / "bomb.yaml").write_text(DEEPER_BOMB)
        code, seconds, peak_kb, output = _measured(companion_command("check"), timeout,
                                                   {**os.environ, "COMPANION_HOME": tmp, "COMPANION_LANG": str(language)})
        rows.append({"case": "knowledge-alias-bomb", "exit": code, "seconds": round(seconds, 3),
                     "peak_rss_mb": round(peak_kb / 1024, 1), "traceback": "Traceback" in output,
                     "message": output.strip().splitlines()[:1]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds each loading case may take")
    args = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "suite": suite(), "loading": loading_cases(args.timeout)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}")
    s = results["suite"]
    print(f"fault cases (tests/faults): {s['tried']} tried, {s['survived']} survived, {s['failed']} failed, "
          f"{s['skipped']} skipped")
    print("content loading, one bad file through `companion check` in a child process:")
    for row in results["loading"]:
        peak = f"{row['peak_rss_mb']} MB"
        print(f"  {row['case']:<18} exit {row['exit']!s:<8} {row['seconds']:>7.3f} s  peak RSS {peak}"
              f"{'  TRACEBACK' if row['traceback'] else ''}  {row['message'][0] if row['message'] else ''}")
    slowest = max(results["loading"], key=lambda r: r["seconds"])
    largest = max(results["loading"], key=lambda r: r["peak_rss_mb"])
    print(f"worst: {slowest['case']} took longest ({slowest['seconds']:.3f} s); "
          f"{largest['case']} needed most memory ({largest['peak_rss_mb']} MB)")


if __name__ == "__main__":
    main()
