"""Quietening pydicom while a header is read touches no global logging state, and only the
reading thread: other threads' pydicom records still come through."""

from __future__ import annotations

import logging
import threading

from echostream.stream.sources.dicom import _quiet_pydicom_log


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_quiet_reads_leave_the_logger_level_and_other_threads_alone() -> None:
    logger = logging.getLogger("pydicom")
    level = logger.level
    handler = Collect()
    logger.addHandler(handler)
    a_in, b_logged, a_out = threading.Event(), threading.Event(), threading.Event()
    levels: list[int] = []

    def reader_a() -> None:  # a header read in progress
        with _quiet_pydicom_log():
            a_in.set()
            logger.warning("A: hidden while quiet")
            levels.append(logger.level)
            b_logged.wait(5)
            logger.error("A: errors still pass")
        a_out.set()

    def reader_b() -> None:  # another thread, quiet and not, overlapping A in any order
        a_in.wait(5)
        logger.warning("B: not quiet, shown")
        with _quiet_pydicom_log():
            b_logged.set()
            a_out.wait(5)  # A leaves its block while B is still inside its own
            levels.append(logger.level)
            logger.warning("B: hidden while quiet")
        logger.warning("B: shown again")

    try:
        threads = [threading.Thread(target=reader_a), threading.Thread(target=reader_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        logger.removeHandler(handler)
    assert levels == [level, level] and logger.level == level  # never changed
    assert handler.messages == ["B: not quiet, shown", "A: errors still pass", "B: shown again"]
