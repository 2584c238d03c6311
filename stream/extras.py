"""Optional dependencies: which extra brings a missing module, and one CLI-wide handler.

``pip install echostream`` is the runtime only; training, export, evaluation and the simulator
need the ``train`` extra (torch, …), the demo ``demo`` (gradio), TensorRT ``gpu``. A command that
reaches a missing optional module ends with one line naming the extra, never a traceback:

>>> missing_extra_message(ModuleNotFoundError(name="torch"), "echostream export")
"echostream export needs torch, which is not installed: pip install 'echostream[train]'"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
import typer.core

if TYPE_CHECKING:
    from typer._click.core import Context  # the click typer drives (vendored since 0.29)

#: Import name → the extra(s) of pyproject.toml that install it (a test keeps them in step).
EXTRA_OF: dict[str, tuple[str, ...]] = {
    "torch": ("train",),
    "torchvision": ("train",),
    "onnxscript": ("train",),
    "sklearn": ("train",),
    "pandas": ("train",),
    "onnxconverter_common": ("train",),
    "matplotlib": ("train", "demo"),
    "gradio": ("demo",),
    "tensorrt": ("gpu",),
    "ray": ("ray",),
}
#: Import name → distribution name, where they differ.
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "onnxconverter_common": "onnxconverter-common"}


def missing_extra_message(err: ModuleNotFoundError, command: str = "echostream") -> str | None:
    """One line naming the extra that provides ``err``'s module; None for any other module
    (a missing module of our own or of the runtime is a bug, not a slim install)."""
    top = (err.name or "").split(".")[0]
    extras = EXTRA_OF.get(top)
    if not extras:
        return None
    pips = " or ".join(f"pip install 'echostream[{e}]'" for e in extras)
    return f"{command} needs {top}, which is not installed: {pips}"


class ExtrasGroup(typer.core.TyperGroup):
    """A typer group whose commands end with :func:`missing_extra_message` (exit 2) when an
    optional dependency is missing; every group of the ``echostream`` CLI uses it."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as err:
            command = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            message = missing_extra_message(err, command)
            if message is None:
                raise
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2) from None
