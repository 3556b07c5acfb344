"""The worker's HTTP server (standard library only) and command line.

    python3 -m zpd_worker --model tiny --port 0          # PYTHONPATH=packages/gpu-runtime/worker
    python3 -m zpd_worker --model hf:/models/qwen --device cuda --port 8001
    torchrun --nproc-per-node 4 -m zpd_worker --model hf:/models/qwen   # data-parallel trainer

Once listening, the worker prints ``ZPD_WORKER_LISTENING http://HOST:PORT`` on stdout
(with ``--port 0`` the OS picks the port). Logs go to stderr.

Access (``access.py``): every request needs ``Authorization: Bearer $ZPD_WORKER_TOKEN``; paths
clients name are confined to ``--checkpoint-dir``, ``--publish-dir`` and ``--read-dir``; weights
and checkpoints are safetensors (nothing is unpickled); a non-loopback ``--host`` is warned
about; ``--exit-with-parent`` makes the worker exit once the process that started it is gone.

Every state-changing operation (generation, updates, checkpoints, ...) runs on one executor
thread, in arrival order; HTTP handler threads only parse, queue and wait. Under
``torchrun`` (``WORLD_SIZE > 1``) rank 0 serves HTTP and broadcasts every trainer operation
to the other ranks, which execute it in the same order (see ``trainer.py``); generation runs
on rank 0 only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from . import __version__
from .access import Auth, Directories, Unauthorized, bind_warning
from .models import TinyConfig, build, transformers_available
from .sampling import BadRequest, SamplingRequest, sample
from .trainer import Trainer
from .warm_start import warm_start

LISTENING = "ZPD_WORKER_LISTENING"


class NotFound(Exception):
    pass


def log(msg: str) -> None:
    sys.stderr.write(f"[zpd-worker] {msg}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# the worker: model + trainer + operations
# ---------------------------------------------------------------------------


class Worker:
    """Owns the model and the trainer; ``execute(op, payload)`` is the only way to touch them."""

    COLLECTIVE = {"update", "warm_start", "reset_reference", "load_weights", "restore", "checkpoint", "publish_weights", "stop"}

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        if args.device == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(args.device)
        self.dist = None
        self.rank, self.world = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend=backend)
            self.dist = torch.distributed
            self.rank, self.world = self.dist.get_rank(), self.dist.get_world_size()
            if device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                device = torch.device("cuda", local)
        self.device = device
        tiny = TinyConfig(dim=args.tiny_dim, layers=args.tiny_layers, heads=args.tiny_heads, max_len=args.max_len)
        self.lm = build(args.model, device, args.seed, tiny=tiny, dtype=args.dtype, tokenizer=args.tokenizer)
        self.trainer = Trainer(self.lm, lr=args.lr, weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm,
                               micro_batch=args.micro_batch, checkpoint_dir=args.checkpoint_dir,
                               publish_dtype=args.publish_dtype, keep_published=args.keep_published,
                               bucket_mb=args.allreduce_bucket_mb)
        self.dirs = Directories(self.trainer.checkpoint_dir, args.publish_dir, args.read_dir or [])
        self.model_name = args.served_model_name or ("zpd-tiny" if args.model == "tiny" else args.model[3:])
        self.started = int(time.time())

    # -- operations -------------------------------------------------------------

    def execute(self, op: str, payload: Any) -> Any:
        if op == "generate":
            return sample(self.lm, payload, max_rows=self.args.max_batch_rows)
        if op == "update":
            body, digest = payload
            return self.trainer.update(body, digest)
        if op == "warm_start":
            return warm_start(self.trainer, payload)
        if op == "reset_reference":
            return self.trainer.reset_reference()
        if op == "publish_weights":
            target = self.dirs.publish_target(payload.get("dir"))
            return self.trainer.publish_weights(target) if self.rank == 0 \
                else {"policyVersion": self.trainer.version, "path": None}
        if op == "load_weights":
            return self.trainer.load_weights(self.dirs.weights_source(payload.get("path")), payload.get("policyVersion"))
        if op == "checkpoint":
            target = self.dirs.checkpoint_target(payload.get("dir"))
            if self.rank == 0:
                return self.trainer.checkpoint(payload.get("tag"), target)
            return {"policyVersion": self.trainer.version, "path": None}
        if op == "restore":
            return self.trainer.restore(self.dirs.checkpoint_source(payload.get("path")))
        if op == "digest":
            return {"policyVersion": self.trainer.version, "digest": self.trainer.digest()}
        if op == "stop":
            return None
        raise NotFound(op)

    def health(self) -> dict:
        ok, why = transformers_available()
        return {
            "status": "ok",
            "ready": True,
            "policyVersion": self.trainer.version,
            "referenceVersion": self.trainer.reference_version,
            "logprobsMode": "processed_logprobs",
            "model": dict(self.lm.describe(), name=self.model_name),
            "device": str(self.device),
            "worldSize": self.world,
            "transformers": why if not ok else why,
            "version": __version__,
        }


class Executor:
    """Runs operations one at a time on the thread that calls ``run_forever`` (the main
    thread); on rank 0 of a torchrun group it first broadcasts collective operations."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.jobs: "queue.Queue[Tuple[str, Any, dict]]" = queue.Queue()

    def submit(self, op: str, payload: Any) -> Any:
        box: dict = {"done": threading.Event()}
        self.jobs.put((op, payload, box))
        box["done"].wait()
        if "error" in box:
            raise box["error"]
        return box["result"]

    def run_forever(self) -> None:
        w = self.worker
        while True:
            op, payload, box = self.jobs.get()
            try:
                if w.dist is not None and op in Worker.COLLECTIVE:
                    w.dist.broadcast_object_list([op, payload], src=0)
                box["result"] = w.execute(op, payload)
            except BaseException as e:  # reported to the HTTP thread
                box["error"] = e
            finally:
                box["done"].set()
            if op == "stop":
                return

    def follow(self) -> None:
        """Non-zero ranks: execute what rank 0 broadcasts, until ``stop``."""
        w = self.worker
        while True:
            obj = [None, None]
            w.dist.broadcast_object_list(obj, src=0)
            op, payload = obj
            if op == "stop":
                return
            try:
                w.execute(op, payload)
            except BadRequest:
                pass  # rank 0 reports it; every rank refused the same request


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


