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


_shared: Optional[Server] = None
_initial_state = None


def fresh_server(**options) -> Server:
    """A newly started `zpd serve` on the shared dataset (stopped at exit)."""
    s = Server(data(), **options)
    _servers.append(s)
    return s


def server() -> Server:
    """The shared `zpd serve`, reset to the state it started in (POST /v1/restore of its first GET /v1/state).

    Starting a server takes seconds under tsx; runs that only need "a server at step 0" share one. The
    previous user must be done with it (cached runs keep what they assert on, not the server).
    """
    global _shared, _initial_state
    if _shared is None:
        _shared = fresh_server()
        _initial_state = _shared.client().state()
    else:
        _shared.client().restore(_initial_state)
    return _shared


@atexit.register
def _cleanup() -> None:
    for s in _servers:
        s.stop()
    if _learner is not None:
        _learner.close()
    if _dir is not None:
        shutil.rmtree(_dir, ignore_errors=True)
