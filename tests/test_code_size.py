"""Small modules with one job: no module over 450 lines, no function over 100 (outside tests).

Anything over them must be listed below with its size and the reason it must be long; nothing
is today. Never raise a number.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("stream", "models", "train", "demo", "scripts")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 100

#: Modules and functions allowed over the limits, each with its size and the reason it must be
#: long; empty since issue 15 split the last ones. An entry may not grow; remove it when split.
MODULES_TO_SPLIT: dict[str, int] = {}
FUNCTIONS_TO_SPLIT: dict[str, int] = {}


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, functions = {}, {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            source = path.read_text(encoding="utf-8")
            modules[rel] = len(source.splitlines())
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    key = f"{rel}::{node.name}"
                    size = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                    functions[key] = max(functions.get(key, 0), size)
    return modules, functions


def test_no_module_or_function_grows_past_the_limits() -> None:
    modules, functions = _sizes()
    too_long = [
        f"{name}: {n} lines (limit {MODULES_TO_SPLIT.get(name, MAX_MODULE_LINES)})"
        for name, n in modules.items()
        if n > MODULES_TO_SPLIT.get(name, MAX_MODULE_LINES)
    ] + [
        f"{name}: {n} lines (limit {FUNCTIONS_TO_SPLIT.get(name, MAX_FUNCTION_LINES)})"
        for name, n in functions.items()
        if n > FUNCTIONS_TO_SPLIT.get(name, MAX_FUNCTION_LINES)
    ]
    assert not too_long, "split these along their seams:\n" + "\n".join(too_long)


def test_the_split_list_names_only_what_is_still_too_long() -> None:
    modules, functions = _sizes()
    done = [m for m in MODULES_TO_SPLIT if modules.get(m, 0) <= MAX_MODULE_LINES] + [
        f for f in FUNCTIONS_TO_SPLIT if functions.get(f, 0) <= MAX_FUNCTION_LINES
    ]
    assert not done, f"split already (remove from the list): {done}"
