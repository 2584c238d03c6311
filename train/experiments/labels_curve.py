"""The labels-vs-accuracy curve: how many labelled patients a new site needs, by starting point.

The thesis' experiment 4 on the user's own data: the same network fine-tuned from each of
``inits`` — ``default`` (the shipped, simulation-trained model), ``imagenet``, ``random``, or a
model file, each with its own run overrides if ``inits`` is a mapping — on every frame of
1, 2, 4 … labelled patients of the training split; validation and test fixed. As in
experiment 4 every run sees about as many images as the largest set's
(``reference_patients``), so a small set is repeated within each epoch.

``echostream experiment labels --data MY_LABELLED_FOLDER --scale cpu`` runs it; the experiment
folder then holds ``labels_curve.png`` (test accuracy against labelled patients, one line per
start, mean ± 95 % CI over seeds) and ``labels_curve.md`` (the table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from echostream.stream.settings import deep_merge

from .common import cell_config, ci_cell, init_note
from .grid import CellDef

TITLE = "Accuracy against labelled patients, by starting point (test split)"


def _model_for(init: str, d: dict[str, Any]) -> dict[str, Any]:
    """The model section a cell starts from (a checkpoint's own architecture for a file)."""
    from ..init_weights import resolve_init

    choice = resolve_init(init)
    own = dict(d.get("model") or {})
    if choice.name is None:
        return {**own, "pretrained": choice.pretrained}
    return {"name": choice.name, "pretrained": choice.pretrained, "kwargs": choice.kwargs}


def expand(d: dict[str, Any]) -> list[CellDef]:
    counts = sorted(int(n) for n in d.get("patients") or [])
    raw = d.get("inits") or []
    # a list of starts, or a mapping start -> run overrides (e.g. its own learning rates)
    inits = (
        {str(i): {} for i in raw} if isinstance(raw, list) else {str(k): v for k, v in raw.items()}
    )
    if not counts or not inits:
        raise ValueError("the labels curve needs 'patients:' (counts) and 'inits:'")
    ref = int(d.get("reference_patients", counts[-1]))
    out = []
    for init, own in inits.items():
        model = _model_for(init, d)
        run = deep_merge(d.get("run") or {}, own or {})
        for n in counts:
            out.append(
                CellDef(
                    name=f"{Path(init).stem}__{n}pat",
                    config=cell_config(d, model, run),
                    meta={"network": Path(init).stem, "patients": n},
                    sampling={
                        "kind": "patients",
                        "patients": n,
                        "reference_patients": ref,
                        "max_repeats": int(d.get("max_repeats", 1000)),
                    },
                    init_fallback=None,  # the curve compares starts: no silent swap
                )
            )
    return out


def table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    head = ["start", "labelled patients", "train frames", "accuracy", "sequence accuracy", "seeds"]
    names = sorted(summary, key=lambda n: (n.split("__")[0], summary[n]["meta"]["patients"]))
    rows = [
        [
            f"{c['meta']['network']} ({init_note(c)})",
            str(c["meta"]["patients"]),
            "/".join(str(n) for n in c["train_frames"]),
            ci_cell(c["frame_accuracy"]),
            ci_cell(c["sequence_accuracy"]),
            str(len(c["seeds"])),
        ]
        for c in (summary[n] for n in names)
    ]
    return head, rows, names


def write_outputs(root: Path, summary: dict[str, Any]) -> list[Path]:
    """``labels_curve.png`` and ``labels_curve.md`` in the experiment folder ``root``."""
    from .report_figures import fig_curve

    head, rows, _ = table(summary)
    md = [f"# {TITLE}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    simulated = all(c.get("simulated_data") for c in summary.values())
    md += ["", "Data: " + ("**simulated**" if simulated else "as labelled by the user") + "."]
    png = root / "labels_curve.png"
    fig_curve(summary, png, x_key="patients", x_label="labelled patients", percent=False)
    (root / "labels_curve.md").write_text("\n".join(md) + "\n")
    return [png, root / "labels_curve.md"]
