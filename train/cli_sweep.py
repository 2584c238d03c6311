"""``echostream simulate-sweep``: simulated sweep cines with per-frame truth, for the smoothing
metrics of ``echostream bench stream --sweep`` (the simulator is imported inside the command).

Example::

    echostream simulate-sweep sweeps/sweep.dcm            # sweep-seed1.dcm … sweep-seed3.dcm
    echostream bench stream CINE --json --sweep sweeps/
"""

from __future__ import annotations

from pathlib import Path

import typer


def simulate_sweep(
    out: Path = typer.Argument(
        ..., help="Cine to write (NAME-seedN.dcm beside it when several seeds are given)."
    ),
    seed: list[int] = typer.Option(
        [1, 2, 3],
        "--seed",
        help="Simulator seed; repeatable (default 1, 2, 3: more view changes and flicker "
        "events than one cine has; smoothing was tuned on seeds 11-13).",
    ),
    quality: float = typer.Option(
        0.1,
        "--quality",
        help="Acoustic window 0 (poor) … 1 (excellent); the default 0.1 is a poor window, "
        "the hard case smoothing exists for.",
    ),
    wobble: float = typer.Option(
        0.35,
        "--wobble",
        help="Hand drift towards the neighbouring view while holding one, 0–0.45 "
        "(0: a probe held perfectly still).",
    ),
    frames: int = typer.Option(600, "--frames", help="Frames per view sweep."),
) -> None:
    """Write simulated sweep cines (A4C, A3C, SAXMID, PLAX) with their .labels.json truth."""
    from .simulator.sweep import make_sweep, sweep_paths

    seeds = list(dict.fromkeys(seed or [1]))
    for one_seed, path in zip(seeds, sweep_paths(out, seeds), strict=True):
        try:
            made = make_sweep(path, quality=quality, seed=one_seed, frames_per_view=frames,
                              wobble=wobble)  # fmt: skip
        except (OSError, ValueError) as err:
            typer.echo(f"error: {path.name}: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"sweep cine written: {made}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``simulate-sweep`` to the root app."""
    del bench
    app.command("simulate-sweep")(simulate_sweep)
