"""A model card (markdown) for an exported model, written only from files.

Everything on the card is read from the ONNX file's metadata, its sibling precision files,
the training and test manifests (and the simulator's ``simulation.json`` beside them), and the
``metrics.json`` that ``echostream evaluate`` wrote; nothing is typed in by hand.

>>> write_model_card("model.onnx", "eval/metrics.json",                    # doctest: +SKIP
...                  train_manifest="data/sim-train", test_manifest="data/sim-test",
...                  train_command="echostream train ...", eval_command="echostream evaluate ...")
PosixPath('model.md')
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echostream.stream.model_file import (
    PRECISION_SUFFIX,
    ModelInfo,
    file_sha256,
    precision_sibling,
)

#: Sibling files of one export, as ``echostream export`` names them.
PRECISION_SUFFIXES = tuple(PRECISION_SUFFIX.values())
WARNING_SIMULATED = (
    "**This model has never seen a real patient.** It was trained only on simulated echo "
    "images. It is not a medical device, is not validated for any clinical use, and its "
    "accuracy on real scans is known only from the small real sets named below, if any."
)
WARNING_NOT_SIMULATED = (
    "**This model is not a medical device** and is not validated for any clinical use. Its "
    "training data is not marked as simulated; see the data section for what it is."
)


def model_base(model_file: str | Path) -> Path:
    """``dir/model.int8.onnx`` → ``dir/model`` (the name every precision file shares)."""
    return precision_sibling(model_file, "fp32").with_suffix("")


def precision_files(model_file: str | Path) -> list[dict[str, Any]]:
    """The export's files that exist: name, precision (from metadata), bytes, sha256."""
    base = model_base(model_file)
    out = []
    for suffix in PRECISION_SUFFIXES:
        f = base.with_name(base.name + suffix)
        if f.is_file():
            info = ModelInfo.from_onnx(f)
            out.append(
                {
                    "file": f.name,
                    "precision": info.precision,
                    "bytes": f.stat().st_size,
                    "sha256": file_sha256(f),
                    "weights_sha256": info.weights_sha256,
                }
            )
    return out


def dataset_summary(data: str | Path) -> dict[str, Any]:
    """Patients, cines and frames per vendor and view of a manifest, and the simulator's
    settings (``simulation.json``) when the dataset came from it."""
    from echostream.train.manifest import read_manifest

    m = read_manifest(data, check_files=False)
    per: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"patients": set(), "cines": 0, "frames": 0, "unknown_frames": 0}
    )
    for e in m.entries:
        for key in ((e.vendor, e.view), (e.vendor, "*"), ("*", e.view), ("*", "*")):
            cell = per[key]
            cell["patients"].add(e.patient_id)
            cell["cines"] += 1
            if e.n_frames is None:
                cell["unknown_frames"] += 1
            else:
                cell["frames"] += e.n_frames
    cells = {
        k: {**v, "patients": len(v["patients"])} for k, v in per.items()
    }  # no identifiers kept
    sim_path = m.root / "simulation.json"
    simulation = json.loads(sim_path.read_text()) if sim_path.is_file() else None
    return {
        "manifest": str(m.root / "manifest.csv"),
        "simulated": m.simulated,
        "simulation": simulation,
        "vendors": m.vendors,
        "views": sorted({e.view for e in m.entries}, key=_view_order),
        "cells": cells,
        "skipped_rows": len(m.problems),
    }


def _view_order(view: str) -> int:
    from echostream.stream.views import VIEWS

    return VIEWS.index(view) if view in VIEWS else len(VIEWS)


def most_confused(cm: Sequence[Sequence[int]], labels: Sequence[str], top: int = 2) -> list[dict]:
    """The ``top`` unordered class pairs with the most frames mistaken either way.

    >>> most_confused([[5, 2, 0], [1, 6, 0], [0, 1, 9]], ["a", "b", "c"], top=1)
    [{'pair': ('a', 'b'), 'frames': 3, 'a_as_b': 2, 'b_as_a': 1}]
    """
    pairs = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            n = int(cm[i][j]) + int(cm[j][i])
            if n:
                pairs.append((n, i, j))
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [
        {
            "pair": (labels[i], labels[j]),
            "frames": n,
            f"{labels[i]}_as_{labels[j]}": int(cm[i][j]),
            f"{labels[j]}_as_{labels[i]}": int(cm[j][i]),
        }
        for n, i, j in pairs[:top]
    ]


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _frames(cell: dict[str, Any]) -> str:
    unknown = cell["unknown_frames"]
    return f"{cell['frames']}" + (f" (+{unknown} cines uncounted)" if unknown else "")


