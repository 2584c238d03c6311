"""The demo's bundled examples: the real pydicom echo cine, and simulated cines made on first use.

The real example is pydicom's SonoSite echo cine (``pydicom.examples.ybr_color``: 30 frames,
240×320, JPEG baseline YBR_FULL_422). Where ``pydicom-data`` is installed, its full 120-frame
cine is offered too. Simulated cines (one per view and vendor style) come from
:mod:`echostream.train.simulator`, imported only when one is asked for, and are cached as DICOM
under ``~/.cache/echostream/examples`` (or ``$ECHOSTREAM_CACHE/examples``).

Example::

    names = example_names()          # ["Real echo: pydicom ybr_color (SonoSite, 30 frames)", ...]
    path = example_path(names[0])    # a DICOM file on disk
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REAL_EXAMPLE = "Real echo: pydicom ybr_color (SonoSite, 30 frames)"
REAL_EXAMPLE_FULL = "Real echo: pydicom-data color3d (120 frames)"
SIM_PREFIX = "Simulated"
SIM_FRAMES = 32
SIM_SCALE = 0.5  # of the vendor's screen size: quick to render and to decode
SIM_SEED = 7


@dataclass(frozen=True)
class Example:
    """One entry of the example picker: its name, whether it is real echo, and how to get it."""

    name: str
    real: bool
    fetch: Callable[[], Path]


def cache_dir() -> Path:
    """Where simulated examples are cached (``$ECHOSTREAM_CACHE/examples`` if set)."""
    root = os.environ.get("ECHOSTREAM_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "echostream"
    return base / "examples"


def _ybr_color() -> Path:
    from pydicom import examples

    return Path(examples.get_path("ybr_color"))


def _color3d() -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("color3d_jpeg_baseline.dcm")
    if path is None:
        raise FileNotFoundError("pydicom-data's color3d_jpeg_baseline.dcm is not installed")
    return Path(path)


def _has_pydicom_data() -> bool:
    """True when the ``pydicom-data`` package (import name ``data_store``) is installed, so
    pydicom finds its files locally instead of downloading them."""
    import importlib.util

    return importlib.util.find_spec("data_store") is not None


def simulator_catalogue() -> tuple[tuple[str, ...], dict[str, str]]:
    """(views, {vendor key: screen style name}) the simulator offers; empty without it."""
    try:
        from echostream.train.simulator.vendors import VENDORS
    except ImportError as err:
        log.info("simulated examples unavailable: %s", err)
        return (), {}
    from echostream.stream.views import VIEWS

    styles = {k: f"{v.manufacturer} {v.model_name}".replace("  ", " ") for k, v in VENDORS.items()}
    return VIEWS, styles


def sim_name(view: str, style: str) -> str:
    """The picker name of a simulated cine, e.g. ``"Simulated A4C · Philips Medical Systems iE33
    style"``."""
    return f"{SIM_PREFIX} {view} · {style} style"


def simulated_example(view: str, vendor: str, *, root: Path | None = None) -> Path:
    """The cached simulated DICOM cine of ``view`` in ``vendor``'s screen style, made if absent.

    Rendered by the simulator's own dataset writer (one patient, one view, half the vendor's
    screen size, JPEG baseline), then moved into the cache atomically.
    """
    import shutil
    import tempfile

    from echostream.train.simulator.dataset import DatasetConfig, plan, run_job

    folder = root or cache_dir()
    path = folder / f"sim_{view}_{vendor}_{SIM_FRAMES}f.dcm"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        cfg = DatasetConfig(
            out=Path(tmp), patients=1, vendors=(vendor,), views=(view,), seed=SIM_SEED,
            n_frames=SIM_FRAMES, scale=SIM_SCALE, workers=1,
        )  # fmt: skip
        job = plan(cfg)[0]
        run_job(job)
        shutil.move(str(Path(tmp) / job.rel_path), path)  # same folder: an atomic rename
    return path


def examples(*, root: Path | None = None) -> dict[str, Example]:
    """Every example by picker name: real cines first, then each simulated view × vendor."""
    out = {REAL_EXAMPLE: Example(REAL_EXAMPLE, True, _ybr_color)}
    if _has_pydicom_data():
        out[REAL_EXAMPLE_FULL] = Example(REAL_EXAMPLE_FULL, True, _color3d)
    views, styles = simulator_catalogue()
    for vendor, style in styles.items():
        for view in views:
            name = sim_name(view, style)
            fetch = functools.partial(simulated_example, view, vendor, root=root)
            out[name] = Example(name, False, fetch)
    return out


def example_names() -> list[str]:
    """Picker names, real cines first."""
    return list(examples())


def example_path(name: str, *, root: Path | None = None) -> Path:
    """The file behind example ``name`` (simulated ones are generated on first use)."""
    table = examples(root=root)
    if name not in table:
        raise KeyError(f"unknown example {name!r}")
    return table[name].fetch()
