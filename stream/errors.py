"""Errors that name the source and the problem in one line, never a patient field."""

from __future__ import annotations


class SourceError(Exception):
    """A source could not be read.

    ``str(err)`` is one line: ``"<source>: <problem>"``. The source is the name the user gave
    (a path or URL), never a value read from a DICOM header.

    >>> str(SourceError("study.dcm", "not a DICOM file"))
    'study.dcm: not a DICOM file'
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = str(source)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.source}: {self.problem}")
