"""Per-process fixtures shared by the adapter test modules (unittest runs them in one process)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from typing import Optional

from helpers import Learner, Server, write_dataset

_dir: Optional[str] = None
_data: Optional[str] = None
_learner: Optional[Learner] = None
_servers = []


def data() -> str:
    global _dir, _data
    if _data is None:
        _dir = tempfile.mkdtemp(prefix="zpd-adapters-")
        _data = write_dataset(_dir)
    return _data


def learner() -> Learner:
    """The simulated learner, reset to its initial policy."""
    global _learner
    if _learner is None:
        _learner = Learner(data())
    else:
        _learner.reset()
    return _learner


def server(**options) -> Server:
    """A fresh `zpd serve` on the shared dataset (stopped at exit)."""
    s = Server(data(), **options)
    _servers.append(s)
    return s


@atexit.register
def _cleanup() -> None:
    for s in _servers:
        s.stop()
    if _learner is not None:
        _learner.close()
    if _dir is not None:
        shutil.rmtree(_dir, ignore_errors=True)