def _data_section(title: str, s: dict[str, Any]) -> list[str]:
    kind = "SIMULATED" if s["simulated"] else "not marked as simulated"
    total = s["cells"].get(
        ("*", "*"), {"patients": 0, "cines": 0, "frames": 0, "unknown_frames": 0}
    )
    lines = [f"### {title}: {kind}", "", f"- manifest: `{s['manifest']}`"]
    sim = s["simulation"]
    if sim is not None:
        lines.append(
            "- generated by the echostream echo simulator (`echostream.train.simulator`); "
            f"seed **{sim.get('seed', 'not recorded')}**"
        )
        settings = {k: sim[k] for k in ("patients", "fmt", "encoding", "label_noise") if k in sim}
        if settings:
            lines.append(
                "- simulator settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())
            )
    lines.append(
        f"- {total['patients']} patients, {total['cines']} cines, {_frames(total)} frames"
        + (f"; {s['skipped_rows']} manifest rows skipped" if s["skipped_rows"] else "")
    )
    lines += ["", "| vendor | patients | cines | frames |", "|---|---|---|---|"]
    for v in s["vendors"]:
        c = s["cells"][(v, "*")]
        lines.append(f"| {v} | {c['patients']} | {c['cines']} | {_frames(c)} |")
    lines += ["", "Cines / frames per view and vendor:", ""]
    lines.append("| view | " + " | ".join(s["vendors"]) + " | all |")
    lines.append("|---" * (len(s["vendors"]) + 2) + "|")
    for view in s["views"]:
        row = []
        for v in [*s["vendors"], "*"]:
            c = s["cells"].get((v, view))
            row.append(f"{c['cines']} / {_frames(c)}" if c else "0 / 0")
        lines.append(f"| {view} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _recorded_data(prov: dict[str, Any]) -> str:
    """The provenance's data description (JSON from the training run, or free text)."""
    data = prov.get("data")
    seed = prov.get("dataset_seed")
    seed_text = f"dataset seed {seed}" if seed is not None else "no dataset seed recorded"
    try:
        d = json.loads(data) if isinstance(data, str) else data
    except json.JSONDecodeError:
        d = data
    if isinstance(d, dict):
        name = Path(str(d.get("manifest", "?"))).parent.name or "?"
        sim = "simulated" if d.get("simulated") else "not marked simulated"
        vendors = ", ".join(map(str, d.get("vendors", []))) or "?"
        return (
            f"dataset `{name}` ({sim}): {d.get('patients', '?')} patients, "
            f"{d.get('cines', '?')} cines, vendors {vendors}; {seed_text}"
        )
    return f"{d if d is not None else 'not recorded'}; {seed_text}"


def _commands(cmd: str | Sequence[str]) -> list[str]:
    items = [cmd] if isinstance(cmd, str) else list(cmd)
    return ["```bash", *items, "```", ""]


def _metrics_section(doc: dict[str, Any]) -> list[str]:
    from echostream.train.evaluate import headline_rows, pct

    m = doc.get("metrics", doc)
    simulated = bool(doc.get("simulated_data", False))
    head = "Simulated test metrics" if simulated else "Test metrics (data not marked simulated)"
    lines = [f"## {head}", ""]
    if simulated:
        lines += [
            "Measured on simulator output, not on real echo: they say nothing about accuracy "
            "on real scans.",
            "",
        ]
    for key in ("model file", "precision", "split", "data"):
        if key in doc:
            lines.append(f"- {key}: {doc[key]}")
    lines += [
        "",
        *headline_rows(m),
        "",
        "| class | recall | precision | frames |",
        "|---|---|---|---|",
    ]
    for name, pc in m["per_class"].items():
        lines.append(f"| {name} | {pct(pc['recall'])} | {pct(pc['precision'])} | {pc['support']} |")
    labels, cm = m["labels"], m["confusion_matrix"]
    lines += ["", "Confusion matrix (frames; rows = true view, columns = predicted):", ""]
    lines.append("| true \\ predicted | " + " | ".join(labels) + " |")
    lines.append("|---" * (len(labels) + 1) + "|")
    for name, row in zip(labels, cm, strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(int(v)) for v in row) + " |")
    lines += ["", "Most confused pairs:", ""]
    pairs = most_confused(cm, labels)
    if not pairs:
        lines.append("- none: no frame was mistaken for another view")
    for p in pairs:
        a, b = p["pair"]
        lines.append(
            f"- {a} ↔ {b}: {p['frames']} frames ({a} taken for {b}: {p[f'{a}_as_{b}']}, "
            f"{b} taken for {a}: {p[f'{b}_as_{a}']})"
        )
    return [*lines, ""]


