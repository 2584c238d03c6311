"""What each simulator realism feature and each sim-to-real augmentation does, on simulated
validation data and on a folder of REAL labelled echo (labels.csv: file, view).

For every variant: simulate a dataset (the full simulator, or one realism feature switched
off: ``simulate --ablate``; the random draws are shared, so datasets pair cine for cine), train
``configs/realecho.yaml`` at its ``dev`` scale (or with one augmentation op switched off, or with
none of them), export, then ``evaluate`` on the real folder and on the simulated validation
split. Results go to ``OUT/results.jsonl`` (one line per variant; finished variants are
skipped when the script is run again) and ``OUT/ablation.md``.

    python scripts/real_echo_ablation.py --real ../shared/real-dev --out runs/ablation \\
        [--patients 96] [--frames 8] [--seed 201] [--only full,-specular,aug-gamma]

Hours on a 2-core CPU (about 8 minutes a variant, 3 more for each simulated dataset).
Real-folder numbers on a few dozen items are noisy: one item is several points, and two runs
of the same variant can differ by a few items.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from echostream.train.augment_real import OPS
from echostream.train.simulator.cine import REALISM_FEATURES

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "realecho.yaml"


def variants() -> list[tuple[str, tuple[str, ...], dict]]:
    """(name, simulator features off, config overrides) for every variant, in table order."""
    out: list[tuple[str, tuple[str, ...], dict]] = [("full", (), {})]
    out += [(f"-{f}", (f,), {}) for f in REALISM_FEATURES]
    out += [("-all-realism", REALISM_FEATURES, {})]
    base = _base_realism()
    for op in OPS:
        out.append((f"aug-{op}", (), {"augment": {"realism": {**base, op: 0.0}}}))
    out.append(("aug-none", (), {"augment": {"realism": {}}}))
    return out


def _base_realism() -> dict[str, float]:
    import yaml

    return dict(yaml.safe_load(CONFIG.read_text())["augment"]["realism"])


def simulate(root: Path, off: tuple[str, ...], args: argparse.Namespace) -> Path:
    from echostream.train.simulator.dataset import DatasetConfig, write_dataset

    name = "sim-full" if not off else "sim-no-" + "-".join(sorted(off))
    out = root / name
    if (out / "manifest.csv").is_file():
        return out
    cfg = DatasetConfig(
        out=out,
        patients=args.patients,
        seed=args.seed,
        n_frames=args.frames,
        scale=0.5,
        workers=2,
        ablate=tuple(off),
    )
    write_dataset(cfg)
    return out


def run_variant(name: str, data: Path, over: dict, args: argparse.Namespace) -> dict:
    from echostream.models.export import export_checkpoint
    from echostream.train.config import load_config
    from echostream.train.evaluate_onnx import evaluate_onnx
    from echostream.train.runner import train_main

    cfg = load_config(CONFIG, scale="dev", overrides=over)
    run = args.out / "runs" / name
    t0 = time.time()
    if not (run / "final.pt").is_file():
        train_main(cfg, data, out=run, progress=False, evaluate_test=False)
    export_checkpoint(run / "final.pt", run / "model.onnx")
    real = evaluate_onnx(run / "model.onnx", args.real, split="all", out=run / "eval_real",
                         progress=False)  # fmt: skip
    sim = evaluate_onnx(run / "model.onnx", data, split="val", out=run / "eval_val", progress=False)
    items = list(csv.DictReader((run / "eval_real" / "items.csv").open()))
    return {
        "variant": name,
        "data": data.name,
        "minutes": round((time.time() - t0) / 60, 1),
        "real_items": len(items),
        "real_top1": sum(i["top1_right"] == "True" for i in items),
        "real_top2": sum(i["top2_right"] == "True" for i in items),
        "real_frame_accuracy": round(real["frame_accuracy"], 4),
        "real_truth_prob": round(sum(float(i["truth_mean_prob"]) for i in items) / len(items), 4),
        "sim_val_frame_accuracy": round(sim["frame_accuracy"], 4),
        "per_item": {i["item"]: i["top1"] for i in items},
    }


def write_table(results: list[dict], path: Path, args: argparse.Namespace) -> None:
    full = next((r for r in results if r["variant"] == "full"), None)
    lines = [
        "| variant | real items top-1 | top-2 | real frames | real p(truth) | sim. val frames |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        n = r["real_items"]
        delta = ""
        if full is not None and r is not full:
            d = r["real_top1"] - full["real_top1"]
            delta = f" ({d:+d})"
        lines.append(
            f"| {r['variant']} | {r['real_top1']}/{n}{delta} | {r['real_top2']}/{n} | "
            f"{100 * r['real_frame_accuracy']:.1f} % | {r['real_truth_prob']:.2f} | "
            f"{100 * r['sim_val_frame_accuracy']:.1f} % (simulated) |"
        )
    head = (
        f"Dev-scale runs: {args.patients} simulated patients × 8 views × {args.frames} frames, "
        f"seed {args.seed}; real: `{args.real}`.\n\n"
    )
    path.write_text(head + "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", type=Path, required=True, help="folder with labels.csv")
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--patients", type=int, default=96)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=201)
    ap.add_argument("--only", default="", help="comma-separated variant names")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    done = {}
    if log.is_file():
        done = {json.loads(line)["variant"]: json.loads(line) for line in log.open()}
    wanted = {v for v in args.only.split(",") if v}
    for name, off, over in variants():
        if (wanted and name not in wanted) or name in done:
            continue
        data = simulate(args.out / "data", off, args)
        result = run_variant(name, data, over, args)
        done[name] = result
        with log.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "per_item"}), flush=True)
    order = [name for name, _, _ in variants()]
    write_table(
        sorted(done.values(), key=lambda r: order.index(r["variant"])),
        args.out / "ablation.md",
        args,
    )


if __name__ == "__main__":
    main()
