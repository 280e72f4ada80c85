"""Fault injection for the crash tests, inert unless set.

The writers (ingest pipeline, store objects) call :func:`checkpoint` at every step boundary of
their protocols, the gaps between two writes. A crash test stops the writer at the Nth one: by
SIGKILL (``crash_mode = "kill"``, set through ``RAGMIX_CRASH_AFTER`` for subprocess tests) or
by raising :class:`SimulatedCrash` (``"raise"``, for fast in-process sweeps).
"""

from __future__ import annotations

import os
from typing import Literal

crash_after = int(os.environ.get("RAGMIX_CRASH_AFTER", "0") or 0)
crash_mode: Literal["kill", "raise"] = "kill"
steps_taken = 0


class SimulatedCrash(BaseException):
    """Raised at a checkpoint by in-process crash tests (a BaseException: nothing catches it)."""


def checkpoint() -> None:
    """One step boundary of a writer's protocol: crash here if a test asked for it."""
    global steps_taken
    steps_taken += 1
    if crash_after and steps_taken >= crash_after:
        if crash_mode == "raise":
            raise SimulatedCrash(f"simulated crash at step {steps_taken}")
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
