"""Export each experiment's best run to ONNX with a model card (``echostream report --export``).

The best cell is the one with the highest mean test (or held-out) frame accuracy over seeds;
within it, the seed with the highest accuracy. Its ``final.pt`` goes through
:func:`echostream.models.export.export_checkpoint` (self-describing ONNX, metadata inside) into
``<experiment folder>/best/``, with ``MODEL_CARD.md`` beside it: what the model is, the data
(simulated), scale, seed, the metrics with the cell's 95 % CI, and the plain warning that it has
never seen a real patient.

Example::

    export_best(Path("runs/experiments/exp4_size-smoke"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import ci_cell, init_note, model_desc
from .grid import collect, summarise

WARNING = (
    "**This model has never seen a real patient.** It was trained and tested on simulated echo "
    "only; its accuracy says nothing about real scans. Do not use it for any clinical purpose."
)


def best_run(results: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """``(cell, result)`` of the best cell's best seed, or None without results."""
    summary = summarise(results)
    if not summary:
        return None
    cell = max(summary, key=lambda c: summary[c]["frame_accuracy"]["mean"] or -1.0)
    runs = [r for r in results if r["cell"] == cell]
    return cell, max(runs, key=lambda r: r["metrics"]["frame_accuracy"])


def export_best(exp_root: str | Path) -> Path | None:
    """Export the best run under ``exp_root``; returns the ONNX path (None without runs)."""
    from echostream.models.export import export_checkpoint

    exp_root = Path(exp_root)
    results = collect(exp_root)
    found = best_run(results)
    if found is None:
        return None
    cell, run = found
    ckpt = exp_root / cell / f"seed{run['seed']}" / "final.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: the best run's checkpoint is missing")
    out_dir = exp_root / "best"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.onnx*"):  # an earlier best of this experiment
        stale.unlink()
    onnx_path = out_dir / f"{cell}-seed{run['seed']}.onnx"
    _, info = export_checkpoint(ckpt, onnx_path)
    c = summarise(results)[cell]
    m = run["metrics"]
    lines = [
        f"# Model card: {run['experiment']} best cell `{cell}` (seed {run['seed']})",
        "",
        WARNING,
        "",
        f"- model: {model_desc(c)}, initialisation: {run.get('init', '?')} ({init_note(c)})",
        f"- file: `{onnx_path.name}` (ONNX, fp32, metadata inside; weights sha256 "
        f"{info.weights_sha256[:16]}…), from `{ckpt}`",
        f"- data: simulated (`{run.get('data_dir', '?')}`), scale {run['scale']}, "
        f"{run['train_frames']} training frames, evaluated on the {run['eval_split']} set "
        f"({m['frames']} frames, {m['cines']} cines)",
        f"- this run: frame accuracy {100 * m['frame_accuracy']:.1f} %, sequence accuracy "
        f"{100 * m['sequence_accuracy']:.1f} %, macro precision {100 * m['macro_precision']:.1f} %,"
        f" macro recall {100 * m['macro_recall']:.1f} % (simulated)",
        f"- its cell over {len(c['seeds'])} seed(s), mean ± 95 % CI: accuracy "
        f"{ci_cell(c['frame_accuracy'])}, sequence accuracy {ci_cell(c['sequence_accuracy'])}",
        "- chosen as: the cell with the highest mean accuracy, then its best seed (so this one "
        "run's number is optimistic; quote the cell's interval)",
        "",
    ]
    (out_dir / "MODEL_CARD.md").write_text("\n".join(lines))
    return onnx_path
