"""echostream.stream — the runtime: sources → preprocess → backend → temporal → sinks.

Importing this package is cheap: no torch, tensorrt or gradio is imported until used.
"""

from .errors import SourceError
from .frame import AcquisitionKind, Frame, Region, SourceInfo

__all__ = ["AcquisitionKind", "Frame", "Region", "SourceError", "SourceInfo"]
