"""The wheel carries every module, and the CLI starts without importing torch."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PACKAGE_DIRS = {
    "stream": "echostream.stream",
    "models": "echostream.models",
    "train": "echostream.train",
    "demo": "echostream.demo",
}


def _source_modules() -> set[str]:
    names = set()
    for folder, pkg in PACKAGE_DIRS.items():
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            names.add(".".join([pkg, *parts]))
    return names


@pytest.mark.slow
def test_wheel_holds_every_module_and_imports(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("echostream-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = {
            n[:-3].replace("/", ".").removesuffix(".__init__")
            for n in zf.namelist()
            if n.endswith(".py")
        }
        zf.extractall(tmp_path / "site")
    missing = _source_modules() - in_wheel
    assert not missing, (
        f"modules missing from the wheel (list their package in pyproject): {sorted(missing)}"
    )
    # Import every module from the unpacked wheel, not from the checkout.
    code = (
        "import importlib, sys; sys.path.insert(0, sys.argv[1]);"
        "[importlib.import_module(m) for m in sys.argv[2:]];"
        "import echostream.stream as s; assert s.__file__.startswith(sys.argv[1]), s.__file__"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "site"), *sorted(in_wheel)],
        check=True,
        cwd=tmp_path,
    )


def test_cli_help_imports_no_torch() -> None:
    code = (
        "import sys; from echostream.stream.cli import app;"
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_no_bare_package_imports() -> None:
    """Nothing may import the folders as bare ``models``/``train``/``stream``/``demo``."""
    import re

    bad = re.compile(r"^\s*(from|import)\s+(models|train|stream|demo)(\.|\s)", re.M)
    offenders = [
        str(p.relative_to(REPO))
        for folder in PACKAGE_DIRS
        for p in (REPO / folder).rglob("*.py")
        if bad.search(p.read_text())
    ]
    assert not offenders
