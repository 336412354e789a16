"""``companion check [PATH ...]``: validate routine files (and, by default, the knowledge base and red flags)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from companion.care.progression import load_progression_text
from companion.care.screening import ScreeningError, load_screening
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM
from companion.cli.routine_files import routine_dirs
from companion.content.library import load_library
from companion.content.locale import data_file
from companion.knowledge.base import check_knowledge


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("check", help="validate routine files (exit 1 and file:line messages on problems)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the routines folder)")
    p.set_defaults(func=run)


def _care_wording() -> list[object]:
    """The screening questions and the progression reasons are language data too (care/ reads them)."""
    problems: list[object] = []
    try:
        load_screening()
    except ScreeningError as exc:
        problems.extend(exc.problems)
    try:
        load_progression_text()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        problems.append(f"{data_file('progression.yaml')}:1: (file): {' '.join(str(exc).split())}")
    return problems


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] if args.paths else None
    lib = load_library(paths if paths else routine_dirs(args))
    problems = list(lib.problems)
    if not args.paths:
        knowledge = check_knowledge()  # the knowledge base, red flags and the language's own files
        # screening names red flags and is read with the language's rules: only worth checking on top of those
        problems += knowledge or _care_wording()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return EXIT_PROBLEM
    checked = "" if args.paths else ", the knowledge base, red flags, symptoms and the language's words"
    print(f"OK: {len(lib.routines)} routines and {len(lib.programmes)} programmes{checked}, no problems.")
    return EXIT_OK
