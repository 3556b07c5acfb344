"""What the adapter tests share: the real `zpd serve` process, the simulated learner process, a dataset.

Both processes are started with the repository's tsx; the server's first
stdout line (`zpd serve: listening on URL token=TOKEN`) gives its address.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

from zpd_curriculum.client import ZpdClient  # noqa: E402

TSX = os.path.join(ROOT, "node_modules", ".bin", "tsx")
LEARNER = os.path.join(ROOT, "python", "tests", "simulated_learner.ts")
CLI = os.path.join(ROOT, "packages", "cli", "src", "main.ts")

SEED = 7
PER_LEVEL = 20  # 2 families × 3 levels × 20 = 120 problems
BATCH = 8
GROUP = 4
STEPS = 50
CURRICULUM = os.environ.get("ZPD_ADAPTER_TEST_CURRICULUM", "sec")
START_TIMEOUT = 120.0

LISTENING = re.compile(r"^zpd serve: listening on (http://\S+) token=(\S+)\s*$")


def server_command(
    data: str, state: str, port: int = 0, token: Optional[str] = None, curriculum: str = CURRICULUM,
    extra: Sequence[str] = (),
) -> List[str]:
    cmd = [TSX, CLI, "serve", "--curriculum", curriculum, "--data", data, "--seed", str(SEED), "--state", state]
    cmd += ["--port", str(port), "--batch-size", str(BATCH), "--group-size", str(GROUP), *extra]
    if token is not None:
        cmd += ["--token", token]
    return cmd


class Server:
    """One `zpd serve` process; ``kill9`` and ``restart`` keep its state DIR and port."""

    def __init__(
        self, data: str, state: Optional[str] = None, token: Optional[str] = None, curriculum: str = CURRICULUM,
        extra: Sequence[str] = (),
    ) -> None:
        self.data = data
        self._own_state = state is None
        self.curriculum = curriculum
        self.extra = list(extra)
        self.state = state or tempfile.mkdtemp(prefix="zpd-serve-state-")
        self.token = token
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self.output: List[str] = []
        """The last lines the server printed (stdout and stderr), for error messages."""
        self.start()

    def start(self) -> None:
        cmd = server_command(self.data, self.state, self.port, self.token, self.curriculum, self.extra)
        # Its own process group: tsx runs the server in a child node process, and kill -9 must reach it.
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        proc = self.proc
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._drain, args=(proc.stderr, None), daemon=True).start()
        threading.Thread(target=self._drain, args=(proc.stdout, lines), daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first = ""
        if first == "":
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            time.sleep(0.2)  # let the stderr drain catch the reason
            raise RuntimeError(
                f"zpd serve printed no listening line within {START_TIMEOUT:g} s (rc={proc.returncode}): "
                f"{''.join(self.output)[-2000:]}"
            )
        match = LISTENING.match(first)
        if match is None:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"zpd serve: expected the 'listening on URL token=T' line first, got {first!r}")
        self.url, self.token = match.group(1), match.group(2)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain(self, stream: Any, lines: "Optional[queue.Queue[str]]") -> None:
        with stream:
            for line in stream:
                if lines is not None:
                    lines.put(line)
                self.output.append(line)
                del self.output[:-200]
        if lines is not None:
            lines.put("")

    def client(self, **options: Any) -> ZpdClient:
        return ZpdClient(self.url, self.token or "", **options)

    def kill9(self) -> None:
        """SIGKILL to the server's process group (tsx and the node process running the server)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Starts again on the same port and state DIR (after ``kill9``)."""
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._own_state:
            shutil.rmtree(self.state, ignore_errors=True)


class Learner:
    """zpd's simulated learner (python/tests/simulated_learner.ts) as a JSON-lines subprocess."""

    def __init__(self, data: str) -> None:
        self.proc = subprocess.Popen(
            [TSX, LEARNER, "serve", "--data", data, "--seed", str(SEED), "--group-size", str(GROUP)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.initial = self.checkpoint()

    def _call(self, request: Dict[str, Any]) -> Dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("simulated learner exited")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"simulated learner: {reply['error']}")
        return reply

    def step(self, step: int, indices: Sequence[int]) -> Dict[int, List[Dict[str, Any]]]:
        """Rolls out ``indices`` (served positions), updates the policy; returns index → its groups (in batch order)."""
        groups = self._call({"step": step, "indices": list(indices)})["groups"]
        out: Dict[int, List[Dict[str, Any]]] = {}
        for g in groups:
            out.setdefault(g["index"], []).append(g)
        return out

    def checkpoint(self) -> Any:
        return self._call({"checkpoint": "test"})["checkpoint"]

    def restore(self, checkpoint: Any) -> None:
        self._call({"restore": checkpoint})

    def reset(self) -> None:
        self.restore(self.initial)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def write_dataset(directory: str) -> str:
    path = os.path.join(directory, "train.jsonl")
    subprocess.run(
        [TSX, LEARNER, "write-data", path, "--seed", str(SEED), "--per-level", str(PER_LEVEL)], cwd=ROOT, check=True
    )
    return path


def write_difficulties(data: str) -> str:
    """AdaCuRL's precomputed difficulties for ``data`` (1 − the initial simulated policy's pass rate)."""
    path = os.path.join(os.path.dirname(data), "difficulties.jsonl")
    subprocess.run([TSX, LEARNER, "write-difficulties", path, "--data", data, "--seed", str(SEED)], cwd=ROOT, check=True)
    return path


def read_ids(path: str) -> List[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["id"] for line in f if line.strip()]


class SpyClient(ZpdClient):
    """A client that records every select reply and observe body (what the adapter actually sent)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.selected: Dict[int, List[int]] = {}
        self.observed: Dict[int, List[Dict[str, Any]]] = {}
        self.replies: Dict[int, Dict[str, Any]] = {}
        self.select_ids: Dict[int, List[str]] = {}

    def request(self, method: str, path: str, body: Optional[Any] = None) -> Dict[str, Any]:
        reply = super().request(method, path, body)
        if path == "/v1/select":
            self.select_ids[reply["cursor"]] = reply["ids"]
        return reply

    def select(self, cursor: int, batch_size: Optional[int] = None) -> List[int]:
        indices = super().select(cursor, batch_size)
        previous = self.selected.setdefault(cursor, indices)
        assert previous == indices, f"cursor {cursor} selected twice with different batches"
        return indices

    def observe(self, cursor: int, groups: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        reply = super().observe(cursor, groups)
        self.observed[cursor] = [dict(g) for g in groups]
        self.replies[cursor] = reply
        return reply
