"""What each simulator realism feature and each sim-to-real augmentation does, on simulated
validation data and on a folder of REAL labelled echo (labels.csv: file, view).

For every variant: simulate a dataset (the full simulator, or one realism feature switched
off: ``simulate --ablate``; the random draws are shared, so datasets pair cine for cine), train
``configs/realecho.yaml`` at its ``dev`` scale (or with one augmentation op switched off, none
of them, nine classes with OTHER, MobileNet v1 0.25 at 128×160 or 0.5 at 160×200, or 30
epochs), export, then
``evaluate`` on the simulated validation split and on the real folder. Results go to
``OUT/results.jsonl`` (one line per variant and training seed; finished ones are skipped when
the script is run again) and ``OUT/ablation.md``.

    python scripts/real_echo_ablation.py --real ../shared/real-dev --out runs/ablation \\
        [--patients 96] [--frames 8] [--seed 201] [--train-seeds 0,1,2] \\
        [--only full:0-5,-specular,aug-gamma] [--jobs 1] [--deadline-min M] [--base mnv1-025]

``--only`` lists variants in the order they run, each with its own seeds (``name:0-5`` or
``name:0,2``) or ``--train-seeds``. Without ``--real`` nothing real is scored (a GPU machine
without the video decoder); a later run with ``--real`` scores the runs that lack it from
their exported models. ``--jobs N`` trains N runs at once (one GPU is shared), and
``--deadline-min`` starts no new run after that many minutes. ``--base mnv1-025`` builds every
variant on that recipe variant (the smaller network: a one-at-a-time table that fits a 2-core
CPU; use a fresh ``--out`` for it).

Hours on a 2-core CPU (about 21 minutes a run with the recipe's MobileNet v1 0.5, 8 with
``mnv1-025``; 2 more for each simulated dataset); on one H200 with 16 cores, ``--jobs 14
--sim-workers 16 --train-workers 1 --threads 1`` trains 14 runs in about 5 minutes.
Real-folder numbers on a few dozen items are noisy: one item is several points, and two runs
of the same variant can differ by a few items (GPU runs also differ run to run).
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


# Variants that change the recipe rather than switch a feature off.
RECIPES: list[tuple[str, dict]] = [
    ("+other", {"data": {"other": True}}),  # nine classes: OTHER cines trained as a class
    # the recipe's network until 2026-11-30 (the "full" rows of docs/real-echo.md's GPU table)
    ("mnv1-025", {"model": {"name": "mobilenet_v1_025", "kwargs": {"input_hw": [128, 160]}}}),
    ("mnv1-050", {"model": {"name": "mobilenet_v1_050", "kwargs": {"input_hw": [160, 200]}}}),
    ("long", {"train": {"epochs": 30}}),
]


def variants() -> list[tuple[str, tuple[str, ...], dict]]:
    """(name, simulator features off, config overrides) for every variant, in table order."""
    out: list[tuple[str, tuple[str, ...], dict]] = [("full", (), {})]
    out += [(name, (), over) for name, over in RECIPES]
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


def _merge(a: dict, b: dict) -> dict:
    """``a`` updated by ``b``, nested dicts merged key by key."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def plan(only: str, default_seeds: list[int]) -> list[tuple[str, int]]:
    """(variant, training seed) in run order: ``"full:0-2,aug-gamma"`` → full s0–s2, then
    aug-gamma with the default seeds; an empty ``only`` is every variant."""
    known = [name for name, _, _ in variants()]
    out: list[tuple[str, int]] = []
    for item in [x for x in only.split(",") if x] or known:
        name, _, spec = item.partition(":")
        if name not in known:
            raise SystemExit(f"--only: unknown variant {name!r} (known: {', '.join(known)})")
        seeds = default_seeds
        if spec:
            lo, dash, hi = spec.partition("-")
            seeds = list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
        out += [(name, seed) for seed in seeds]
    return out


