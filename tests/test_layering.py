"""The import rule (docs/architecture.md): the runtime package ``stream/`` imports nothing from
``train/`` or ``demo/``; those add their commands to the CLI through the
``echostream.commands`` entry points, so a runtime-only install never needs them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("echostream.train", "echostream.demo")


def _imports(source: str, package: list[str]) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source``, relative ones resolved from ``package``
    (the module's package, e.g. ``["echostream", "stream", "sources"]``)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            out.append((node.lineno, ".".join([*base, *filter(None, [node.module])])))
    return out


def test_runtime_imports_nothing_from_train_or_demo() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / "stream").rglob("*.py"))
        for line, module in _imports(
            path.read_text(encoding="utf-8"),
            ["echostream", *path.relative_to(REPO).parent.parts],
        )
        if module.startswith(FORBIDDEN)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_rule_sees_absolute_and_relative_imports() -> None:
    """The scanner resolves both spellings (a rule that could not fail would prove nothing)."""
    src = "from echostream.train.loop import fit\nfrom ...demo import app\nfrom . import x\n"
    found = [m for _, m in _imports(src, ["echostream", "stream", "sources"])]
    assert found == ["echostream.train.loop", "echostream.demo", "echostream.stream.sources"]
    assert [m for m in found if m.startswith(FORBIDDEN)] == found[:2]


def test_cli_loads_without_importing_train_or_demo_work() -> None:
    """``echostream --help`` lists the train and demo commands (entry points) while loading
    only their small command modules, never their work (torch, the simulator, gradio)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from echostream.stream.cli import app\n"
        "res = CliRunner().invoke(app, ['--help'])\n"
        "assert res.exit_code == 0, res.output\n"
        "for name in ('train', 'demo', 'simulate-sweep', 'export', 'classify'):\n"
        "    assert name in res.output, name\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'gradio')\n"
        "               or m.startswith('echostream.train.simulator'))\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
