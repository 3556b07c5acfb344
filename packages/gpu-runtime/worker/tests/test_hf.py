"""The Hugging Face path, on a small randomly initialised GPT-2 built here (no download).

Runs only where ``transformers`` imports; elsewhere every test is skipped with the reason,
and the reason is also printed to stderr so a CI log shows the path did not run.
"""

import os
import sys
import tempfile
import unittest

import torch
import torch.nn.functional as F

import helpers
from zpd_worker.models import build, transformers_available
from zpd_worker.sampling import SamplingRequest, sample
from zpd_worker.trainer import Trainer

AVAILABLE, WHY = transformers_available()


def setUpModule():
    if not AVAILABLE:
        sys.stderr.write(f"\n*** zpd worker: the Hugging Face path was NOT tested: {WHY} ***\n")


@unittest.skipUnless(AVAILABLE, f"Hugging Face path not tested: {WHY}")
class HuggingFaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from transformers import GPT2Config, GPT2LMHeadModel

        cls.tmp = tempfile.TemporaryDirectory()
        cfg = GPT2Config(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=1,
                         eos_token_id=2, pad_token_id=0)
        torch.manual_seed(0)
        GPT2LMHeadModel(cfg).save_pretrained(cls.tmp.name)
        cls.lm = build("hf:" + cls.tmp.name, torch.device("cpu"), 0, tokenizer="builtin")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_kv_cache_sampling_matches_the_training_forward(self):
        lm = self.lm
        prompts = [lm.tokenizer.encode("ab"), lm.tokenizer.encode("abcd")]  # different lengths: left padding
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

    def test_update_checkpoint_and_weights(self):
        lm = build("hf:" + self.tmp.name, torch.device("cpu"), 0, tokenizer="builtin")
        trainer = Trainer(lm, lr=1e-2, checkpoint_dir=self.tmp.name)
        req, answers, out = helpers.rollout(lm, count=2, n=4, seed=1)
        rewards = [[1.0, 0.0, 1.0, 0.0]] * 2
        before = trainer.digest()
        res = trainer.update({"step": 1, "samples": helpers.to_samples(req, answers, out, kl="dense", rewards=rewards),
                              "loss": helpers.loss(0.1)})
        self.assertEqual(res["policyVersion"], 1)
        self.assertAlmostEqual(res["metrics"]["ratio_mean"], 1.0, places=4)
        self.assertLess(res["metrics"]["kl_mean"], 1e-6)
        self.assertNotEqual(trainer.digest(), before)
        cp = trainer.checkpoint("hf-1")
        published = trainer.publish_weights(os.path.join(self.tmp.name, "published"))
        self.assertTrue(os.path.isfile(os.path.join(published["path"], "config.json")))
        after = trainer.digest()
        trainer.update({"step": 2, "samples": helpers.to_samples(req, answers, out, kl="dense", rewards=rewards),
                        "loss": helpers.loss(0.1)})
        self.assertEqual(trainer.restore(cp["path"])["policyVersion"], 1)
        self.assertEqual(trainer.digest(), after)
        trainer.update({"step": 3, "samples": helpers.to_samples(req, answers, out, kl="dense", rewards=rewards),
                        "loss": helpers.loss(0.1)})
        trainer.load_weights(published["path"], 1)
        self.assertEqual(trainer.digest(), after)


if __name__ == "__main__":
    unittest.main()