def finite(x: Any) -> Any:
    """JSON has no NaN or infinity: non-finite floats become null (the TS side reads null as NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def _as_list(x: Any) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, (str, int)) else list(x)


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise BadRequest(msg)


def parse_prompts(prompt: Any, tokenizer: Any, add_special_tokens: bool) -> list:
    """vLLM's four prompt forms: a string, a list of strings, a token-id list, or a list of them."""
    if isinstance(prompt, str):
        return [tokenizer.encode(prompt, add_special_tokens=add_special_tokens)]
    _require(isinstance(prompt, list) and len(prompt) > 0, "prompt: expected a string, a list of strings, "
             "a list of token ids, or a list of token-id lists")
    if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        return [list(prompt)]
    if all(isinstance(p, str) for p in prompt):
        return [tokenizer.encode(p, add_special_tokens=add_special_tokens) for p in prompt]
    if all(isinstance(p, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in p) for p in prompt):
        return [list(p) for p in prompt]
    raise BadRequest("prompt: expected a string, a list of strings, a list of token ids, or a list of token-id lists")


def completion_request(body: dict, worker: Worker) -> SamplingRequest:
    _require(isinstance(body, dict), "expected a JSON object")
    model = body.get("model")
    if model is not None and model != worker.model_name:
        raise NotFound(f"The model `{model}` does not exist.")
    _require(not body.get("stream"), "stream: streaming is not supported by the zpd worker")
    _require(not body.get("echo"), "echo: not supported by the zpd worker")
    _require(body.get("prompt_logprobs") is None, "prompt_logprobs: not supported by the zpd worker")
    _require(not body.get("use_beam_search"), "use_beam_search: not supported by the zpd worker")
    top_p = body.get("top_p")
    _require(top_p is None or float(top_p) == 1.0,
             f"top_p: the zpd worker samples without truncation (top_p = 1), got {top_p}")
    top_k = body.get("top_k")
    _require(top_k is None or int(top_k) in (0, -1), f"top_k: the zpd worker samples without truncation "
             f"(top_k 0 or -1), got {top_k}")
    for key, neutral in (("min_p", 0.0), ("presence_penalty", 0.0), ("frequency_penalty", 0.0),
                         ("repetition_penalty", 1.0)):
        v = body.get(key)
        _require(v is None or float(v) == neutral, f"{key}: only {neutral} is supported, got {v}")
    logprobs = body.get("logprobs")
    _require(logprobs is None or (isinstance(logprobs, int) and 0 <= logprobs <= 20),
             f"logprobs: expected an integer in [0, 20], got {logprobs}")
    n = body.get("n", 1)
    _require(isinstance(n, int) and n >= 1, f"n: expected an integer >= 1, got {n}")
    max_tokens = body.get("max_tokens")
    max_tokens = 16 if max_tokens is None else max_tokens
    _require(isinstance(max_tokens, int) and max_tokens >= 1, f"max_tokens: expected an integer >= 1, got {max_tokens}")
    temperature = body.get("temperature")
    temperature = 1.0 if temperature is None else float(temperature)
    seed = body.get("seed")
    _require(seed is None or isinstance(seed, int), f"seed: expected an integer, got {seed}")
    add_special = body.get("add_special_tokens", True)
    prompts = parse_prompts(body.get("prompt"), worker.lm.tokenizer, bool(add_special))
    return SamplingRequest(
        prompts=prompts, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
        stop=[s for s in _as_list(body.get("stop")) if isinstance(s, str)],
        stop_token_ids=[int(t) for t in _as_list(body.get("stop_token_ids"))],
        ignore_eos=bool(body.get("ignore_eos", False)),
        include_stop_str_in_output=bool(body.get("include_stop_str_in_output", False)),
        skip_special_tokens=bool(body.get("skip_special_tokens", True)),
        logprobs=logprobs,
    )


