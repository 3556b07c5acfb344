"""Who may drive the worker and where it may read and write: the bearer token on every endpoint,
no pickle ever restored, paths confined to the configured directories, a warning for a public
bind, and no worker outliving the process that started it."""

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import torch

import helpers
from helpers import call
from zpd_worker.access import bind_warning, is_loopback
from zpd_worker.server import Worker, parse_args


class Planted:
    """A pickle that runs a shell command when loaded (what an attacker would plant)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class AccessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = os.path.realpath(cls.tmp.name)
        cls.checkpoints = os.path.join(root, "checkpoints")
        cls.publish = os.path.join(root, "published")
        cls.outside = os.path.join(root, "outside")
        for d in (cls.checkpoints, cls.publish, cls.outside):
            os.makedirs(d)
        cls.worker, cls.server, cls.base = helpers.serve_tiny(
            "--checkpoint-dir", cls.checkpoints, "--publish-dir", cls.publish)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.tmp.cleanup()

    def version(self):
        return call(self.base, "/health")[1]["policyVersion"]

    def test_every_endpoint_refuses_a_request_without_the_token(self):
        before = self.worker.trainer.digest()
        routes = [("GET", "/health", None), ("GET", "/trainer/health", None), ("GET", "/v1/models", None),
                  ("GET", "/trainer/digest", None), ("POST", "/v1/completions", {"prompt": "ab", "max_tokens": 2}),
                  ("POST", "/tokenize", {"prompt": "ab"}), ("POST", "/detokenize", {"tokens": [1]}),
                  ("POST", "/trainer/update", {"step": 1, "samples": [], "loss": {}}),
                  ("POST", "/trainer/reset_reference", {}), ("POST", "/trainer/publish_weights", {}),
                  ("POST", "/trainer/load_weights", {"path": "x"}), ("POST", "/trainer/checkpoint", {"tag": "t"}),
                  ("POST", "/trainer/restore", {"path": "x"}), ("GET", "/no-such-route", None)]
        for token in (None, "wrong-token", helpers.TOKEN + "x", ""):
            for method, path, body in routes:
                status, reply = call(self.base, path, body if method == "POST" else None, token=token)
                self.assertEqual(status, 401, (token, path))
                self.assertIn("Authorization: Bearer", reply["error"]["message"])
                self.assertNotIn("policyVersion", reply)  # nothing is revealed
        self.assertEqual(os.listdir(self.checkpoints), [])
        self.assertEqual(self.worker.trainer.digest(), before)
        self.assertEqual(call(self.base, "/health")[0], 200)  # the right token still works
        self.assertEqual(call(self.base, "/health", token="Bearer-less")[0], 401)

    def test_a_planted_pickle_is_never_unpickled(self):
        marker = os.path.join(self.outside, "pwned")
        for directory, name in ((self.checkpoints, "evil.pt"), (self.checkpoints, "evil.safetensors"),
                                (self.publish, "policy-v9.pt")):
            planted = os.path.join(directory, name)
            with open(planted, "wb") as f:
                pickle.dump(Planted(marker), f)
            torch_saved = os.path.join(directory, "saved-" + name)
            torch.save({"format": "zpd-worker-checkpoint/1", "payload": Planted(marker)}, torch_saved)
            for path in (planted, torch_saved):
                for route in ("/trainer/restore", "/trainer/load_weights"):
                    status, reply = call(self.base, route, {"path": path})
                    self.assertEqual(status, 400, (route, path, reply))
                    if directory == self.checkpoints and route == "/trainer/load_weights":
                        self.assertIn("outside the worker's allowed", reply["error"]["message"])
                    elif directory == self.publish and route == "/trainer/restore":
                        self.assertIn("outside the worker's allowed", reply["error"]["message"])
                    else:
                        self.assertIn("not a safetensors file", reply["error"]["message"])
            os.unlink(planted)
            os.unlink(torch_saved)
        self.assertFalse(os.path.exists(marker), "a planted pickle ran")
        self.assertEqual(self.version(), self.worker.trainer.version)

    def test_paths_outside_the_configured_directories_are_refused(self):
        os.symlink(self.outside, os.path.join(self.checkpoints, "link-out"))
        try:
            cases = [
                ("/trainer/checkpoint", {"tag": "a", "dir": "../outside"}, "dir"),
                ("/trainer/checkpoint", {"tag": "a", "dir": self.outside}, "dir"),
                ("/trainer/checkpoint", {"tag": "a", "dir": "/tmp"}, "dir"),
                ("/trainer/checkpoint", {"tag": "a", "dir": "link-out"}, "dir"),  # a symlink that leaves
                ("/trainer/checkpoint", {"tag": "a", "dir": self.checkpoints + "/../outside"}, "dir"),
                ("/trainer/checkpoint", {"tag": "../a"}, "tag"),
                ("/trainer/publish_weights", {"dir": "../outside"}, "dir"),
                ("/trainer/publish_weights", {"dir": self.checkpoints}, "dir"),
                ("/trainer/restore", {"path": "/etc/passwd"}, "path"),
                ("/trainer/restore", {"path": "../../../etc/passwd"}, "path"),
                ("/trainer/load_weights", {"path": "/etc/passwd"}, "path"),
                ("/trainer/load_weights", {"path": 7}, "path"),
            ]
            for route, body, field in cases:
                status, reply = call(self.base, route, body)
                self.assertEqual(status, 400, (route, body, reply))
                self.assertTrue(reply["error"]["message"].startswith(f"{field}:"), reply["error"]["message"])
            self.assertEqual(os.listdir(self.outside), [])
            # inside is fine, relative or absolute
            status, ok = call(self.base, "/trainer/checkpoint", {"tag": "inside", "dir": "sub"})
            self.assertEqual(status, 200, ok)
            self.assertEqual(ok["path"], os.path.join(self.checkpoints, "sub", "inside.safetensors"))
            status, ok = call(self.base, "/trainer/restore", {"path": ok["path"]})
            self.assertEqual(status, 200, ok)
        finally:
            os.unlink(os.path.join(self.checkpoints, "link-out"))

    def test_no_publish_dir_means_no_client_chosen_directory(self):
        w = Worker(parse_args(["--tiny-dim", "32", "--tiny-layers", "1", "--tiny-heads", "2", "--max-len", "64",
                               "--checkpoint-dir", self.checkpoints]))
        self.assertEqual(w.execute("publish_weights", {}), {"policyVersion": 0, "path": None})
        with self.assertRaisesRegex(Exception, "no --publish-dir configured"):
            w.execute("publish_weights", {"dir": self.outside})
        self.assertEqual(os.listdir(self.outside), [])

    def test_a_public_bind_is_warned_about(self):
        self.assertIsNone(bind_warning("127.0.0.1", True))
        self.assertIsNone(bind_warning("::1", True))
        self.assertIsNone(bind_warning("localhost", False))
        self.assertTrue(is_loopback("127.0.0.5"))
        for host in ("0.0.0.0", "", "10.1.2.3", "gpu1.example"):
            self.assertIn("WARNING", bind_warning(host, True), host)
            self.assertIn("--no-auth", bind_warning(host, False), host)


class LifetimeTest(unittest.TestCase):
    def test_the_worker_exits_when_its_parent_dies(self):
        # parent.py starts the worker with --exit-with-parent, prints the worker's pid, then waits;
        # SIGKILL on the parent (no chance to clean up) must still end the worker
        parent = textwrap.dedent(f"""
            import subprocess, sys
            worker = subprocess.Popen([sys.executable, "-m", "zpd_worker", *{helpers.TINY_ARGS!r}, "--exit-with-parent"],
                                      stdout=subprocess.PIPE, text=True)
            for line in worker.stdout:
                if line.startswith("ZPD_WORKER_LISTENING"):
                    print(worker.pid, flush=True)
                    break
            import time
            time.sleep(600)
        """)
        proc = subprocess.Popen([sys.executable, "-c", parent], env=helpers.worker_env(), stdout=subprocess.PIPE,
                                text=True, start_new_session=True)
        worker_pid = None
        try:
            line = proc.stdout.readline()
            self.assertTrue(line.strip().isdigit(), f"the worker did not start: {line!r}")
            worker_pid = int(line)
            self.assertTrue(helpers.pid_alive(worker_pid))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            deadline = time.time() + 30  # liveness bound, not a speed assertion: it exits within ~0.5 s
            while helpers.pid_alive(worker_pid) and time.time() < deadline:
                time.sleep(0.1)
            self.assertFalse(helpers.pid_alive(worker_pid), "the worker outlived its parent")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if worker_pid is not None and helpers.pid_alive(worker_pid):
                os.kill(worker_pid, signal.SIGKILL)
            proc.stdout.close()

    def test_a_worker_started_without_a_token_makes_one_up_and_requires_it(self):
        env = helpers.worker_env()
        del env["ZPD_WORKER_TOKEN"]
        proc = subprocess.Popen([sys.executable, "-m", "zpd_worker", *helpers.TINY_ARGS, "--exit-with-parent"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            base = helpers.read_listening(proc)
            self.assertIsNotNone(base)
            token = None
            for line in proc.stderr:  # logged before the listening line
                if "generated one; send 'Authorization: Bearer " in line:
                    token = line.split("Authorization: Bearer ")[1].split("'")[0]
                    break
            self.assertEqual(len(token or ""), 64)
            self.assertEqual(call(base, "/health", token=None)[0], 401)
            self.assertEqual(call(base, "/health", token=helpers.TOKEN)[0], 401)
            self.assertEqual(call(base, "/health", token=token)[0], 200)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
