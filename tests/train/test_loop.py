from __future__ import annotations

import torch
from torch import nn

from echostream.models.checkpoint import (
    load_checkpoint,
    make_provenance,
    read_checkpoint,
    save_checkpoint,
)
from echostream.models.registry import create_model
from echostream.train.augment import EvalPreset
from echostream.train.config import StageCfg
from echostream.train.data import FrameDataset, class_weights, make_loader, select_rows
from echostream.train.history import read_history
from echostream.train.loop import fit
from echostream.train.splits import split_patients

SMALL = {"widths": (8, 16, 16), "fc_widths": (64, 32)}  # a narrow baseline: fast tests


def _setup(store, cfg, n_train=64):
    idx = store.index
    a = split_patients(idx["patient_id"], cfg.data.fractions, seed=0)
    tr = select_rows(idx, a, "train", max_images=n_train, seed=0)
    va = select_rows(idx, a, "val", frames_per_cine=2)
    tf = EvalPreset(mean=(0.15,), std=(0.15,))
    train = FrameDataset(store.frames, idx, tr, tf)
    val = FrameDataset(store.frames, idx, va, tf)
    torch.manual_seed(0)
    model = create_model("baseline", **SMALL)
    crit = nn.CrossEntropyLoss(weight=class_weights(train.labels))
    prov = make_provenance(config=cfg.to_dict(), data="toy", simulated_data=False)

    def save(path, m, *, epoch, optimizer_state=None, extra=None):
        save_checkpoint(
            path,
            m,
            model_name="baseline",
            model_kwargs=SMALL,
            cfg=m.cfg,
            provenance=prov,
            config=cfg.to_dict(),
            epoch=epoch,
            optimizer_state=optimizer_state,
            extra=extra,
        )

    loaders = (
        make_loader(train, batch_size=cfg.train.batch_size, train=True),
        make_loader(val, batch_size=64, train=False),
    )
    return model, loaders, crit, save


def test_loss_decreases_and_files_written(toy_store, tmp_path, tiny_config):
    cfg = tiny_config(epochs=3)
    model, (tl, vl), crit, save = _setup(toy_store, cfg)
    res = fit(model, tl, vl, cfg, tmp_path, criterion=crit, save=save, progress=False)
    h = read_history(tmp_path / "history.csv")
    assert len(h) == res.epochs_run == 3
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert (tmp_path / "curves.png").stat().st_size > 1000
    best = read_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == res.best_epoch and best["config"]["name"] == "toy"
    # restore_best (default): the model leaves fit with the best epoch's weights
    for k, v in model.state_dict().items():
        assert torch.equal(v, best["model"][k]), k


def test_early_stopping(toy_store, tmp_path, tiny_config):
    cfg = tiny_config(epochs=10, patience=2)
    cfg.optim.lr = 0.0  # nothing improves after the first epoch
    model, (tl, vl), crit, save = _setup(toy_store, cfg, n_train=32)
    res = fit(model, tl, vl, cfg, tmp_path, criterion=crit, save=save, progress=False)
    assert res.epochs_run == 3 and res.best_epoch == 1


def test_resume_continues_the_run(toy_store, tmp_path, tiny_config):
    cfg = tiny_config(epochs=2)
    model, (tl, vl), crit, save = _setup(toy_store, cfg, n_train=32)
    fit(model, tl, vl, cfg, tmp_path, criterion=crit, save=save, progress=False)
    first = read_history(tmp_path / "history.csv")
    cfg.train.stages = [
        StageCfg(name="all", epochs=2),
        StageCfg(name="head", trainable=["head"], epochs=1),
    ]
    model2, (tl, vl), crit, save = _setup(toy_store, cfg, n_train=32)
    res = fit(model2, tl, vl, cfg, tmp_path, criterion=crit, save=save, progress=False, resume=True)
    h = read_history(tmp_path / "history.csv")
    assert [r["epoch"] for r in h] == [1, 2, 3] and h[:2] == first
    assert [r["stage"] for r in h] == ["all", "all", "head"] and res.stage_ends == [2, 3]
    # only the head trained in the last stage
    assert [n for n, p in model2.named_parameters() if p.requires_grad] == [
        "head.weight",
        "head.bias",
    ]
    m, ck = load_checkpoint(tmp_path / "last.pt")
    assert ck["epoch"] == 3 and ck["extra"]["fit_state"]["stage"] == 2
