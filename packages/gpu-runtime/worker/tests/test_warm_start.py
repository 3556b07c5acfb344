"""The supervised warm start (zpd_worker.warm_start): it teaches, resets the reference,
and refuses what it cannot do."""

import random
import unittest

import torch

import helpers
from zpd_worker.sampling import BadRequest, SamplingRequest, sample
from zpd_worker.trainer import Trainer
from zpd_worker.warm_start import _examples, expected_accuracy, warm_start


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

    def test_until_goes_on_to_the_competence_target_and_no_further(self):
        check = copy_examples(100, seed=98)
        # one short pass leaves the copy task unsolved; `until` continues, cycling the same examples
        trainer = Trainer(helpers.tiny(0), lr=1e-3)
        short = copy_examples(64 * 10, seed=1)
        res = warm_start(trainer, {"examples": short, "batchSize": 64, "learningRate": 3e-3,
                                   "until": {"examples": check, "accuracy": 0.8, "every": 5, "maxSteps": 200}})
        measured = expected_accuracy(trainer.lm, _examples(trainer.lm, check))
        self.assertGreater(res["steps"], 10)
        self.assertLess(res["steps"], 200)
        self.assertEqual(res["steps"] % 5, 0)  # it stops at a check
        self.assertGreaterEqual(res["checkAccuracy"], 0.8)
        self.assertAlmostEqual(res["checkAccuracy"], measured, places=5)
        # five batches earlier the target was not reached: it stopped at the first check that met it
        again = Trainer(helpers.tiny(0), lr=1e-3)
        warm_start(again, {"examples": short, "batchSize": 64, "learningRate": 3e-3,
                           "until": {"examples": check, "accuracy": 0.99, "every": 5, "maxSteps": res["steps"] - 5}})
        self.assertLess(expected_accuracy(again.lm, _examples(again.lm, check)), 0.8)
        # an unreachable target stops at maxSteps; a target met by the first pass adds nothing
        capped = warm_start(Trainer(helpers.tiny(0), lr=1e-3),
                            {"examples": short, "until": {"examples": check, "accuracy": 1.0, "maxSteps": 23}})
        self.assertEqual(capped["steps"], 23)
        met = warm_start(Trainer(helpers.tiny(0), lr=1e-3),
                         {"examples": short, "until": {"examples": check, "accuracy": 0.01, "maxSteps": 500}})
        self.assertEqual(met["steps"], 10)
        self.assertIsNone(warm_start(Trainer(helpers.tiny(0), lr=1e-3), {"examples": short})["checkAccuracy"])

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
            ({"examples": copy_examples(2, 0), "until": 3}, "until: expected {examples, accuracy"),
            ({"examples": copy_examples(2, 0), "until": {"examples": [], "accuracy": 0.5, "maxSteps": 5}},
             "until.examples: expected a non-empty array"),
            ({"examples": copy_examples(2, 0), "until": {"examples": copy_examples(2, 1), "accuracy": 1.5,
                                                         "maxSteps": 5}}, "until.accuracy: expected a number in (0, 1]"),
            ({"examples": copy_examples(2, 0), "until": {"examples": copy_examples(2, 1), "accuracy": 0.5,
                                                         "every": 0, "maxSteps": 5}}, "until.every: expected an integer >= 1"),
            ({"examples": copy_examples(2, 0), "until": {"examples": copy_examples(2, 1), "accuracy": 0.5}},
             "until.maxSteps: expected an integer >= 1"),
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