def _real_section(eval_dir: Path) -> list[str]:
    """A real labelled folder's evaluation (``evaluate MODEL --data REAL``): headline numbers
    and every item's top-1/top-2, with the small-n caveat."""
    import csv

    from echostream.train.evaluate import headline_rows
    from echostream.train.evaluate_items import item_rows_markdown

    doc = json.loads((eval_dir / "metrics.json").read_text())
    if doc.get("simulated_data"):
        raise ValueError(f"{eval_dir}: that evaluation is on simulated data, not real files")
    items = []
    with (eval_dir / "items.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            row["top1_right"] = row["top1_right"] == "True"
            row["top2_right"] = row["top2_right"] == "True"
            row["top1_share"] = float(row["top1_share"])
            items.append(row)
    data = Path(str(doc.get("data", eval_dir))).name
    return [
        f"## Real labelled files: `{data}` ({len(items)} items)",
        "",
        f"A smoke test on {len(items)} real stills and cines, not a validation: with so few "
        "items one item moves the accuracy by several points, and they come from few sources.",
        "",
        *headline_rows(doc["metrics"]),
        "",
        *item_rows_markdown(items),
        "",
    ]


def write_model_card(
    model_file: str | Path,
    metrics_json: str | Path,
    *,
    train_manifest: str | Path,
    test_manifest: str | Path,
    train_command: str | Sequence[str],
    eval_command: str | Sequence[str],
    out: str | Path | None = None,
    real_evals: Sequence[str | Path] = (),
) -> Path:
    """Write the card (default ``<model>.md`` beside the ONNX file); returns its path.
    ``real_evals``: report folders of evaluations on real labelled files (their own section)."""
    model_file = Path(model_file)
    info = ModelInfo.from_onnx(model_file)
    doc = json.loads(Path(metrics_json).read_text())
    files = precision_files(model_file)
    evaluated = doc.get("model file")
    if evaluated is not None and evaluated not in {f["file"] for f in files}:
        raise ValueError(
            f"{metrics_json}: it evaluates {evaluated}, which is not a file of this export "
            f"({', '.join(f['file'] for f in files)})"
        )
    train = dataset_summary(train_manifest)
    test = dataset_summary(test_manifest)
    prov = info.provenance
    simulated = train["simulated"] or info.simulated_data
    lines = [
        f"# Model card: {info.model_name} {info.model_version}".rstrip(),
        "",
        WARNING_SIMULATED if simulated else WARNING_NOT_SIMULATED,
        "",
        "## Model",
        "",
        f"- architecture: `{info.model_name}` (echostream model registry), version "
        f"`{info.model_version}`",
        f"- classes ({info.num_classes}, output order): {', '.join(info.labels)}",
        f"- output: {info.output} (softmax applied by the backends)",
        f"- trained: {prov.get('created', 'not recorded')}, git commit "
        f"`{prov.get('git_commit') or 'not recorded'}`, config sha256 "
        f"`{(prov.get('config_hash') or 'not recorded')[:16]}`",
        f"- started from: {prov.get('init') or 'not recorded'}",
        "",
        "| file | precision | size | sha256 (prefix) |",
        "|---|---|---|---|",
    ]
    for f in files:
        lines.append(
            f"| `{f['file']}` | {f['precision']} | {_size(f['bytes'])} | `{f['sha256'][:16]}` |"
        )
    crop_text = "ultrasound region first" if info.crop == "region" else "whole frame"
    mean = ", ".join(f"{v:.4f}" for v in info.mean)
    std = ", ".join(f"{v:.4f}" for v in info.std)
    lines += [
        "",
        "## Input and preprocessing (from the file's metadata)",
        "",
        f"- input `{info.input_name}`: float32 (batch, {info.channels}, {info.height}, "
        f"{info.width}), {'gray' if info.channels == 1 else 'RGB'}",
        f"- crop: {info.crop} ({crop_text}); resize: {info.resize} to "
        f"{info.height}×{info.width}, {info.interpolation} interpolation",
        f"- pixels scaled to 0–1, then (x − mean) / std with mean [{mean}], std [{std}]",
        "",
        "## Training data",
        "",
        f"- recorded in the model file: {_recorded_data(prov)}",
        "",
        *_data_section("Training dataset", train),
        "## Test data",
        "",
        *_data_section("Test dataset", test),
        *_metrics_section(doc),
        *(line for folder in real_evals for line in _real_section(Path(folder))),
        "## Reproduce",
        "",
        "Train and export:",
        "",
        *_commands(train_command),
        "Evaluate:",
        "",
        *_commands(eval_command),
        "## Limits",
        "",
        WARNING_SIMULATED if simulated else WARNING_NOT_SIMULATED,
        "",
    ]
    base = model_base(model_file)
    path = Path(out) if out else base.with_name(base.name + ".md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
