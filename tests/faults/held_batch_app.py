"""The app for the worker-kill test: ``add_entry`` pauses the worker after the Nth entry of a
batch (with the batch's transaction still open) and writes the worker's pid to a file, so the
test can SIGKILL it at exactly that point. Settings come from the environment as usual."""

from __future__ import annotations

import os
import time
from pathlib import Path

from coop import create_app
from coop.fund import services

HOLD_AFTER = int(os.environ["COOP_TEST_HOLD_AFTER"])
MARKER = Path(os.environ["COOP_TEST_MARKER"])
_real_add_entry = services.add_entry
_written = {"n": 0}


def _held_add_entry(*args, **kwargs):
    entry = _real_add_entry(*args, **kwargs)
    _written["n"] += 1
    if _written["n"] == HOLD_AFTER and not MARKER.exists():
        MARKER.write_text(str(os.getpid()))
        time.sleep(300)  # held here until the test kills this worker
    return entry


services.add_entry = _held_add_entry
app = create_app()
