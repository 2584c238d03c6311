"""The ``echostream`` command: a typer root app; each package registers its own commands.

The runtime (``stream/``) registers its commands here; models, training and the demo add
theirs through the ``echostream.commands`` entry-point group (pyproject.toml), so this package
never imports ``train/`` or ``demo/``.

Command modules import only typer and the standard library at import time; the work (pydicom,
onnxruntime, torch, ...) is imported inside each command, so ``echostream --help`` stays fast
and never imports torch. A command that needs an extra the install lacks (``train``, ``demo``,
``gpu``) ends with one line naming it (:mod:`.extras`).
"""

from __future__ import annotations

import logging
import warnings

import typer
import typer.core

from .extras import ExtrasGroup


def _flags_without_type() -> None:
    """Rich help shows no ``<bool>`` placeholder after a flag (``--json``, ``--help``): a flag
    takes no value. typer 0.29 prints one in its rich help panels (its plain help does not);
    this applies the plain help's rule there."""
    option = typer.core.TyperOption
    shown = getattr(option, "display_type_rich", None)
    if shown is None or getattr(shown, "_echostream", False):
        return

    def display_type_rich(self, ctx):  # noqa: ANN001, ANN202
        return None if self.is_flag or self.count else shown(self, ctx)

    display_type_rich._echostream = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_type()
app = typer.Typer(
    cls=ExtrasGroup,
    name="echostream",
    help="Echocardiography view recognition: read cines, classify views, train and ship engines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    cls=ExtrasGroup,
    help="Benchmarks that print JSON (decode, models, stream).",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # pydicom logs each of its UserWarnings too, and the readers turn what matters into a
    # file's error or warnings; Pillow's size warning is moot (readers cap frame size).
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")


#: Entry-point group through which the packages above the runtime (models, train, demo, or
#: a third party's) add their commands: ``name = "module:register"`` in pyproject.toml.
COMMANDS_GROUP = "echostream.commands"


def _register_all() -> None:
    """The runtime's own commands, then each installed package's (entry points, by name)."""
    from importlib.metadata import entry_points

    from . import cli_anonymize, cli_archive, cli_backends, cli_serve, cli_sources, cli_stream

    for module in (cli_sources, cli_stream, cli_backends, cli_anonymize, cli_serve, cli_archive):
        module.register(app, bench_app)
    for point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda p: p.name):
        point.load()(app, bench_app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
