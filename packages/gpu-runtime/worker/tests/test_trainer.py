import os
import tempfile
import unittest

import torch
import torch.nn.functional as F

import helpers
from zpd_worker.sampling import BadRequest
from zpd_worker.trainer import Trainer


def train_steps(trainer, lm, first, count, kl="sparse", kl_coef=0.1):
    """`count` GRPO steps from step `first`: rollouts seeded by the step, rewards from the task."""
    results = []
    for step in range(first, first + count):
        req, answers, out = helpers.rollout(lm, count=4, n=4, seed=100 + step, offset=step * 4)
        samples = helpers.to_samples(req, answers, out, kl=kl)
        results.append(trainer.update({"step": step, "samples": samples, "loss": helpers.loss(kl_coef)}))
    return results


def moved_trainer(seed=0, lr=3e-2, steps=3):
    lm = helpers.tiny(seed)
    trainer = Trainer(lm, lr=lr)
    # rewards with variance in every group, so the policy surely moves away from the reference
    for step in range(1, steps + 1):
        req, answers, out = helpers.rollout(lm, count=4, n=4, seed=step)
        rewards = [[1.0, 0.0, 1.0, 0.0]] * 4
        trainer.update({"step": step, "samples": helpers.to_samples(req, answers, out, rewards=rewards),
                        "loss": helpers.loss(0.0)})
    return lm, trainer


class LossTest(unittest.TestCase):
    def test_loss_matches_an_independent_computation(self):
        for aggregation in ("token-mean", "seq-mean"):
            lm, trainer = moved_trainer()
            req, answers, out = helpers.rollout(lm, count=3, n=4, seed=9, max_tokens=3)
            rewards = [[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]]
            samples = helpers.to_samples(req, answers, out, kl="dense", rewards=rewards)
            # perturb the sampling logprobs so that some ratios leave the clip range
            for k, s in enumerate(samples):
                sign = 1.0 if s["advantages"][-1] > 0 else -1.0
                shift = (-0.5 * sign, 0.5 * sign, 0.0)[k % 3]  # push ratios out of [1 - eps, 1 + eps] both ways
                s["samplingLogprobs"] = [x + (shift if m else 0.0) for x, m in zip(s["samplingLogprobs"], s["lossMask"])]
            beta, eps = 0.3, 0.2
            expected, n_tok, per_seq = 0.0, 0, []
            with torch.no_grad():
                for s in samples:
                    ids = torch.tensor([s["tokenIds"]])
                    lp = F.log_softmax(lm.logits(lm.module, ids, torch.ones_like(ids))[0, :-1], -1)
                    lp = lp.gather(1, ids[0, 1:, None]).squeeze(1)
                    rf = F.log_softmax(lm.logits(trainer.reference, ids, torch.ones_like(ids))[0, :-1], -1)
                    rf = rf.gather(1, ids[0, 1:, None]).squeeze(1)
                    total, count = 0.0, 0
                    for t in range(1, len(s["tokenIds"])):
                        if not s["lossMask"][t]:
                            continue
                        r = torch.exp(lp[t - 1] - s["samplingLogprobs"][t]).item()
                        a = s["advantages"][t]
                        pg = -min(r * a, min(max(r, 1 - eps), 1 + eps) * a)
                        d = (rf[t - 1] - lp[t - 1]).item()
                        total += pg + beta * s["klWeight"][t] * (torch.exp(torch.tensor(d)).item() - d - 1)
                        count += 1
                    expected += total
                    n_tok += count
                    per_seq.append(total / count)
            expected = expected / n_tok if aggregation == "token-mean" else sum(per_seq) / len(per_seq)
            res = trainer.update({"step": 10, "samples": samples, "loss": helpers.loss(beta, eps, aggregation)})
            self.assertAlmostEqual(res["metrics"]["loss"], expected, places=5, msg=aggregation)
            self.assertGreater(res["metrics"]["clipfrac"], 0.0)
            self.assertGreater(res["metrics"]["kl_mean"], 0.0)
            self.assertEqual(res["policyVersion"], 4)

    def test_first_step_is_on_policy(self):
        lm = helpers.tiny(1)
        trainer = Trainer(lm, lr=1e-3)
        req, answers, out = helpers.rollout(lm, count=4, n=4, seed=3, temperature=0.7)
        res = trainer.update({"step": 1, "samples": helpers.to_samples(req, answers, out, temperature=0.7),
                              "loss": helpers.loss(0.1)})
        m = res["metrics"]
        self.assertAlmostEqual(m["ratio_mean"], 1.0, places=5)
        self.assertLess(m["ratio_max"], 1.0 + 1e-4)
        self.assertEqual(m["kl_mean"], 0.0)
        self.assertEqual(m["clipfrac"], 0.0)
        self.assertEqual(res["policyVersion"], 1)

    def test_zero_variance_group_moves_nothing(self):
        lm = helpers.tiny(2)
        trainer = Trainer(lm, lr=1e-2)
        before = helpers.params(lm)
        req, answers, out = helpers.rollout(lm, count=2, n=4, seed=3)
        samples = helpers.to_samples(req, answers, out, kl="sparse", rewards=[[0.0] * 4, [1.0] * 4])
        res = trainer.update({"step": 1, "samples": samples, "loss": helpers.loss(0.5)})
        self.assertEqual(res["metrics"]["grad_norm"], 0.0)
        for k, v in helpers.params(lm).items():
            self.assertTrue(torch.equal(v, before[k]), k)