def completion_response(body: dict, req: SamplingRequest, samples: list, worker: Worker) -> dict:
    tok = worker.lm.tokenizer
    as_ids = bool(body.get("return_tokens_as_token_ids"))
    with_ids = bool(body.get("return_token_ids"))

    def render(t: int) -> str:
        return f"token_id:{t}" if as_ids else tok.token_text(t)

    choices = []
    completion_tokens = 0
    for index, s in enumerate(samples):
        choice: Dict[str, Any] = {"index": index, "text": s.text, "logprobs": None, "finish_reason": s.finish_reason,
                                  "stop_reason": s.stop_reason, "prompt_logprobs": None}
        if req.logprobs is not None:
            offsets, pos = [], 0
            for t in s.token_ids:
                offsets.append(pos)
                pos += len(tok.decode([t], skip_special_tokens=req.skip_special_tokens))
            choice["logprobs"] = {
                "text_offset": offsets,
                "token_logprobs": s.logprobs,
                "tokens": [render(t) for t in s.token_ids],
                "top_logprobs": [{render(k): v for k, v in entry.items()} for entry in s.top_logprobs],
            }
        if with_ids:
            choice["token_ids"] = s.token_ids
            choice["prompt_token_ids"] = req.prompts[s.prompt_index]
        completion_tokens += len(s.token_ids)
        choices.append(choice)
    prompt_tokens = sum(len(p) for p in req.prompts)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": worker.model_name,
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "policy_version": worker.trainer.version,
    }


