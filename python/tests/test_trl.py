"""TRL adapter against the real server: GRPOTrainer's sampling, rewards and checkpoint hooks on 2 simulated ranks.

What is mimicked (trl GRPOTrainer, accelerate):
- ``_get_train_sampler``: chunks of B prompts, each index repeated G times, each chunk
  ``num_iterations · steps_per_generation`` times; every rank iterates its own sampler;
- accelerate's BatchSamplerShard (split_batches=False): rank r keeps batches r, r+2, ... of
  ``per_device_train_batch_size · steps_per_generation`` rows, and its DataLoaderShard
  fetches one batch ahead;
- one generation per ``steps_per_generation`` steps: the ranks' rows are gathered (rank 0
  first), rewarded, and ``_calculate_rewards``' gathered result goes to the hook;
- resume: HF Trainer skips the batches trained before the checkpoint (skip_first_batches).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import unittest
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import shared
from helpers import BATCH, GROUP, STEPS, SpyClient
from zpd_curriculum.client import ZpdError
from zpd_curriculum.trl import STATE_FILE, ZpdGRPOHooks, zpd_grpo_trainer

RANKS = 2
STEPS_PER_GENERATION = 1  # TRL's default (= gradient_accumulation_steps): each rank's prefetch reaches the next chunk
NUM_ITERATIONS = 1
PER_DEVICE = BATCH * GROUP // (RANKS * STEPS_PER_GENERATION)
LOADER_BATCH = PER_DEVICE * STEPS_PER_GENERATION
REPEAT = NUM_ITERATIONS * STEPS_PER_GENERATION
DATASET = list(range(120))
CHUNKS_PER_EPOCH = len(DATASET) // BATCH
STEPS_PER_EPOCH = CHUNKS_PER_EPOCH * REPEAT * BATCH * GROUP // (LOADER_BATCH * RANKS)
SAVE_AFTER_CHUNK = 25


def rank_batches(sampler: Any, rank: int) -> Iterator[List[int]]:
    """accelerate's view of one rank: its share of the batches, one batch fetched ahead."""

    def mine() -> Iterator[List[int]]:
        it = iter(sampler)
        k = 0
        while True:
            batch = []
            for _ in range(LOADER_BATCH):
                try:
                    batch.append(next(it))
                except StopIteration:
                    return
            if k % RANKS == rank:
                yield batch
            k += 1

    source = mine()
    current = next(source, None)
    while current is not None:
        ahead = next(source, None)
        yield current
        current = ahead


@dataclass
class TrlRun:
    clients: List[SpyClient]
    chunk_selections: List[List[int]] = field(default_factory=list)
    selected_ahead: List[int] = field(default_factory=list)
    checkpoint_dir: Optional[str] = None
    learner_checkpoint: Any = None
    global_step_at_save: int = 0


def train(server: Any, learner: Any, *, resume_dir: Optional[str] = None, resume_step: int = 0,
          save_after_chunk: Optional[int] = None) -> TrlRun:
    total_steps = STEPS * REPEAT
    clients = [SpyClient(server.url, server.token, wait_ahead=10.0) for _ in range(RANKS)]
    hooks = [ZpdGRPOHooks(c, GROUP, BATCH, is_main_process=(r == 0)) for r, c in enumerate(clients)]
    run = TrlRun(clients)
    if resume_dir is not None:
        for h in hooks:  # the main rank restores the server, the others wait for it
            self_check = h.load(resume_dir)
            assert self_check, "checkpoint without zpd_curriculum.json"
    samplers = [h.sampler(DATASET, REPEAT) for h in hooks]
    step = resume_step
    epoch = step // STEPS_PER_EPOCH
    skip = step % STEPS_PER_EPOCH
    while step < total_steps:
        for s in samplers:
            s.set_epoch(epoch)
        loaders = [rank_batches(s, r) for r, s in enumerate(samplers)]
        for _ in range(skip):  # skip_first_batches on resume
            for loader in loaders:
                next(loader)
        skip = 0
        for _ in range(STEPS_PER_EPOCH - (step % STEPS_PER_EPOCH)):
            batches = [next(loader) for loader in loaders]
            if step % (STEPS_PER_GENERATION * NUM_ITERATIONS) == 0:
                rows = [index for batch in batches for index in batch]  # gather: rank 0 first
                prompts = rows[::GROUP]
                assert all(rows[k] == rows[k - k % GROUP] for k in range(len(rows))), "a group spans prompts"
                cursor = step // (STEPS_PER_GENERATION * NUM_ITERATIONS)
                run.chunk_selections.append(prompts)
                outcomes = learner.step(cursor, prompts)
                used: Dict[int, int] = {}
                rewards: List[float] = []
                for p in prompts:
                    group = outcomes[p][used.get(p, 0)]
                    used[p] = used.get(p, 0) + 1
                    rewards.extend(group["rewards"])
                run.selected_ahead.append(hooks[0].ledger.next_select - 1 - cursor)
                for h in hooks:
                    h.on_rewards(rewards, rows)
                if save_after_chunk is not None and cursor == save_after_chunk:
                    run.checkpoint_dir = tempfile.mkdtemp(prefix="trl-checkpoint-")
                    atexit.register(shutil.rmtree, run.checkpoint_dir, True)
                    run.learner_checkpoint = learner.checkpoint()
            step += 1
            if run.checkpoint_dir is not None and run.global_step_at_save == 0 and step % REPEAT == 0:
                hooks[0].save(run.checkpoint_dir)  # _save_checkpoint after the optimizer step (main rank)
                run.global_step_at_save = step
            if step >= total_steps:
                break
        epoch += 1
    return run


