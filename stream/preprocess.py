"""Turn frames into model input, built only from the model file's metadata.

Steps, each from :class:`~echostream.stream.model_file.ModelInfo`:
crop (ultrasound region, or the whole frame) → gray or RGB to the model's channels → resize to
(H, W) with the model's interpolation and resize policy (Pillow) → 0–1 → ``(x - mean) / std``.

>>> pre = Preprocessor.from_model_info(ModelInfo.from_onnx("model.onnx"))  # doctest: +SKIP
>>> x = pre(frame)            # (C, H, W) float32  # doctest: +SKIP
>>> xb = pre.batch(frames)    # (B, C, H, W) float32  # doctest: +SKIP
>>> pre.target_size  # (H, W): lets sources pick a JPEG draft scale  # doctest: +SKIP
(60, 80)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from PIL import Image

from .frame import Frame, Region
from .model_file import ModelInfo

#: Pillow resampling filter for each ``interpolation`` name the metadata may hold.
INTERPOLATIONS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "area": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

#: A hook that finds the ultrasound region of a frame whose source has none (e.g. the fan
#: estimator in ``stream/sources/region.py``). It returns a full-resolution Region or None.
RegionFn = Callable[[Frame], "Region | None"]


class Preprocessor:
    """Callable ``Frame`` (or uint8 pixel array) → ``(C, H, W)`` float32 model input."""

    def __init__(self, info: ModelInfo, *, region_fn: RegionFn | None = None) -> None:
        if info.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"model asks for interpolation {info.interpolation!r}; "
                f"known: {', '.join(INTERPOLATIONS)}"
            )
        self.info = info
        self.region_fn = region_fn
        self.resample = INTERPOLATIONS[info.interpolation]
        c = info.channels
        # Fold /255, mean and std into one multiply-add: (x/255 - m)/s = x*a + b
        std = np.asarray(info.std, dtype=np.float32).reshape(c, 1, 1)
        mean = np.asarray(info.mean, dtype=np.float32).reshape(c, 1, 1)
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._offset = (-mean / std).astype(np.float32)

    @classmethod
    def from_model_info(cls, info: ModelInfo, **kwargs: Any) -> Preprocessor:
        return cls(info, **kwargs)

    # -- what sources may ask ----------------------------------------------------------------
    @property
    def target_size(self) -> tuple[int, int]:
        """(H, W) of the model input."""
        return (self.info.height, self.info.width)

    @property
    def luminance(self) -> bool:
        """True when the model reads one gray channel (sources may decode luminance only)."""
        return self.info.channels == 1

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.info.input_size

    # -- the work ----------------------------------------------------------------------------
    def crop(self, frame: Frame) -> np.ndarray:
        """The pixels the model looks at, per the crop policy."""
        if self.info.crop == "full":
            return frame.pixels
        if frame.info.region is not None:
            return frame.region_pixels()
        if self.region_fn is not None:
            region = self.region_fn(frame)
            if region is not None:
                return region.crop(frame.pixels, frame.scale)
        return frame.pixels

    def __call__(self, frame: Frame | np.ndarray) -> np.ndarray:
        pixels = self.crop(frame) if isinstance(frame, Frame) else frame
        return self.from_pixels(pixels)

    def to_uint8(self, frame: Frame | np.ndarray) -> np.ndarray:
        """The model's view of a frame before normalisation: crop → channels → resize, uint8.

        ``(H, W)`` for 1-channel models, ``(H, W, 3)`` for RGB ones. The training frame store
        keeps exactly this, so training and runtime share one crop/resize.
        """
        pixels = self.crop(frame) if isinstance(frame, Frame) else frame
        return np.asarray(self._resize(self._to_image(pixels)))

    def from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Already-cropped uint8 pixels (H×W, H×W×1, H×W×3 or ×4) → ``(C, H, W)`` float32."""
        arr = self.to_uint8(pixels).astype(np.float32)  # (H, W) or (H, W, 3)
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)
        return np.ascontiguousarray(arr * self._scale + self._offset, dtype=np.float32)

    def batch(self, frames: Iterable[Frame | np.ndarray]) -> np.ndarray:
        """Stack preprocessed frames: ``(B, C, H, W)`` float32."""
        items = [self(f) for f in frames]
        if not items:
            return np.empty((0, *self.info.input_size), dtype=np.float32)
        return np.stack(items)

    # -- helpers -----------------------------------------------------------------------------
    def _to_image(self, pixels: np.ndarray) -> Image.Image:
        if pixels.dtype != np.uint8:
            raise ValueError(f"frame pixels must be uint8, got {pixels.dtype}")
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[:, :, 0]
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            pixels = pixels[:, :, :3]
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
            raise ValueError(f"frame pixels must be H×W or H×W×3, got shape {pixels.shape}")
        if pixels.size == 0:
            raise ValueError("frame (or its ultrasound region) is empty")
        img = Image.fromarray(np.ascontiguousarray(pixels))
        channels = self.info.channels
        if channels == 1 and img.mode != "L":
            img = img.convert("L")  # ITU-R 601 luma, as JPEG's Y channel
        elif channels == 3 and img.mode != "RGB":
            img = img.convert("RGB")
        elif channels not in (1, 3):
            raise ValueError(f"model wants {channels} channels; only 1 or 3 are supported")
        return img

    def _resize(self, img: Image.Image) -> Image.Image:
        h, w = self.target_size
        policy = self.info.resize
        if policy == "stretch" or img.size == (w, h):
            return img.resize((w, h), self.resample) if img.size != (w, h) else img
        src_w, src_h = img.size
        if policy == "center_crop":  # scale to cover, then crop the middle
            s = max(w / src_w, h / src_h)
            nw, nh = max(w, round(src_w * s)), max(h, round(src_h * s))
            img = img.resize((nw, nh), self.resample)
            left, top = (nw - w) // 2, (nh - h) // 2
            return img.crop((left, top, left + w, top + h))
        # letterbox: scale to fit, pad with black
        s = min(w / src_w, h / src_h)
        nw, nh = max(1, round(src_w * s)), max(1, round(src_h * s))
        canvas = Image.new(img.mode, (w, h))
        canvas.paste(img.resize((nw, nh), self.resample), ((w - nw) // 2, (h - nh) // 2))
        return canvas
