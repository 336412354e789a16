"""The README's Quick start is what CI runs: keep them in step."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_block = next(b for b in code_blocks(readme) if "pytest" in b)
    command = test_block.strip()
    assert command == "python -m pytest"
    ci_lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert ci_lines[-1] == command


def test_ci_installs_the_packages_the_quick_start_names():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    apt = re.search(r"apt-get install -y --no-install-recommends (.+)", readme).group(1).split()
    for package in apt:
        assert package in ci, package
    assert "pip install -q -e '.[test]'" in ci


def test_every_cli_command_in_the_readme_exists():
    from companion.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    blocks = "\n".join([*code_blocks(readme), *re.findall(r"`(companion [^`]+)`", readme)])
    commands = set(re.findall(r"^companion (\w+)", blocks, re.M))
    choices = parser._subparsers._group_actions[0].choices
    assert commands and commands <= set(choices), commands - set(choices)
