"""The wheel works on its own: built from the checkout, installed (not -e) outside it, run elsewhere.

The fresh virtual environment borrows the already installed dependencies through a
``.pth`` line (the suite runs offline and in seconds); the checkout's editable
finder is not among them, so ``companion`` can only come from the wheel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_the_wheel_lists_every_package_in_the_tree():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "companion").rglob("__init__.py")}
    assert tree | {"companion.routines", "companion.models"} == listed


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with only the wheel installed into it; returns its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(work / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("companion-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "companion/routines/wall-standing.yaml" in names
    assert "companion/content/data/en/phrases.yaml" in names
    assert "companion/content/data/en/knowledge/exercise.yaml" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "routines/", "models/"))], names
    target = work / "venv"
    venv.create(target, with_pip=False)
    site = Path(subprocess.run([str(target / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
                           "--no-deps", "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target / "bin"


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COMPANION_ROUTINES", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["COMPANION_HOME"] = str(cwd / "home")
    return subprocess.run([str(bin_dir / "companion"), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_the_package_comes_from_the_wheel(installed: Path, tmp_path: Path):
    where = subprocess.run([str(installed / "python"), "-c", "import companion; print(companion.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert str(installed.parent) in where and str(ROOT) not in where


@pytest.mark.parametrize("args, expect", [
    (["list"], r"wall-standing"),
    (["check"], r"^OK: \d+ routines"),
    (["run", "wall-standing", "--virtual-clock", "--text"], r"Session completed after"),
    (["ask", "--text", "how should I lift a box"], r"(?i)squat|bend your knees"),
])
def test_the_installed_command_works_from_another_folder(installed: Path, tmp_path: Path, args, expect):
    done = run(installed, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert re.search(expect, done.stdout, re.M), done.stdout[-2000:]
    assert "Traceback" not in done.stderr