def simulate(root: Path, off: tuple[str, ...], args: argparse.Namespace, other: bool) -> Path:
    """The variant's simulated dataset (``other``: OTHER cines too), made once."""
    from echostream.stream.unknown import OTHER
    from echostream.stream.views import VIEWS
    from echostream.train.simulator.dataset import DatasetConfig, write_dataset

    name = "sim-full" if not off else "sim-no-" + "-".join(sorted(off))
    out = root / (name + ("+other" if other else ""))
    if (out / "manifest.csv").is_file():
        return out
    cfg = DatasetConfig(
        out=out,
        patients=args.patients,
        seed=args.seed,
        n_frames=args.frames,
        scale=0.5,
        workers=args.sim_workers,
        ablate=tuple(off),
        views=(*VIEWS, OTHER) if other else VIEWS,
    )
    write_dataset(cfg)
    return out


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / "runs" / (name if seed == 0 else f"{name}@s{seed}")


def train_variant(name: str, data: Path, over: dict, run: Path, seed: int) -> dict:
    """Train (unless done), export and evaluate on the simulated validation split."""
    import torch

    from echostream.models.export import export_checkpoint
    from echostream.train.config import load_config
    from echostream.train.evaluate_onnx import evaluate_onnx
    from echostream.train.runner import train_main

    cfg = load_config(CONFIG, scale="dev", overrides=_merge(over, {"seed": seed}))
    t0 = time.time()
    if not (run / "final.pt").is_file():
        train_main(cfg, data, out=run, progress=False, evaluate_test=False)
    export_checkpoint(run / "final.pt", run / "model.onnx")
    sim = evaluate_onnx(run / "model.onnx", data, split="val", out=run / "eval_val", progress=False)
    return {
        "variant": name,
        "seed": seed,
        "data": data.name,
        "minutes": round((time.time() - t0) / 60, 1),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "sim_val_frame_accuracy": round(sim["frame_accuracy"], 4),
    }