def uninterrupted() -> TrlRun:
    if not hasattr(uninterrupted, "result"):
        uninterrupted.result = train(shared.server(), shared.learner(), save_after_chunk=SAVE_AFTER_CHUNK)
    return uninterrupted.result


class TrlAdapterTest(unittest.TestCase):
    def test_fifty_generation_batches_across_two_ranks(self) -> None:
        run = uninterrupted()
        main, other = run.clients
        self.assertEqual(len(run.chunk_selections), STEPS)
        self.assertEqual(sorted(main.observed), list(range(STEPS)))
        self.assertEqual(other.observed, {}, "only the main rank posts outcomes")
        for t in range(STEPS):
            # both ranks got the same journaled chunk, and the gathered rows hold exactly that chunk
            self.assertEqual(main.selected[t], other.selected[t], f"chunk {t}")
            self.assertEqual(sorted(run.chunk_selections[t]), sorted(main.selected[t]), f"chunk {t}")
            groups = main.observed[t]
            self.assertEqual(sorted(g["index"] for g in groups), sorted(main.selected[t]))
            self.assertTrue(all(len(g["rewards"]) == GROUP for g in groups))
        # the dataloaders ran one batch ahead: chunk t+1 was selected before chunk t's rewards were posted,
        # except at the end of an epoch (the next epoch's iterator starts after it)
        want = [0 if (t + 1) % CHUNKS_PER_EPOCH == 0 else 1 for t in range(STEPS)]
        self.assertEqual(run.selected_ahead, want)

    def test_rewards_reach_the_server_under_the_prompt_that_earned_them(self) -> None:
        run = uninterrupted()
        learner = shared.learner()
        for t, prompts in enumerate(run.chunk_selections):
            outcomes = learner.step(t, prompts)
            want = sorted((p, tuple(g["rewards"])) for p, gs in outcomes.items() for g in gs)
            got = sorted((g["index"], tuple(g["rewards"])) for g in run.clients[0].observed[t])
            self.assertEqual(got, want, f"chunk {t}")

    def test_resume_from_checkpoint_continues_with_the_uninterrupted_selections(self) -> None:
        run = uninterrupted()
        self.assertIsNotNone(run.checkpoint_dir)
        with open(os.path.join(run.checkpoint_dir, STATE_FILE), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["server"]["observed"], SAVE_AFTER_CHUNK)
        learner = shared.learner()
        learner.restore(run.learner_checkpoint)
        resumed = train(shared.server(), learner, resume_dir=run.checkpoint_dir, resume_step=run.global_step_at_save)
        main = resumed.clients[0]
        self.assertEqual(min(main.observed), SAVE_AFTER_CHUNK + 1)
        for t in range(SAVE_AFTER_CHUNK + 1, STEPS):
            self.assertEqual(main.selected[t], run.clients[0].selected[t], f"chunk {t} after resume")
            self.assertEqual(main.observed[t], run.clients[0].observed[t], f"chunk {t} outcomes after resume")

    def test_trainer_subclass_wires_sampler_rewards_and_checkpoints(self) -> None:
        server = shared.server()
        learner = shared.learner()
        trainer_class = zpd_grpo_trainer(FakeGRPOTrainer, url=server.url, token=server.token)
        self.assertEqual(trainer_class.__name__, "ZpdFakeGRPOTrainer")
        out = tempfile.mkdtemp(prefix="trl-out-")
        self.addCleanup(shutil.rmtree, out, True)
        trainer = trainer_class(out)
        sampler = trainer._get_train_sampler()
        spy = SpyClient(server.url, server.token)
        trainer.zpd_hooks.ledger.client = spy
        rows = iter(sampler)
        repeat = trainer.num_iterations * trainer.args.steps_per_generation
        for cursor in range(3):
            chunk = [next(rows) for _ in range(BATCH * GROUP)]
            for _ in range(repeat - 1):  # the chunk again, for the other steps of the generation
                self.assertEqual([next(rows) for _ in range(BATCH * GROUP)], chunk)
            prompts = chunk[::GROUP]
            outcomes = learner.step(cursor, prompts)
            per_row = []
            used: Dict[int, int] = {}
            for p in prompts:
                group = outcomes[p][used.get(p, 0)]
                used[p] = used.get(p, 0) + 1
                per_row.extend([r, 0.5] for r in group["rewards"])  # two reward functions
            trainer.next_rewards = per_row
            trainer._calculate_rewards([{"prompt": "x"}] * len(chunk), [], [], [])
            trainer.state.global_step = cursor + 1
            trainer._save_checkpoint(None, None)
        trainer.model.training = False  # evaluation batches are not the curriculum's
        trainer.next_rewards = [[1.0, 1.0]] * 4
        trainer._calculate_rewards([{"prompt": "x"}] * 4, [], [], [])
        status = server.client().health()
        self.assertEqual(status["observed"], 2)
        saved = os.path.join(out, "checkpoint-3", STATE_FILE)
        with open(saved, encoding="utf-8") as f:
            self.assertEqual(json.load(f)["server"]["observed"], 2)
        # the server's metrics of each posted generation batch land in TRL's train metrics
        self.assertEqual(len(trainer._metrics["train"]["zpd/reward_mean"]), 3)
        self.assertEqual(trainer._metrics["eval"], {})
        last = [r for g in spy.observed[2] for r in g["rewards"]]
        self.assertAlmostEqual(trainer._metrics["train"]["zpd/reward_mean"][-1], sum(last) / len(last))
        # the posted reward is TRL's weighted sum over reward functions (weights 1 and 2): r + 2·0.5
        self.assertEqual(sorted(spy.observed), [0, 1, 2])
        for g in spy.observed[0]:
            self.assertTrue(all(r in (1.0, 2.0) for r in g["rewards"]), g["rewards"])
        fresh_trainer = trainer_class(out)
        fresh_trainer._load_optimizer_and_scheduler(None)  # not resuming: the server is left alone
        self.assertEqual(server.client().health()["observed"], 2)
        fresh_trainer._load_optimizer_and_scheduler(os.path.join(out, "checkpoint-2"))
        self.assertEqual(server.client().health()["observed"], 1)
        self.assertEqual(fresh_trainer.zpd_hooks.ledger.next_select, 2)

    def test_on_rewards_refuses_a_batch_of_the_wrong_size(self) -> None:
        server = shared.server()
        hooks = ZpdGRPOHooks(server.client(), GROUP, BATCH)
        next(iter(hooks.sampler(DATASET, REPEAT)))
        with self.assertRaisesRegex(ZpdError, r"31 gathered rewards at step 0, expected 8 prompts × 4"):
            hooks.on_rewards([0.0] * 31)


