"""The supervised warm start (zpd_worker.warm_start): it teaches, resets the reference,
and refuses what it cannot do."""

import random
import unittest

import torch

import helpers
from zpd_worker.sampling import BadRequest, SamplingRequest, sample
from zpd_worker.trainer import Trainer
from zpd_worker.warm_start import warm_start


def copy_examples(count, seed):
    """'<prefix>|d=' -> 'd': copy the digit after the bar (level 1 of the suffix-sum task)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        prefix = "".join(rng.choice("0123") for _ in range(rng.randint(2, 4)))
        d = rng.choice("0123")
        out.append({"prompt": f"{prefix}|{d}=", "answer": d})
    return out


def greedy_accuracy(lm, examples):
    req = SamplingRequest(prompts=[lm.tokenizer.encode(e["prompt"]) for e in examples], n=1, temperature=0,
                          max_tokens=1, seed=0)
    return sum(s.text == e["answer"] for s, e in zip(sample(lm, req), examples)) / len(examples)


class WarmStartTest(unittest.TestCase):
    def test_learns_the_examples_and_resets_the_reference(self):
        lm = helpers.tiny(0)
        trainer = Trainer(lm, lr=1e-3)
        held_out = copy_examples(100, seed=99)
        before = greedy_accuracy(lm, held_out)
        res = warm_start(trainer, {"examples": copy_examples(64 * 60, seed=1), "batchSize": 64,
                                   "learningRate": 3e-3})
        after = greedy_accuracy(lm, held_out)
        self.assertEqual(res["steps"], 60)
        self.assertEqual((res["policyVersion"], res["referenceVersion"]), (0, 0))
        self.assertLess(res["lossLast"], res["lossFirst"] - 1.0)
        self.assertLess(before, 0.5)
        self.assertGreater(after, 0.9)
        # the reference now equals the warm-started policy: zero KL on the next update
        req, answers, out = helpers.rollout(lm, count=4, n=4, seed=3)
        upd = trainer.update({"step": 1, "samples": helpers.to_samples(req, answers, out, kl="dense"),
                              "loss": helpers.loss(0.1)})
        self.assertLess(abs(upd["metrics"]["kl_mean"]), 1e-6)

    def test_is_deterministic(self):
        digests = []
        for _ in range(2):
            trainer = Trainer(helpers.tiny(4), lr=1e-3)
            warm_start(trainer, {"examples": copy_examples(40, seed=2), "batchSize": 8})
            digests.append(trainer.digest())
        self.assertEqual(digests[0], digests[1])

    def test_refuses_bad_requests_and_runs_after_an_update(self):
        trainer = Trainer(helpers.tiny(0), lr=1e-3)
        bad = [
            ({}, "examples: expected a non-empty array"),
            ({"examples": [{"prompt": "1|2="}]}, "examples[0]: expected {prompt: string, answer: string}"),
            ({"examples": [{"prompt": "1|2=", "answer": ""}]}, "examples[0].answer: expected at least one token"),
            ({"examples": [{"prompt": "1" * 70, "answer": "1"}]}, "exceed the model's context"),
            ({"examples": copy_examples(2, 0), "batchSize": 0}, "batchSize: expected an integer >= 1"),
            ({"examples": copy_examples(2, 0), "learningRate": -1}, "learningRate: expected a number > 0"),
            ({"examples": copy_examples(2, 0), "epochs": 1.5}, "epochs: expected an integer >= 1"),
        ]
        for body, message in bad:
            with self.assertRaises(BadRequest) as ctx:
                warm_start(trainer, body)
            self.assertIn(message, str(ctx.exception))
        req, answers, out = helpers.rollout(trainer.lm, count=2, n=2, seed=1)
        trainer.update({"step": 1, "samples": helpers.to_samples(req, answers, out), "loss": helpers.loss()})
        with self.assertRaises(BadRequest) as ctx:
            warm_start(trainer, {"examples": copy_examples(2, 0)})
        self.assertIn("only before the first update (policy version is 1)", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
