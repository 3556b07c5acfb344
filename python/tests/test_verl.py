"""verl adapter against the real server: 50 steps the way verl's fit() drives a curriculum sampler."""

from __future__ import annotations

import io
import unittest
from collections import Counter

import torch

import shared
import verl_driver
from helpers import BATCH, GROUP, STEPS, SpyClient, read_ids, write_difficulties
from zpd_curriculum.client import ZpdError
from zpd_curriculum.verl import ZpdCurriculumSampler

SAVE_AT = 21  # verl global step (1-based) whose checkpoint the resume test starts from


def uninterrupted():
    """The 50-step run (cached: the kill -9 test compares against it)."""
    if not hasattr(uninterrupted, "result"):
        server = shared.server()
        client = SpyClient(server.url, server.token)
        dataset = verl_driver.FakeRLHFDataset(120)
        sampler = ZpdCurriculumSampler(dataset, verl_driver.data_config(server.url, server.token), client=client)
        learner = shared.learner()
        run = verl_driver.fit(sampler, learner, STEPS, save_at=SAVE_AT)
        run.last_metrics = sampler.last_metrics
        uninterrupted.result = (run, client, learner.checkpoint(), server.client().health())
    return uninterrupted.result


def restarted(server):
    """verl restarted from the checkpoint of step SAVE_AT against ``server``: the uninterrupted run, and the
    restarted driver's spy client, sampler and learner (restored to its checkpoint)."""
    run, _, _, _ = uninterrupted()
    client = SpyClient(server.url, server.token)
    sampler = ZpdCurriculumSampler(
        verl_driver.FakeRLHFDataset(120), verl_driver.data_config(server.url, server.token), client=client
    )
    learner = shared.learner()
    learner.restore(run.learner_checkpoint)
    return run, client, sampler, learner