class _Namespace:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class FakeGRPOTrainer:
    """The GRPOTrainer surface the subclass touches (attributes and the four overridden methods)."""

    def __init__(self, output_dir: str) -> None:
        self.args = _Namespace(
            generation_batch_size=BATCH * GROUP, steps_per_generation=2,
            should_save=True, output_dir=output_dir,
        )
        self.num_generations = GROUP
        self.num_iterations = NUM_ITERATIONS
        self.accelerator = _Namespace(is_main_process=True)
        self.train_dataset = DATASET
        self.model = _Namespace(training=True)
        self.reward_weights = [1.0, 2.0]
        self.state = _Namespace(global_step=0)
        self.next_rewards: List[List[float]] = []
        self.saved: List[str] = []
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}

    def _get_train_sampler(self, dataset: Any = None) -> Any:
        raise AssertionError("replaced by the subclass")

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # type: ignore[no-untyped-def]
        return self.next_rewards

    def _get_output_dir(self, trial: Any) -> str:
        return self.args.output_dir

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        path = os.path.join(self.args.output_dir, f"checkpoint-{self.state.global_step}")
        os.makedirs(path, exist_ok=True)
        self.saved.append(path)

    def _load_optimizer_and_scheduler(self, checkpoint: Optional[str]) -> None:
        pass


if __name__ == "__main__":
    unittest.main()