def make_handler(worker: Worker, executor: Executor, verbose: bool, auth: Optional[Auth] = None) -> type:
    """The request handler class. ``auth`` None means no token check (in-process tests only;
    ``main`` always passes one)."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"zpd-worker/{__version__}"

        def log_message(self, fmt: str, *args: Any) -> None:
            if verbose:
                log(fmt % args)

        # -- plumbing ----------------------------------------------------------

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(finite(payload), allow_nan=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str) -> Tuple[int, dict]:
            return status, {"error": {"message": message, "type": kind, "param": None, "code": status},
                            "policyVersion": worker.trainer.version}

        def _body(self) -> Tuple[Any, bytes]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            if not raw:
                return {}, raw
            try:
                return json.loads(raw), raw
            except json.JSONDecodeError as e:
                raise BadRequest(f"body is not valid JSON: {e}")

        def _route(self, method: str, fn: Callable[[], Any]) -> None:
            try:
                if auth is not None:
                    auth.check(self.headers.get("Authorization"))
                status, payload = fn()
            except Unauthorized as e:
                # the body (if any) stays unread: close the connection rather than parse it
                self.close_connection = True
                status, payload = 401, {"error": {"message": str(e), "type": "AuthenticationError", "param": None,
                                                  "code": 401}}
            except BadRequest as e:
                status, payload = self._error(400, str(e), "BadRequestError")
            except NotFound as e:
                status, payload = self._error(404, str(e) or f"no route {method} {self.path}", "NotFoundError")
            except Exception as e:  # a bug or a device error: 500 with the message
                log(f"{method} {self.path} failed:\n{traceback.format_exc()}")
                status, payload = self._error(500, f"{type(e).__name__}: {e}", "InternalServerError")
            try:
                self._send(status, payload)
            except (BrokenPipeError, ConnectionResetError):
                log(f"{method} {self.path}: the client closed the connection before the reply")

        # -- routes --------------------------------------------------------------

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]

            def go():
                if path in ("/health", "/trainer/health"):
                    return 200, worker.health()
                if path == "/v1/models":
                    return 200, {"object": "list", "data": [{
                        "id": worker.model_name, "object": "model", "created": worker.started, "owned_by": "zpd",
                        "root": worker.model_name, "max_model_len": worker.lm.max_len}]}
                if path == "/trainer/digest":
                    return 200, executor.submit("digest", None)
                raise NotFound(f"no route GET {path}")

            self._route("GET", go)

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]

            def go():
                body, raw = self._body()
                if path == "/v1/completions":
                    req = completion_request(body, worker)
                    samples = executor.submit("generate", req)
                    return 200, completion_response(body, req, samples, worker)
                if path == "/tokenize":
                    _require(isinstance(body.get("prompt"), str), "prompt: expected a string")
                    ids = worker.lm.tokenizer.encode(body["prompt"], bool(body.get("add_special_tokens", True)))
                    return 200, {"count": len(ids), "max_model_len": worker.lm.max_len, "tokens": ids,
                                 "token_strs": None}
                if path == "/detokenize":
                    tokens = body.get("tokens")
                    _require(isinstance(tokens, list), "tokens: expected a list of token ids")
                    return 200, {"prompt": worker.lm.tokenizer.decode(tokens)}
                if path == "/trainer/update":
                    _require(isinstance(body, dict), "expected a JSON object")
                    return 200, executor.submit("update", (body, hashlib.sha256(raw).hexdigest()))
                if path == "/trainer/warm_start":
                    return 200, executor.submit("warm_start", body)
                if path == "/trainer/reset_reference":
                    return 200, executor.submit("reset_reference", None)
                if path == "/trainer/publish_weights":
                    return 200, executor.submit("publish_weights", body or {})
                if path == "/trainer/load_weights":
                    return 200, executor.submit("load_weights", body or {})
                if path == "/trainer/checkpoint":
                    _require(isinstance(body.get("tag"), str), "tag: expected a string")
                    return 200, executor.submit("checkpoint", body)
                if path == "/trainer/restore":
                    return 200, executor.submit("restore", body or {})
                raise NotFound(f"no route POST {path}")

            self._route("POST", go)

    return Handler


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="zpd_worker", description="zpd's PyTorch worker: vLLM-style /v1/completions "
                                "plus a GRPO trainer over HTTP (see packages/gpu-runtime/PROTOCOL.md)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 = let the OS pick (printed on stdout)")
    p.add_argument("--model", default="tiny", help="'tiny' (built-in transformer) or 'hf:PATH' (transformers)")
    p.add_argument("--tokenizer", default="auto", help="for hf: 'auto' (the model directory's), 'builtin', or a path")
    p.add_argument("--served-model-name", default=None)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--seed", type=int, default=0, help="seed of the tiny model's initialisation")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (loss.learningRate overrides)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient-norm clipping; 0 = off")
    p.add_argument("--micro-batch", type=int, default=64, help="samples per forward/backward pass")
    p.add_argument("--max-batch-rows", type=int, default=1024, help="prompts x n per /v1/completions request")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="the only directory checkpoints are written to and restored from (default: a temp dir)")
    p.add_argument("--publish-dir", default=None,
                   help="the only directory /trainer/publish_weights writes to (none: it publishes nothing)")
    p.add_argument("--read-dir", action="append", default=None,
                   help="a further directory /trainer/load_weights may read (repeatable), e.g. a trainer's publish dir")
    p.add_argument("--publish-dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"],
                   help="dtype of published weights (safetensors)")
    p.add_argument("--keep-published", type=int, default=2,
                   help="published versions kept in the publish directory, newest first (0 = keep all)")
    p.add_argument("--allreduce-bucket-mb", type=float, default=25.0,
                   help="under torchrun: gradients are all-reduced in flat buckets of this size")
    p.add_argument("--no-auth", action="store_true",
                   help="serve without the bearer token (ZPD_WORKER_TOKEN); anyone who reaches the port can drive it")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the process that started this one dies (Worker.ts passes it)")
    p.add_argument("--tiny-dim", type=int, default=64)
    p.add_argument("--tiny-layers", type=int, default=2)
    p.add_argument("--tiny-heads", type=int, default=4)
    p.add_argument("--max-len", type=int, default=128, help="the tiny model's context length")
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms(True) (and CUBLAS_WORKSPACE_CONFIG on CUDA): "
                        "bitwise-reproducible GPU runs, slower")
    p.add_argument("--verbose", action="store_true", help="log every HTTP request")
    return p.parse_args(argv)


def watch_parent(parent: int, interval: float = 0.5) -> threading.Thread:
    """Exits this process once it is re-parented (its parent died: orphans go to init or a
    subreaper), so a worker never outlives the zpd process that spawned it."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                log(f"the parent process (pid {parent}) is gone: exiting (--exit-with-parent)")
                os._exit(3)

    t = threading.Thread(target=watch, name="parent-watch", daemon=True)
    t.start()
    return t


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.exit_with_parent:
        watch_parent(os.getppid())
    auth = Auth.from_environment(args.no_auth, log)
    worker = Worker(args)
    executor = Executor(worker)
    if worker.rank != 0:
        executor.follow()
        return
    warning = bind_warning(args.host, auth.token is not None)
    if warning:
        log(warning)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(worker, executor, args.verbose, auth))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log(f"model {json.dumps(worker.lm.describe())} on {worker.device}, world size {worker.world}")
    print(f"{LISTENING} http://{host}:{port}", flush=True)
    try:
        executor.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        if worker.dist is not None:
            try:
                worker.dist.broadcast_object_list(["stop", None], src=0)
            except Exception:
                pass
