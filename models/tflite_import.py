"""Import Google's uint8-quantized ImageNet MobileNet TFLite files into our torch MobileNets.

The flatbuffer is parsed with the ``tflite`` package (a dev dependency, imported lazily). For each
weighted op in graph order (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) the weights are
dequantized, ``(q - zero_point) * scale`` per tensor or per axis, and moved from TFLite's layouts
to torch's:

- CONV_2D (O, kH, kW, I) → (O, I, kH, kW); DEPTHWISE_CONV_2D (1, kH, kW, C) → (C, 1, kH, kW);
- the 1×1 logits conv or FULLY_CONNECTED (O, [1, 1,] I) → ``nn.Linear`` (O, I).

They are matched, in order, to the model's Conv2d/Linear modules (``named_modules`` order, which
is graph order for our MobileNets); kernel, stride, groups and padding are checked on the way.

**Folded batch norm.** TFLite folds each BN into its conv's weights and bias. We keep the BN
layers of the torch model (so fine-tuning is unchanged) and *unfold* into them: gamma = 1,
beta = folded bias, running_mean = 0, running_var = 1 - eps, so BN(x) = x + bias exactly.

**Padding.** TF's "SAME" pads stride-2 convs asymmetrically (bottom/right for even inputs), so
the stride-2 convs of the torch model must be :class:`~echostream.models.mobilenet.Conv2dSame`;
a symmetric ``padding=1`` conv is rejected.

**1001 classes.** The classifier files output 1001 classes with "background" at index 0 (as
``imagenet_labels.txt``). The import keeps all 1001 rows; :func:`~.pretrained.load_into` keeps
them for a 1001-class model, drops row 0 for a 1000-class one, and re-initialises the head for
any other count. The 1.0 file is an embedding extractor: it has no logits layer, so a
``mobilenet_v1_100`` gets an ImageNet backbone and a randomly initialised head.

>>> from echostream.models.registry import create_model
>>> m = create_model("mobilenet_v1_025", num_classes=1000, pretrained="imagenet")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .pretrained import PretrainedError, tflite_dir

# tflite.TensorType → numpy dtype
_DTYPES = {
    0: np.float32,
    1: np.float16,
    2: np.int32,
    3: np.uint8,
    4: np.int64,
    7: np.int16,
    9: np.int8,
}

# Which TFLite file holds the ImageNet weights of each model.
TFLITE_FILES = {
    ("mobilenet_v1", 0.25): "mobilenet_v1_0.25_128_quant.tflite",
    ("mobilenet_v1", 0.5): "mobilenet_v1_0.5_160_quant.tflite",
    ("mobilenet_v1", 0.75): "mobilenet_v1_0.75_192_quant.tflite",
    ("mobilenet_v1", 1.0): "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
    ("mobilenet_v2", 1.0): "mobilenet_v2_1.0_224_quant.tflite",
}


@dataclass(frozen=True)
class TFLiteLayer:
    """One weighted op, dequantized, weights already in torch layout."""

    name: str  # the op's output tensor
    op: str  # "conv", "depthwise" or "fc"
    weight: np.ndarray  # float32, torch layout
    bias: np.ndarray | None  # float32
    stride: tuple[int, int]
    padding: str  # "SAME" or "VALID"


@dataclass(frozen=True)
class TFLiteGraph:
    layers: list[TFLiteLayer]
    input_hwc: tuple[int, int, int]
    mean: tuple[float, ...]  # per channel, 0–1 scale: what the file's input quantization implies
    std: tuple[float, ...]
    num_outputs: int


def _tflite() -> Any:
    try:
        import tflite
    except ImportError as exc:
        raise PretrainedError(
            "the TFLite importer needs the 'tflite' package: pip install 'tflite>=2.18'"
        ) from exc
    return tflite


def _tensor_array(tfl: Any, model: Any, tensor: Any) -> np.ndarray:
    """A constant tensor, dequantized to float32 when it is quantized."""
    buf = model.Buffers(tensor.Buffer()).DataAsNumpy()
    dtype = _DTYPES.get(tensor.Type())
    if isinstance(buf, int) or dtype is None:
        raise PretrainedError(f"tensor {tensor.Name().decode()}: no constant data of a known type")
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
    q = np.frombuffer(buf.tobytes(), dtype=dtype).reshape(shape)
    return dequantize(q, tensor.Quantization())


def dequantize(q: np.ndarray, quant: Any) -> np.ndarray:
    """``(q - zero_point) * scale``; per-axis along ``QuantizedDimension`` when several scales."""
    if quant is None or quant.ScaleLength() == 0:
        return q.astype(np.float32)
    scale = quant.ScaleAsNumpy().astype(np.float64)
    zero = quant.ZeroPointAsNumpy() if quant.ZeroPointLength() else np.zeros_like(scale)
    zero = np.asarray(zero, dtype=np.float64)
    if scale.size > 1:  # per-axis
        shape = [1] * q.ndim
        shape[quant.QuantizedDimension()] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q.astype(np.float64) - zero) * scale).astype(np.float32)


def read_tflite(path: str | Path) -> TFLiteGraph:
    """Parse a TFLite file into its weighted layers (graph order) and input normalisation."""
    tfl = _tflite()
    path = Path(path)
    try:
        model = tfl.Model.GetRootAsModel(path.read_bytes(), 0)
        graph = model.Subgraphs(0)
    except OSError as exc:
        raise PretrainedError(f"{path}: cannot read ({exc.strerror})") from exc
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise PretrainedError(
            f"{path}: not a TFLite flatbuffer ({exc.__class__.__name__})"
        ) from exc
    ops = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    kinds = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "fc"}
    opts = {
        "conv": tfl.Conv2DOptions,
        "depthwise": tfl.DepthwiseConv2DOptions,
        "fc": tfl.FullyConnectedOptions,
    }
    layers: list[TFLiteLayer] = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = kinds.get(ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), ""))
        if kind is None:
            continue
        w = _tensor_array(tfl, model, graph.Tensors(op.Inputs(1)))
        b_idx = op.Inputs(2) if op.InputsLength() > 2 else -1
        b = _tensor_array(tfl, model, graph.Tensors(b_idx)) if b_idx >= 0 else None
        stride, padding = (1, 1), "VALID"
        if kind != "fc":
            o = opts[kind]()
            table = op.BuiltinOptions()
            o.Init(table.Bytes, table.Pos)
            stride = (o.StrideH(), o.StrideW())
            padding = "SAME" if o.Padding() == tfl.Padding.SAME else "VALID"
        if kind == "conv":
            w = w.transpose(0, 3, 1, 2)  # (O, kH, kW, I) → (O, I, kH, kW)
        elif kind == "depthwise":
            w = w.transpose(3, 0, 1, 2)  # (1, kH, kW, C) → (C, 1, kH, kW)
        name = graph.Tensors(op.Outputs(0)).Name().decode()
        layers.append(TFLiteLayer(name, kind, np.ascontiguousarray(w), b, stride, padding))
    inp = graph.Tensors(graph.Inputs(0))
    hwc = tuple(int(s) for s in inp.ShapeAsNumpy()[1:])
    q = inp.Quantization()
    if q is not None and q.ScaleLength():  # float = (255·p - zp)·scale = (p - mean)/std
        scale, zp = float(q.ScaleAsNumpy()[0]), float(q.ZeroPointAsNumpy()[0])
        mean, std = (zp / 255.0,) * hwc[2], (1.0 / (255.0 * scale),) * hwc[2]
    else:  # float input: assume the [-1, 1] scaling of TF-slim MobileNets
        mean, std = (0.5,) * hwc[2], (0.5,) * hwc[2]
    out_shape = graph.Tensors(graph.Outputs(0)).ShapeAsNumpy()
    return TFLiteGraph(layers, hwc, mean, std, int(out_shape[-1]))  # type: ignore[arg-type]


def _weighted_modules(
    model: nn.Module,
) -> list[tuple[str, nn.Module, str | None, nn.Module | None]]:
    """(name, conv-or-linear, bn name, bn) in ``named_modules`` order; bn is the BN right after."""
    out: list[tuple[str, nn.Module, str | None, nn.Module | None]] = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d | nn.Linear):
            out.append((name, mod, None, None))
        elif isinstance(mod, nn.BatchNorm2d | nn.BatchNorm1d) and out and out[-1][2] is None:
            out[-1] = (*out[-1][:2], name, mod)
    return out


def _check(layer: TFLiteLayer, name: str, mod: nn.Module, first: bool, last: bool) -> np.ndarray:
    """Validate the pairing; return the weight reshaped for ``mod``."""
    w = layer.weight
    where = f"TFLite op {layer.name!r} → {name!r}"
    if isinstance(mod, nn.Linear):
        w = w.reshape(w.shape[0], -1)
        if w.shape[1] != mod.in_features or (not last and w.shape[0] != mod.out_features):
            raise PretrainedError(f"{where}: shape {w.shape} vs Linear {tuple(mod.weight.shape)}")
        return w
    assert isinstance(mod, nn.Conv2d)
    want = tuple(mod.weight.shape)
    ok = w.shape[0] == want[0] and w.shape[2:] == want[2:] and (first or w.shape[1] == want[1])
    if not ok or (layer.op == "depthwise") != (mod.groups > 1 and mod.groups == mod.in_channels):
        raise PretrainedError(f"{where}: {layer.op} {w.shape} vs Conv2d {want} groups={mod.groups}")
    if tuple(mod.stride) != layer.stride:
        raise PretrainedError(f"{where}: stride {layer.stride} vs {tuple(mod.stride)}")
    k = mod.kernel_size
    same = getattr(mod, "same_padding", False) or (
        tuple(mod.stride) == (1, 1) and tuple(mod.padding) == (k[0] // 2, k[1] // 2)
    )
    valid = not getattr(mod, "same_padding", False) and tuple(mod.padding) == (0, 0)
    if (layer.padding == "SAME" and not same) or (layer.padding == "VALID" and not valid):
        raise PretrainedError(f"{where}: TF {layer.padding} padding not matched by {mod}")
    return w


def tflite_state_dict(
    model: nn.Module, path: str | Path
) -> tuple[dict[str, torch.Tensor], TFLiteGraph]:
    """Map the weighted layers of TFLite ``path`` onto ``model``; returns (state dict, graph).

    The first conv keeps its 3 input channels and the head its 1001 classes;
    :func:`~.pretrained.load_into` fits both to the model.
    """
    graph = read_tflite(path)
    mods = _weighted_modules(model)
    has_head = len(graph.layers) == len(mods)
    if len(graph.layers) != len(mods) - (0 if has_head else 1):
        raise PretrainedError(
            f"{Path(path).name}: {len(graph.layers)} weighted ops, model has {len(mods)} "
            "conv/linear layers"
        )
    state: dict[str, torch.Tensor] = {}
    for i, (layer, (name, mod, bn_name, bn)) in enumerate(zip(graph.layers, mods, strict=False)):
        w = _check(layer, name, mod, first=i == 0, last=i == len(mods) - 1)
        state[f"{name}.weight"] = torch.from_numpy(w.copy())
        bias = torch.from_numpy(layer.bias.copy()) if layer.bias is not None else None
        if bn is not None:  # unfold the folded BN: gamma 1, beta bias, mean 0, var 1 - eps
            assert isinstance(bn, nn.BatchNorm2d | nn.BatchNorm1d)
            n = bn.num_features
            state[f"{bn_name}.weight"] = torch.ones(n)
            state[f"{bn_name}.bias"] = bias if bias is not None else torch.zeros(n)
            state[f"{bn_name}.running_mean"] = torch.zeros(n)
            state[f"{bn_name}.running_var"] = torch.full((n,), 1.0 - bn.eps)
        elif getattr(mod, "bias", None) is not None:
            n_out = int(mod.weight.shape[0])  # type: ignore[index]
            state[f"{name}.bias"] = bias if bias is not None else torch.zeros(n_out)
        elif bias is not None and bool(bias.abs().max() > 0):
            raise PretrainedError(
                f"{name}: TFLite op has a bias, the model layer has neither bias nor BN"
            )
    return state, graph


def imagenet_labels(folder: str | Path) -> list[str]:
    """The class names next to the TFLite files (1001 lines, "background" first)."""
    path = Path(folder) / "imagenet_labels.txt"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def tflite_imagenet(
    model: nn.Module, family: str, width: float
) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """ImageNet weights for ``model`` (``family`` at ``width``) from the shared TFLite folder."""
    fname = TFLITE_FILES.get((family, float(width)))
    if fname is None:
        widths = sorted(w for f, w in TFLITE_FILES if f == family)
        raise PretrainedError(f"{family} width {width}: no TFLite ImageNet file (widths: {widths})")
    folder = tflite_dir()
    path = folder / fname
    if not path.is_file():
        raise PretrainedError(f"{path}: TFLite file not found")
    state, graph = tflite_state_dict(model, path)
    info: dict[str, object] = {
        "source": f"tflite:{fname}",
        "labels": imagenet_labels(folder),
        "mean": graph.mean,
        "std": graph.std,
    }
    return state, info


# --- reference side (tests and checks): the TFLite interpreter and the same input ---------------


def load_image(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """An RGB image resized (bilinear) to ``size`` = (H, W): uint8 (H, W, 3), the TFLite input."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR))


def to_tensor(image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (H, W, C) → normalised float (1, C, H, W), as the model's cfg says."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255.0)
    m = torch.tensor(mean).view(-1, 1, 1)
    s = torch.tensor(std).view(-1, 1, 1)
    return ((x - m) / s).unsqueeze(0)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter
    except ImportError as exc:
        raise PretrainedError(
            "no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime / tensorflow)"
        ) from exc


def interpreter_available() -> bool:
    try:
        _interpreter_class()
    except PretrainedError:
        return False
    return True


def run_tflite(path: str | Path, image: np.ndarray) -> np.ndarray:
    """Run the TFLite file on one uint8 (H, W, C) image; returns its dequantized output (N,)."""
    interpreter = _interpreter_class()(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    q = interpreter.get_tensor(out["index"]).reshape(-1)
    scale, zero = out["quantization"]
    return (q.astype(np.float32) - zero) * scale if scale else q.astype(np.float32)
