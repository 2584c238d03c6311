"""``pip install echostream`` without extras: commands that need one end with one line naming it.

The slim install is simulated in a subprocess by an import hook that makes every optional
dependency (``EXTRA_OF``) unimportable, as on a machine where it was never installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echostream.stream.defaults import default_model_path
from echostream.stream.extras import DISTRIBUTION_OF, EXTRA_OF, ExtrasGroup, missing_extra_message

REPO = Path(__file__).resolve().parents[1]

SLIM = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
from echostream.stream.cli import main
sys.argv = ["echostream", *sys.argv[2:]]
main()
"""


def test_extras_table_matches_pyproject() -> None:
    """Every distribution of the optional extras has its import name in ``EXTRA_OF``."""
    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    want: dict[str, set[str]] = {}
    for extra in ("train", "demo", "gpu", "ray"):
        for req in extras[extra]:
            dist = re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower()
            want.setdefault(dist, set()).add(extra)
    have = {DISTRIBUTION_OF.get(name, name): set(e) for name, e in EXTRA_OF.items()}
    assert have == want


def test_message_names_the_extra_and_only_for_optional_modules() -> None:
    msg = missing_extra_message(ModuleNotFoundError(name="torch.nn"), "echostream train")
    assert msg == (
        "echostream train needs torch, which is not installed: pip install 'echostream[train]'"
    )
    assert "echostream[gpu]" in str(missing_extra_message(ModuleNotFoundError(name="tensorrt")))
    assert missing_extra_message(ModuleNotFoundError(name="echostream.nope")) is None
    assert missing_extra_message(ModuleNotFoundError(name="numpy")) is None  # runtime: a bug


def test_group_turns_only_optional_modules_into_one_line() -> None:
    app = typer.Typer(cls=ExtrasGroup, name="echostream")

    @app.command()
    def needs(module: str) -> None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    @app.command()
    def other() -> None:  # two commands: a group, not a single command
        pass

    res = CliRunner().invoke(app, ["needs", "gradio"])
    assert res.exit_code == 2, res.output
    assert "needs gradio" in res.stderr and "echostream[demo]" in res.stderr
    res = CliRunner().invoke(app, ["needs", "echostream.missing"])
    assert isinstance(res.exception, ModuleNotFoundError)  # our own bug: not hidden


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["train", str(REPO / "configs/exp1_baseline_adam.yaml"), "--data", "{tmp}"], "torch"),
        (["export", "{tmp}/ckpt.pt", "--out", "{tmp}/m.onnx"], "torch"),
        (["evaluate", str(default_model_path()), "--data", "{tmp}"], "torch"),
        (["bench", "models"], "torch"),
    ],
    ids=["train", "export", "evaluate", "bench-models"],
)
def test_slim_install_commands_say_which_extra(
    args: list[str], module: str, tmp_path: Path
) -> None:
    blocked = ",".join(EXTRA_OF)
    argv = [a.format(tmp=tmp_path) for a in args]
    res = subprocess.run(
        [sys.executable, "-c", SLIM, blocked, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    command = " ".join(a for a in args[:2] if not a.startswith(("{", "/", "-")))
    assert lines[0].startswith(f"error: echostream {command} needs {module}")
    assert "pip install 'echostream[train]'" in lines[0]


def test_slim_install_runs_the_readme_main_job(tmp_path: Path) -> None:
    """The README's set-up command installs no extra, then classifies pydicom's real cine:
    every module that job touches (readers, sector detector, ONNX Runtime, smoother) must be
    a runtime dependency."""
    from pydicom import examples

    cine = str(examples.get_path("ybr_color"))
    res = subprocess.run(
        [sys.executable, "-c", SLIM, ",".join(EXTRA_OF), "classify", cine, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:] + res.stdout[-2000:]
    out = json.loads(res.stdout)
    assert out["summary"]["classified"] == 1, out
    assert out["cines"][0]["view"] is not None
