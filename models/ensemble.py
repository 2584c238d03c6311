"""One ONNX model file that averages several models' probabilities (an ensemble).

Networks trained with the same recipe but different seeds disagree on real echo far more than
on simulated echo (docs/real-echo.md); averaging their softmax outputs is the cheap way to keep
what they agree on. The members must read the same input: same labels, input size and
preprocessing (mean, std, crop, resize, interpolation). Each member's graph is copied in
under its own name prefix, a Softmax follows its logits (divided by its own temperature when it
was calibrated), and the mean of the members' probabilities is the output
(``echostream.output = "probabilities"``), so every backend runs it as one model.

Example::

    ensemble_onnx(["s0/model.onnx", "s1/model.onnx", "s2/model.onnx"], "ens.onnx",
                  model_version="real-v3")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto, compose, helper

from echostream.stream.model_file import ModelInfo, load_onnx

from .export import save_onnx

# What every member must share: the runtime prepares one input for all of them.
SHARED = ("labels", "input_size", "mean", "std", "interpolation", "resize", "crop")


def _check_members(infos: Sequence[ModelInfo], paths: Sequence[Path]) -> None:
    if len(infos) < 2:
        raise ValueError("an ensemble needs at least two model files")
    first = infos[0]
    for info, path in zip(infos[1:], paths[1:], strict=True):
        for key in SHARED:
            if getattr(info, key) != getattr(first, key):
                raise ValueError(
                    f"{path.name}: {key} {getattr(info, key)!r} differs from "
                    f"{paths[0].name}'s {getattr(first, key)!r} (members must share the input)"
                )
        if info.output != "logits":
            raise ValueError(f"{path.name}: output is {info.output!r}, members must give logits")


def _member_nodes(
    proto: onnx.ModelProto, info: ModelInfo, k: int, input_name: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Member ``k``'s nodes and initializers, renamed under ``m{k}/`` and reading
    ``input_name``, ending in a Softmax; and the name of its probabilities."""
    prefix = f"m{k}/"
    g = compose.add_prefix(proto, prefix).graph
    for node in g.node:
        node.input[:] = [input_name if x == prefix + info.input_name else x for x in node.input]
    nodes, inits = list(g.node), list(g.initializer)
    logits = prefix + info.output_name
    if info.temperature != 1.0:
        t = helper.make_tensor(prefix + "temperature", TensorProto.FLOAT, [], [info.temperature])
        inits.append(t)
        nodes.append(helper.make_node("Div", [logits, t.name], [prefix + "scaled"]))
        logits = prefix + "scaled"
    nodes.append(helper.make_node("Softmax", [logits], [prefix + "probs"], axis=-1))
    return nodes, inits, prefix + "probs"


def ensemble_onnx(
    members: Sequence[str | Path], out: str | Path, *, model_version: str = ""
) -> ModelInfo:
    """Write ``out``: the mean of ``members``' probabilities, as one self-describing model."""
    paths = [Path(p) for p in members]
    protos = [load_onnx(p) for p in paths]
    infos = [ModelInfo.from_model_proto(m, path=p) for m, p in zip(protos, paths, strict=True)]
    _check_members(infos, paths)
    first = infos[0]
    opset = max(o.version for o in protos[0].opset_import if o.domain in ("", "ai.onnx"))
    nodes, inits, probs = [], [], []
    for k, (proto, info) in enumerate(zip(protos, infos, strict=True)):
        member_nodes, member_inits, p = _member_nodes(proto, info, k, first.input_name)
        nodes += member_nodes
        inits += member_inits
        probs.append(p)
    nodes.append(helper.make_node("Sum", probs, ["sum_probs"]))
    inv = helper.make_tensor("inv_members", TensorProto.FLOAT, [], [1.0 / len(probs)])
    nodes.append(helper.make_node("Mul", ["sum_probs", inv.name], ["probabilities"]))
    graph = helper.make_graph(
        nodes,
        "ensemble",
        [protos[0].graph.input[0]],
        [
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, ["batch", len(first.labels)]
            )
        ],
        initializer=inits + [inv],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = protos[0].ir_version
    info = first.with_(
        model_name=f"ensemble({len(paths)}x {first.model_name})",
        output="probabilities",
        model_version=model_version,
        checkpoint=None,
        calibration={},
        unknown={},
        extra={
            "members": [
                {"model_name": i.model_name, "weights_sha256": i.weights_sha256,
                 "model_version": i.model_version, "temperature": i.temperature,
                 "model_kwargs": i.extra.get("model_kwargs") or {}}
                for i in infos
            ],
        },
    )  # fmt: skip
    return save_onnx(model, info, out)


def torch_ensemble(members: Sequence[Any]) -> Any:
    """The same averaging in torch (``members``: ``nn.Module`` giving logits): the naive
    reference loop of ``bench stream`` times an ensemble model file with it."""
    import torch
    from torch import nn

    class Ensemble(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(members)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([m(x).softmax(-1) for m in self.members]).mean(0)

    return Ensemble()
