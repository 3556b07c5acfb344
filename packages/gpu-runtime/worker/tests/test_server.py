"""The HTTP surface, in-process: vLLM's /v1/completions dialect and the trainer routes."""

import os
import tempfile
import unittest

import helpers
from helpers import call


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.publish = os.path.join(cls.tmp.name, "published")
        cls.worker, cls.server, cls.base = helpers.serve_tiny(
            "--checkpoint-dir", cls.tmp.name, "--publish-dir", cls.publish, "--lr", "0.01", "--publish-dtype", "float32")

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.tmp.cleanup()

    def test_health_and_models(self):
        status, h = call(self.base, "/health")
        self.assertEqual(status, 200)
        self.assertEqual(h["logprobsMode"], "processed_logprobs")
        self.assertIn("policyVersion", h)
        status, m = call(self.base, "/v1/models")
        self.assertEqual(m["data"][0]["id"], "zpd-tiny")

    def test_completions_in_vllm_dialect(self):
        body = {"prompt": ["ab", "abc"], "n": 3, "max_tokens": 4, "seed": 7, "logprobs": 0,
                "return_token_ids": True, "temperature": 1.0, "top_p": 1.0, "top_k": -1}
        status, r = call(self.base, "/v1/completions", body)
        self.assertEqual(status, 200)
        self.assertEqual(r["object"], "text_completion")
        self.assertEqual([c["index"] for c in r["choices"]], list(range(6)))
        tok = self.worker.lm.tokenizer
        for c in r["choices"]:
            self.assertEqual(len(c["token_ids"]), len(c["logprobs"]["token_logprobs"]))
            self.assertEqual(c["prompt_token_ids"], tok.encode(["ab", "abc"][c["index"] // 3]))
            self.assertIn(c["finish_reason"], ("stop", "length"))
        self.assertEqual(r["usage"]["prompt_tokens"], 7)
        # token-id prompts and return_tokens_as_token_ids
        ids = tok.encode("ab")
        status, r2 = call(self.base, "/v1/completions", dict(body, prompt=[ids, tok.encode("abc")],
                                                              return_tokens_as_token_ids=True))
        self.assertEqual([c["token_ids"] for c in r2["choices"]], [c["token_ids"] for c in r["choices"]])
        self.assertEqual(r2["choices"][0]["logprobs"]["tokens"], ["token_id:%d" % t for t in r2["choices"][0]["token_ids"]])
        status, r3 = call(self.base, "/v1/completions", dict(body, prompt=ids, n=1))
        self.assertEqual(len(r3["choices"]), 1)

    def test_refusals_are_400_with_a_message(self):
        for extra, needle in (({"top_p": 0.9}, "top_p"), ({"top_k": 5}, "top_k"), ({"stream": True}, "stream"),
                              ({"prompt": [[1, 2], "x"]}, "prompt"), ({"n": 0}, "n")):
            status, r = call(self.base, "/v1/completions", dict({"prompt": "ab", "max_tokens": 2}, **extra))
            self.assertEqual(status, 400, extra)
            self.assertIn(needle, r["error"]["message"])
        status, r = call(self.base, "/v1/completions", {"prompt": "ab", "model": "gpt-7"})
        self.assertEqual(status, 404)
        status, r = call(self.base, "/nope", {})
        self.assertEqual(status, 404)

    def test_tokenize(self):
        status, r = call(self.base, "/tokenize", {"prompt": "ab"})
        self.assertEqual(r["tokens"], self.worker.lm.tokenizer.encode("ab"))
        status, r = call(self.base, "/detokenize", {"tokens": r["tokens"]})
        self.assertEqual(r["prompt"], "ab")

    def test_trainer_routes_carry_the_policy_version(self):
        status, h = call(self.base, "/health")
        v0 = h["policyVersion"]
        status, r = call(self.base, "/v1/completions", {"prompt": ["ab", "ba"], "n": 2, "max_tokens": 2, "seed": 1,
                                                        "logprobs": 0, "return_token_ids": True})
        samples = []
        for c in r["choices"]:
            p, t = c["prompt_token_ids"], c["token_ids"]
            a = 1.0 if c["index"] % 2 == 0 else -1.0
            samples.append({"promptId": "x", "group": c["index"] // 2, "tokenIds": p + t,
                            "lossMask": [False] * len(p) + [True] * len(t),
                            "samplingLogprobs": [0.0] * len(p) + c["logprobs"]["token_logprobs"],
                            "advantages": [0.0] * len(p) + [a] * len(t), "klWeight": [0.0] * (len(p) + len(t)),
                            "temperature": 1.0, "policyVersion": v0})
        body = {"step": 1000 + v0, "samples": samples, "loss": {"klCoef": 0.0, "clip": 0.2, "aggregation": "token-mean"}}
        status, u = call(self.base, "/trainer/update", body)
        self.assertEqual(status, 200, u)
        self.assertEqual(u["policyVersion"], v0 + 1)
        self.assertEqual(len(u["groupKl"]), 2)
        status, again = call(self.base, "/trainer/update", body)
        self.assertEqual((again["policyVersion"], again.get("replayed")), (v0 + 1, True))
        status, c = call(self.base, "/trainer/checkpoint", {"tag": "t1"})
        self.assertEqual(c["policyVersion"], v0 + 1)
        self.assertTrue(os.path.isfile(c["path"]))
        status, d1 = call(self.base, "/trainer/digest")
        status, rr = call(self.base, "/trainer/reset_reference", {})
        self.assertEqual(rr, {"policyVersion": v0 + 1, "referenceVersion": v0 + 1})
        status, p = call(self.base, "/trainer/publish_weights", {})
        self.assertEqual(p["policyVersion"], v0 + 1)
        self.assertEqual(os.path.dirname(p["path"]), os.path.realpath(self.publish))
        self.assertTrue(os.path.isfile(p["path"]))
        status, lw = call(self.base, "/trainer/load_weights", {"path": p["path"], "policyVersion": v0 + 1})
        self.assertEqual(lw["policyVersion"], v0 + 1)
        status, r = call(self.base, "/trainer/restore", {"path": c["path"]})
        self.assertEqual(r["policyVersion"], v0 + 1)
        status, d2 = call(self.base, "/trainer/digest")
        self.assertEqual(d1["digest"], d2["digest"])
        status, bad = call(self.base, "/trainer/update", {"step": 1, "samples": [{"tokenIds": [1]}], "loss": {}})
        self.assertEqual(status, 400)
        self.assertIn("samples[0]", bad["error"]["message"])
        self.assertEqual(bad["policyVersion"], v0 + 1)
        status, bad = call(self.base, "/trainer/restore", {"path": os.path.join(self.tmp.name, "missing.safetensors")})
        self.assertEqual(status, 400)


if __name__ == "__main__":
    unittest.main()
