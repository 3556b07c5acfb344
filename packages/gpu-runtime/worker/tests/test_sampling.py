import unittest

import torch
import torch.nn.functional as F

import helpers
from zpd_worker.sampling import BadRequest, SamplingRequest, sample
from zpd_worker.tokenizer import EOS


class SamplingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lm = helpers.tiny(seed=3)

    def test_order_count_and_determinism(self):
        req, _, out = helpers.rollout(self.lm, count=3, n=4, seed=11, max_tokens=5)
        self.assertEqual(len(out), 12)
        self.assertEqual([(s.prompt_index, s.sample_index) for s in out], [(i, j) for i in range(3) for j in range(4)])
        for s in out:
            self.assertEqual(len(s.token_ids), len(s.logprobs))
            self.assertTrue(all(lp <= 0 for lp in s.logprobs))
        _, _, again = helpers.rollout(self.lm, count=3, n=4, seed=11, max_tokens=5)
        self.assertEqual([s.token_ids for s in out], [s.token_ids for s in again])
        self.assertEqual([s.logprobs for s in out], [s.logprobs for s in again])
        _, _, other = helpers.rollout(self.lm, count=3, n=4, seed=12, max_tokens=5)
        self.assertNotEqual([s.token_ids for s in out], [s.token_ids for s in other])

    def test_logprobs_are_processed_and_match_a_recompute(self):
        """spec/runtime.md §1.3: sample at T=0.5, recompute with the trainer's forward, ratio ≈ 1."""
        T = 0.5
        req, _, out = helpers.rollout(self.lm, count=4, n=4, seed=5, temperature=T, max_tokens=6)
        for s in out:
            p = req.prompts[s.prompt_index]
            ids = torch.tensor([p + s.token_ids])
            logits = self.lm.logits(self.lm.module, ids, torch.ones_like(ids))[0, :-1] / T
            lp = F.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None]).squeeze(1)[len(p) - 1:]
            for a, b in zip(lp.tolist(), s.logprobs):
                self.assertAlmostEqual(a, b, places=5)
            raw = F.log_softmax(logits * T, dim=-1).gather(1, ids[0, 1:, None]).squeeze(1)[len(p) - 1:]
            self.assertFalse(all(abs(a - b) < 1e-4 for a, b in zip(raw.tolist(), s.logprobs)),
                             "logprobs must be post-temperature, not raw")

    def test_finish_reasons_and_stops(self):
        lm = self.lm
        prompts, _ = helpers.last_letter_prompts(lm, 2)
        out = sample(lm, SamplingRequest(prompts=prompts, n=2, max_tokens=3, seed=1))
        for s in out:
            if EOS in s.token_ids:
                self.assertEqual(s.finish_reason, "stop")
                self.assertEqual(s.token_ids[-1], EOS)
            else:
                self.assertEqual((s.finish_reason, len(s.token_ids)), ("length", 3))
        # every token id is a stop token id: finish after one token, reason = the id
        stops = list(range(lm.vocab_size))
        out = sample(lm, SamplingRequest(prompts=prompts, n=2, max_tokens=5, seed=1, stop_token_ids=stops))
        for s in out:
            self.assertEqual(len(s.token_ids), 1)
            self.assertEqual(s.finish_reason, "stop")
        # greedy decoding: temperature 0 is deterministic without a seed
        a = sample(lm, SamplingRequest(prompts=prompts, n=2, max_tokens=4, temperature=0))
        b = sample(lm, SamplingRequest(prompts=prompts, n=2, max_tokens=4, temperature=0))
        self.assertEqual([s.token_ids for s in a], [s.token_ids for s in b])
        self.assertEqual(a[0].token_ids, a[1].token_ids)

    def test_stop_string_cuts_text_but_keeps_tokens(self):
        lm = self.lm
        prompts, _ = helpers.last_letter_prompts(lm, 1)
        base = sample(lm, SamplingRequest(prompts=prompts, n=1, max_tokens=6, seed=4, ignore_eos=True))[0]
        text = base.text
        self.assertGreaterEqual(len(text), 2)
        stop = text[1]
        out = sample(lm, SamplingRequest(prompts=prompts, n=1, max_tokens=6, seed=4, ignore_eos=True, stop=[stop]))[0]
        cut = text.find(stop)
        self.assertEqual(out.finish_reason, "stop")
        self.assertEqual(out.stop_reason, stop)
        self.assertEqual(out.text, text[:cut])
        self.assertEqual(out.token_ids, base.token_ids[: cut + 1])

    def test_refusals(self):
        with self.assertRaises(BadRequest):
            sample(self.lm, SamplingRequest(prompts=[[]], n=1))
        with self.assertRaises(BadRequest):
            sample(self.lm, SamplingRequest(prompts=[[1, 500]], n=1))
        with self.assertRaises(BadRequest):
            sample(self.lm, SamplingRequest(prompts=[[1, 5]], n=1, max_tokens=100))


if __name__ == "__main__":
    unittest.main()