class VerlAdapterTest(unittest.TestCase):
    def test_fifty_steps_send_each_selected_prompt_its_own_outcomes(self) -> None:
        run, client, _, health = uninterrupted()
        self.assertEqual(len(run.selections), STEPS)
        self.assertEqual(sorted(client.selected), list(range(STEPS)))
        self.assertEqual(sorted(client.observed), list(range(STEPS)))
        for t in range(STEPS):
            self.assertEqual(run.selections[t], client.selected[t], f"step {t}: the sampler yielded another batch")
            self.assertEqual(len(client.selected[t]), BATCH)
            groups = client.observed[t]
            self.assertEqual(Counter(g["index"] for g in groups), Counter(client.selected[t]), f"step {t}")
            for g in groups:
                self.assertEqual(len(g["rewards"]), GROUP)
                self.assertEqual(len(g["advantages"]), GROUP)
                self.assertEqual(g["correct"], [1 if r > 0 else 0 for r in g["rewards"]])
                self.assertEqual(g["extra"]["acc"], [float(c) for c in g["correct"]])
        self.assertEqual(health["observed"], STEPS - 1)
        # the server's metrics of the last step are computed from what update() posted (acc as extra)
        last = client.observed[STEPS - 1]
        rewards = [r for g in last for r in g["rewards"]]
        self.assertAlmostEqual(run.last_metrics["reward_mean"], sum(rewards) / len(rewards))
        acc = [a for g in last for a in g["extra"]["acc"]]
        self.assertAlmostEqual(run.last_metrics["acc_mean"], sum(acc) / len(acc))

    def test_rewards_reach_the_server_under_the_prompt_that_earned_them(self) -> None:
        # Replays the learner from its initial policy on the recorded batches: the outcomes must match
        # what the adapter posted for each index (rows were reordered before update, as balance_batch does).
        run, client, _, _ = uninterrupted()
        learner = shared.learner()
        for t, positions in enumerate(run.selections):
            outcomes = learner.step(t + 1, positions)
            want = Counter()
            for position, groups in outcomes.items():
                for g in groups:
                    want[(position, tuple(sorted(g["rewards"])))] += 1
            got = Counter((g["index"], tuple(sorted(g["rewards"]))) for g in client.observed[t])
            self.assertEqual(got, want, f"step {t}")
        # The advantages are verl's: zero-mean per group, and zero where the group's rewards are all equal.
        for t in range(STEPS):
            for g in client.observed[t]:
                self.assertAlmostEqual(sum(g["advantages"]), 0.0, places=4)
                if len(set(g["rewards"])) == 1:
                    self.assertEqual(g["advantages"], [0.0] * GROUP)

    def test_resume_from_verl_checkpoint_on_a_fresh_server(self) -> None:
        fresh = shared.fresh_server()
        run, client, sampler, learner = restarted(fresh)
        self.assertIsNotNone(run.checkpoint)
        saved = torch.load(io.BytesIO(run.checkpoint), weights_only=False)
        self.assertEqual(saved["sampler_state"]["ledger"]["server"], run.server_state_at_checkpoint)
        # verl checkpoints after training step SAVE_AT and before update(): the step is unobserved in the
        # checkpoint, and a server that never saw its outcomes cannot re-apply them, so it is selected again
        # (the journaled batch) and trained once more, with a warning.
        with self.assertWarnsRegex(RuntimeWarning, r"step\(s\) \[20\]"):
            resumed = verl_driver.fit(sampler, learner, STEPS, start_step=SAVE_AT, loader_state=run.checkpoint)
        cursor = SAVE_AT - 1
        self.assertEqual(resumed.selections[0], run.selections[cursor])
        self.assertEqual(min(client.selected), cursor)
        self.assertEqual(len(resumed.selections), STEPS - SAVE_AT)
        self.assertEqual(fresh.client().health()["observed"], cursor + len(resumed.selections) - 1)

    def test_resume_on_the_server_that_saw_the_step_trains_no_step_twice(self) -> None:
        # The trainer crashed after step 50; the server kept running. Its outcomes of step SAVE_AT (sent by
        # update() after the save) are re-applied on restore, and the resumed run is the uninterrupted one.
        server = shared.server()
        run, client, sampler, learner = restarted(server)
        resumed = verl_driver.fit(sampler, learner, STEPS, start_step=SAVE_AT, loader_state=run.checkpoint)
        self.assertEqual(len(resumed.selections), STEPS - SAVE_AT)
        self.assertEqual(resumed.selections, run.selections[SAVE_AT:])
        self.assertEqual(min(client.selected), SAVE_AT)
        self.assertEqual(server.client().health()["observed"], STEPS - 1)

    def test_restored_server_reports_the_checkpointed_state(self) -> None:
        run, _, _, _ = uninterrupted()
        fresh = shared.server()
        sampler = ZpdCurriculumSampler(
            verl_driver.FakeRLHFDataset(120), verl_driver.data_config(fresh.url, fresh.token)
        )
        saved = torch.load(io.BytesIO(run.checkpoint), weights_only=False)
        self.assertEqual(saved["sampler_state"]["trained"], [SAVE_AT - 1])
        sampler.load_state_dict(saved["sampler_state"])
        # The checkpoint's state plus the re-applied outcomes of step SAVE_AT (cursor SAVE_AT - 1).
        state = fresh.client().state()
        checkpointed = run.server_state_at_checkpoint
        self.assertEqual(checkpointed["observed"], SAVE_AT - 2)
        self.assertEqual(state["observed"], SAVE_AT - 1)
        self.assertNotEqual(state["curriculum"], checkpointed["curriculum"])
        self.assertEqual(sampler.ledger.next_select, SAVE_AT)

    def test_bad_input_is_refused_by_name(self) -> None:
        server = shared.server()
        config = verl_driver.data_config(server.url, server.token)
        with self.assertRaisesRegex(ZpdError, "serves 120 problems, verl's dataset has 119 rows"):
            ZpdCurriculumSampler(verl_driver.FakeRLHFDataset(119), config)
        sampler = ZpdCurriculumSampler(verl_driver.FakeRLHFDataset(120), config)
        next(iter(sampler))
        with self.assertRaisesRegex(ZpdError, "non_tensor_batch has no 'uid'"):
            sampler.update(batch=verl_driver.FakeDataProto(batch={}, non_tensor_batch={}))

    def test_adacurl_bucket_merges_reach_the_trainer(self) -> None:
        difficulties = write_difficulties(shared.data())
        server = shared.fresh_server(curriculum="adacurl", extra=["--difficulties", difficulties])
        client = SpyClient(server.url, server.token)
        sampler = ZpdCurriculumSampler(
            verl_driver.FakeRLHFDataset(120), verl_driver.data_config(server.url, server.token), client=client
        )
        delivered = []
        sampler.ledger.on_events = lambda events: delivered.append((sampler.ledger.next_observe - 1, events))
        verl_driver.fit(sampler, shared.learner(), STEPS)
        replied = [(t, r["events"]) for t, r in sorted(client.replies.items()) if r["events"]]
        self.assertEqual(delivered, replied)
        merges = [(t, e) for t, events in delivered for e in events if e["_tag"] == "BucketMerged"]
        self.assertGreaterEqual(len(merges), 1, "AdaCuRL merged no bucket in 50 steps on the simulated learner")
        for t, event in merges:
            self.assertEqual(event["step"], t + 1, "an event's zpd step is its cursor + 1")

    def test_id_key_attaches_a_dataset_in_another_order(self) -> None:
        served_ids = read_ids(shared.data())
        ids = list(reversed(served_ids))  # verl's row p is served position 119 − p
        served = [served_ids.index(i) for i in ids]
        server = shared.server()
        client = SpyClient(server.url, server.token)
        config = verl_driver.data_config(server.url, server.token)
        config["sampler"]["id_key"] = "extra_info.id"
        sampler = ZpdCurriculumSampler(verl_driver.FakeRLHFDataset(120, ids), config, client=client)
        self.assertTrue(server.client().health()["attached"])
        run = verl_driver.fit(sampler, shared.learner(), 10, served=served)
        for t, positions in enumerate(run.selections):
            # the server's ids for the step are the problems verl's rows hold
            self.assertEqual([ids[p] for p in positions], client.select_ids[t], f"step {t}")
        self.assertEqual(server.client().health()["observed"], 9)

    def test_module_loads_from_its_file_path_as_older_verl_does(self) -> None:
        # verl < pkg:// support: importlib.util.spec_from_file_location("custom_module", class_path)
        import importlib.util
        import os

        path = os.path.join(os.path.dirname(verl_driver.__file__), "..", "zpd_curriculum", "verl.py")
        spec = importlib.util.spec_from_file_location("custom_module", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertTrue(hasattr(module.ZpdCurriculumSampler, "update"))
        self.assertTrue(hasattr(module.ZpdCurriculumSampler, "state_dict"))


if __name__ == "__main__":
    unittest.main()