def score_real(result: dict, run: Path, real: Path) -> dict:
    """``result`` with the exported model's numbers on the real labelled folder."""
    from echostream.train.evaluate_onnx import evaluate_onnx

    scores = evaluate_onnx(run / "model.onnx", real, split="all", out=run / "eval_real",
                           progress=False)  # fmt: skip
    items = list(csv.DictReader((run / "eval_real" / "items.csv").open()))
    return {
        **result,
        "real_items": len(items),
        "real_top1": sum(i["top1_right"] == "True" for i in items),
        "real_top2": sum(i["top2_right"] == "True" for i in items),
        "real_frame_accuracy": round(scores["frame_accuracy"], 4),
        "real_truth_prob": round(sum(float(i["truth_mean_prob"]) for i in items) / len(items), 4),
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
        scored = [r for r in runs if r.get("real_items")]
        n = scored[0]["real_items"] if scored else 0

        def mean(key: str, runs: list[dict] = scored) -> float:
            return float(np.mean([r[key] for r in runs])) if runs else float("nan")

        seeds = ", ".join(f"{r['real_top1']} (s{r.get('seed', 0)})" for r in scored)
        real = (
            f"{mean('real_top1'):.1f}/{n} | {mean('real_top2'):.1f}/{n} | "
            f"{100 * mean('real_frame_accuracy'):.1f} % | {mean('real_truth_prob'):.2f}"
            if scored
            else "— | — | — | —"
        )
        sim = float(np.mean([r["sim_val_frame_accuracy"] for r in runs]))
        lines.append(
            f"| {name} | {seeds or 'not scored'} | {real} | "
            f"{100 * sim:.1f} % (simulated, {len(runs)} seeds) |"
        )
    head = (
        f"Dev-scale runs: {args.patients} simulated patients × 8 views × {args.frames} frames, "
        f"data seed {args.seed}, training seeds as listed; real: `{args.real}`"
        f"{f'; every variant built on `{args.base}`' if args.base else ''}.\n\n"
    )
    path.write_text(head + "\n".join(lines) + "\n")


def run_overrides(over: dict, base: str = "", workers: int = 0, threads: int = 0) -> dict:
    """A variant's overrides on top of the ``base`` recipe variant, plus the machine's loader
    workers and torch threads (0: the config's)."""
    out = _merge(dict(RECIPES)[base] if base else {}, over)
    machine = {k: v for k, v in {"workers": workers, "threads": threads}.items() if v}
    return _merge(out, {"train": machine}) if machine else out


def train_all(todo: list[tuple[str, int]], args: argparse.Namespace, log: Path) -> list[dict]:
    """Train every (variant, seed) of ``todo``, ``args.jobs`` at a time, until the deadline."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    from echostream.train.config import load_config

    spec = {name: (off, over) for name, off, over in variants()}
    recipe_other = load_config(CONFIG).data.other  # the recipe's outlier exposure needs OTHER
    t_end = time.time() + 60 * args.deadline_min if args.deadline_min else float("inf")
    out, running, pending = [], {}, list(todo)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        while pending or running:
            while pending and len(running) < args.jobs and time.time() < t_end:
                name, seed = pending.pop(0)
                off, over = spec[name]
                other = bool(over.get("data", {}).get("other", recipe_other))
                data = simulate(args.out / "data", off, args, other)
                run = run_dir(args.out, name, seed)
                over = run_overrides(over, args.base, args.train_workers, args.threads)
                job = pool.submit(train_variant, name, data, over, run, seed)
                running[job] = (name, seed)
            if pending and time.time() >= t_end:
                print(f"deadline: {len(pending)} run(s) not started", flush=True)
                pending = []
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for job in finished:
                name, seed = running.pop(job)
                try:
                    result = job.result()
                except Exception as err:  # one failed run must not lose the others
                    print(f"{name} s{seed}: failed ({type(err).__name__}: {err})", flush=True)
                    continue
                out.append(result)
                with log.open("a") as fh:
                    fh.write(json.dumps(result) + "\n")
                print(json.dumps(result), flush=True)
    return out


def _read_log(log: Path) -> dict[tuple[str, int], dict]:
    done: dict[tuple[str, int], dict] = {}
    if log.is_file():
        for line in log.open():
            r = json.loads(line)
            done[(r["variant"], r.get("seed", 0))] = r  # a later line (scored) wins
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", type=Path, default=None, help="folder with labels.csv")
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--patients", type=int, default=96)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=201)
    ap.add_argument("--only", default="", help="variant[:seeds],… in run order")
    ap.add_argument("--train-seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    ap.add_argument("--sim-workers", type=int, default=2, help="simulator processes")
    ap.add_argument("--train-workers", type=int, default=0, help="loader processes a run")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads a run")
    ap.add_argument("--deadline-min", type=float, default=0, help="start no run after this")
    ap.add_argument("--base", default="", choices=["", *dict(RECIPES)],
                    help="recipe variant every run builds on")  # fmt: skip
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    done = _read_log(log)
    seeds = [int(x) for x in args.train_seeds.split(",") if x]
    wanted = plan(args.only, seeds)
    for r in train_all([k for k in wanted if k not in done], args, log):
        done[(r["variant"], r["seed"])] = r
    if args.real is not None:
        for key in wanted:
            if key in done and "real_top1" not in done[key]:
                done[key] = score_real(done[key], run_dir(args.out, *key), args.real)
                with log.open("a") as fh:
                    fh.write(json.dumps(done[key]) + "\n")
                print(json.dumps({k: v for k, v in done[key].items() if k != "per_item"}))
    order = [name for name, _, _ in variants()]
    write_table(
        sorted(done.values(), key=lambda r: (order.index(r["variant"]), r.get("seed", 0))),
        args.out / "ablation.md",
        args,
    )


if __name__ == "__main__":
    main()
