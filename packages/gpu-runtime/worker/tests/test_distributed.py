"""The worker under torchrun: two CPU ranks (gloo) train data-parallel and agree with one
process on the same update (up to float summation order)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import torch

import helpers
from zpd_worker import tensorfile
from zpd_worker.server import LISTENING
from zpd_worker.trainer import Trainer

ARGS = ["--port", "0", "--tiny-dim", "32", "--tiny-layers", "1", "--tiny-heads", "2", "--max-len", "64",
        "--lr", "0.01", "--threads", "1", "--seed", "0"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base, path, body):
    status, reply = helpers.call(base, path, body)
    if status != 200:
        raise AssertionError(f"POST {path}: HTTP {status}: {reply}")
    return reply


@unittest.skipUnless(torch.distributed.is_available() and torch.distributed.is_gloo_available(),
                     "torch.distributed with gloo is not available")
class TorchrunTest(unittest.TestCase):
    def test_two_ranks_match_one_process(self):
        tmp = tempfile.TemporaryDirectory()
        env = helpers.worker_env()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               # torch < 2 on Python 3.11 cannot parse the default "0" of these two flags (Flag enum
               # iteration skips 0); "2" = stderr, teed to a log file and the console, works everywhere
               "--redirects", "2", "--tee", "2", "--log_dir", os.path.join(tmp.name, "logs"),
               "-m", "zpd_worker",
               # a 4 KiB bucket: the ~70 KiB of gradients go in several buckets (one per parameter
               # before bucketing); the result must not depend on how they are packed
               *ARGS, "--checkpoint-dir", tmp.name, "--allreduce-bucket-mb", str(4 / 1024)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            base = None
            deadline = time.time() + 120
            while time.time() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                if line.startswith(LISTENING):
                    base = line.split()[1]
                    break
            if base is None:
                proc.kill()
                self.fail("torchrun worker did not start: " + proc.stderr.read()[-3000:])

            # the single-process reference, built exactly like the worker (same seed, same config)
            lm = helpers.build("tiny", torch.device("cpu"), 0, tiny=helpers.TinyConfig(**vars(helpers.SMALL)))
            single = Trainer(lm, lr=0.01)
            req, answers, out = helpers.rollout(lm, count=4, n=4, seed=5)
            rewards = [[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]
            samples = helpers.to_samples(req, answers, out, kl="dense", rewards=rewards)
            for step in (1, 2):
                body = {"step": step, "samples": samples, "loss": helpers.loss(0.1)}
                dist = post(base, "/trainer/update", body)
                one = single.update(body)
                self.assertEqual(dist["policyVersion"], one["policyVersion"])
                for k in ("loss", "kl_mean", "clipfrac", "grad_norm", "ratio_mean"):
                    self.assertAlmostEqual(dist["metrics"][k], one["metrics"][k], places=5, msg=k)
                for a, b in zip(dist["groupKl"], one["groupKl"]):
                    self.assertAlmostEqual(a, b, places=6)
            # Same function: compare the models' logits (not raw parameters: the key bias has an exactly
            # zero gradient in theory, and Adam turns its float noise into full-size steps)
            cp = post(base, "/trainer/checkpoint", {"tag": "dp"})
            other = helpers.build("tiny", torch.device("cpu"), 1, tiny=helpers.TinyConfig(**vars(helpers.SMALL)))
            other.module.load_state_dict(tensorfile.read(cp["path"], prefix="policy.")[0])
            for s in samples:
                ids = torch.tensor([s["tokenIds"]])
                with torch.no_grad():
                    a = lm.logits(lm.module, ids, torch.ones_like(ids))
                    b = other.logits(other.module, ids, torch.ones_like(ids))
                self.assertLess(float((a - b).abs().max()), 1e-3)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            proc.stdout.close()
            proc.stderr.close()
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
