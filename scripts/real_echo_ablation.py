"""What each simulator realism feature and each sim-to-real augmentation does, on simulated
validation data and on a folder of REAL labelled echo (labels.csv: file, view).

For every variant: simulate a dataset (the full simulator, or one realism feature switched
off: ``simulate --ablate``; the random draws are shared, so datasets pair cine for cine), train
``configs/realecho.yaml`` at its ``dev`` scale (or with one augmentation op switched off, or with
none of them), export, then ``evaluate`` on the real folder and on the simulated validation
split. Results go to ``OUT/results.jsonl`` (one line per variant; finished variants are
skipped when the script is run again) and ``OUT/ablation.md``.

    python scripts/real_echo_ablation.py --real ../shared/real-dev --out runs/ablation \\
        [--patients 96] [--frames 8] [--seed 201] [--only full,-specular,aug-gamma] \\
        [--train-seeds 0,1,2]

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
    out.append(("aug-none", (), {"augment": {"realism": dict.fromkeys(OPS, 0.0)}}))
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


def run_variant(name: str, data: Path, over: dict, args: argparse.Namespace, seed: int) -> dict:
    from echostream.models.export import export_checkpoint
    from echostream.train.config import load_config
    from echostream.train.evaluate_onnx import evaluate_onnx
    from echostream.train.runner import train_main

    cfg = load_config(CONFIG, scale="dev", overrides={**over, "seed": seed})
    run = args.out / "runs" / (name if seed == 0 else f"{name}@s{seed}")
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
        "seed": seed,
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
    """One row per variant: per-seed real top-1 and the means over its seeds."""
    import numpy as np

    by_variant: dict[str, list[dict]] = {}
    for r in results:
        by_variant.setdefault(r["variant"], []).append(r)
    lines = [
        "| variant | real items top-1 (per seed) | mean top-1 | mean top-2 | real frames "
        "| real p(truth) | sim. val frames |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in by_variant.items():
        runs = sorted(runs, key=lambda r: r.get("seed", 0))
        n = runs[0]["real_items"]

        def mean(key: str, runs: list[dict] = runs) -> float:
            return float(np.mean([r[key] for r in runs]))

        seeds = ", ".join(f"{r['real_top1']} (s{r.get('seed', 0)})" for r in runs)
        lines.append(
            f"| {name} | {seeds} | {mean('real_top1'):.1f}/{n} | {mean('real_top2'):.1f}/{n} | "
            f"{100 * mean('real_frame_accuracy'):.1f} % | {mean('real_truth_prob'):.2f} | "
            f"{100 * mean('sim_val_frame_accuracy'):.1f} % (simulated) |"
        )
    head = (
        f"Dev-scale runs: {args.patients} simulated patients × 8 views × {args.frames} frames, "
        f"data seed {args.seed}, training seeds as listed; real: `{args.real}`.\n\n"
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
    ap.add_argument("--train-seeds", default="0", help="comma-separated training seeds")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    done: dict[tuple[str, int], dict] = {}
    if log.is_file():
        for line in log.open():
            r = json.loads(line)
            done[(r["variant"], r.get("seed", 0))] = r
    wanted = {v for v in args.only.split(",") if v}
    seeds = [int(x) for x in args.train_seeds.split(",") if x]
    for name, off, over in variants():
        for seed in seeds:
            if (wanted and name not in wanted) or (name, seed) in done:
                continue
            data = simulate(args.out / "data", off, args)
            result = run_variant(name, data, over, args, seed)
            done[(name, seed)] = result
            with log.open("a") as fh:
                fh.write(json.dumps(result) + "\n")
            print(json.dumps({k: v for k, v in result.items() if k != "per_item"}), flush=True)
    order = [name for name, _, _ in variants()]
    write_table(
        sorted(done.values(), key=lambda r: (order.index(r["variant"]), r.get("seed", 0))),
        args.out / "ablation.md",
        args,
    )


if __name__ == "__main__":
    main()