class KlTest(unittest.TestCase):
    def test_sparse_kl_zero_variance_group_contributes_exactly_zero(self):
        lm, trainer = moved_trainer()
        req, answers, out = helpers.rollout(lm, count=3, n=4, seed=21)
        rewards = [[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
        sparse = trainer.update({"step": 4, "samples": helpers.to_samples(req, answers, out, kl="sparse",
                                                                          rewards=rewards), "loss": helpers.loss(0.1)})
        dense = trainer.update({"step": 5, "samples": helpers.to_samples(req, answers, out, kl="dense",
                                                                         rewards=rewards), "loss": helpers.loss(0.1)})
        self.assertEqual(sparse["groupKl"][1], 0.0)
        self.assertEqual(sparse["groupKl"][2], 0.0)
        self.assertGreater(sparse["groupKl"][0], 0.0)
        self.assertGreater(dense["groupKl"][1], 0.0)
        self.assertGreater(dense["groupKl"][2], 0.0)

    def test_reset_reference_zeroes_the_next_kl(self):
        lm, trainer = moved_trainer()
        res = train_steps(trainer, lm, 4, 1, kl="dense")[0]
        self.assertGreater(res["metrics"]["kl_mean"], 1e-4)
        reply = trainer.reset_reference()
        self.assertEqual(reply, {"policyVersion": 4, "referenceVersion": 4})
        res = train_steps(trainer, lm, 5, 1, kl="dense")[0]
        self.assertLess(abs(res["metrics"]["kl_mean"]), 1e-7)
        self.assertTrue(all(abs(g) < 1e-7 for g in res["groupKl"]))


class CheckpointTest(unittest.TestCase):
    def test_checkpoint_restore_continue_equals_uninterrupted(self):
        with tempfile.TemporaryDirectory() as d:
            lm_a = helpers.tiny(4)
            a = Trainer(lm_a, lr=1e-2, checkpoint_dir=d)
            train_steps(a, lm_a, 1, 3)
            ref = a.checkpoint("step-3")
            self.assertTrue(os.path.isfile(ref["path"]))
            self.assertEqual(ref["policyVersion"], 3)
            self.assertEqual([f for f in os.listdir(d) if f.endswith(".tmp")], [])
            cont_a = train_steps(a, lm_a, 4, 3)

            lm_b = helpers.tiny(99)  # a different initialisation: restore must overwrite it all
            b = Trainer(lm_b, lr=1e-2, checkpoint_dir=d)
            self.assertEqual(b.restore(ref["path"])["policyVersion"], 3)
            cont_b = train_steps(b, lm_b, 4, 3)
            self.assertEqual(cont_a, cont_b)
            self.assertEqual(a.digest(), b.digest())
            for k, v in helpers.params(lm_a).items():
                self.assertTrue(torch.equal(v, helpers.params(lm_b)[k]), k)

    def test_restore_refuses_other_files(self):
        lm = helpers.tiny()
        t = Trainer(lm)
        with self.assertRaises(BadRequest):
            t.restore("/nonexistent.pt")
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.pt")
            torch.save({"hello": 1}, p)
            with self.assertRaises(BadRequest):
                t.restore(p)
            with self.assertRaises(BadRequest):
                t.load_weights(p, 3)
            garbage = os.path.join(d, "garbage.pt")
            with open(garbage, "wb") as f:
                f.write(b"not a torch file")
            with self.assertRaises(BadRequest):
                t.restore(garbage)
            # a checkpoint of the old pickle format (torch.save) is refused too: nothing is unpickled
            legacy = os.path.join(d, "legacy.pt")
            torch.save({"format": "zpd-worker-checkpoint/1", "policy": lm.module.state_dict()}, legacy)
            with self.assertRaises(BadRequest) as e:
                t.restore(legacy)
            self.assertIn("not a safetensors file", str(e.exception))
            self.assertEqual(t.version, 0)

    def test_a_repeated_update_is_a_replay(self):
        lm = helpers.tiny()
        t = Trainer(lm, lr=1e-2)
        req, answers, out = helpers.rollout(lm, seed=1)
        body = {"step": 1, "samples": helpers.to_samples(req, answers, out, rewards=[[1.0, 0.0, 0.0, 0.0]] * 4),
                "loss": helpers.loss(0.0)}
        first = t.update(body, digest="abc")
        after = helpers.params(lm)
        again = t.update(body, digest="abc")
        self.assertTrue(again["replayed"])
        self.assertEqual(again["policyVersion"], first["policyVersion"])
        for k, v in helpers.params(lm).items():
            self.assertTrue(torch.equal(v, after[k]))
        self.assertEqual(t.update(body, digest="other")["policyVersion"], 2)

    def test_validation(self):
        lm = helpers.tiny()
        t = Trainer(lm)
        good = {"tokenIds": [1, 5, 6], "lossMask": [False, False, True], "samplingLogprobs": [0, 0, -1.0],
                "advantages": [0, 0, 1.0], "klWeight": [0, 0, 1.0], "temperature": 1.0}
        for bad in ({"lossMask": [True, False, True]}, {"advantages": [0, 1.0]}, {"temperature": 0},
                    {"tokenIds": [1, 5, 999]}):
            with self.assertRaises(BadRequest):
                t.update({"step": 1, "samples": [dict(good, **bad)], "loss": helpers.loss()})
        with self.assertRaises(BadRequest):
            t.update({"step": 1, "samples": [good], "loss": helpers.loss(aggregation="sum")})
        self.assertEqual(t.version, 0)


if __name__ == "__main__":
    unittest.main()
