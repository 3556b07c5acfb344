"""prime-rl adapter against the real server: tasks drawn one at a time, groups observed out of order.

What is mimicked (prime_rl/orchestrator/curriculum): ``next(sampler)`` per task, one
``observe(group)`` per finalized group (a list of episodes of one task, each with traces
carrying a reward; non-trainable traces are ignored), the orchestrator keeping the next
step's tasks in flight before the current step's groups come back, the sampler state
saved in the orchestrator checkpoint. The taskset is in another order than the served
file, so the sampler attaches its task keys.
"""

from __future__ import annotations

import json
import random
import unittest
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import shared
from helpers import BATCH, GROUP, STEPS, SpyClient, read_ids
from zpd_curriculum.client import ZpdError
from zpd_curriculum.prime_rl import ZpdTaskSampler

SAVE_AFTER = 25


@dataclass
class Task:
    key: str


@dataclass
class Agent:
    trainable: bool


@dataclass
class Trace:
    reward: float
    agent: Agent
    has_error: bool = False
    num_turns: int = 1


@dataclass
class Episode:
    task: Task
    traces: List[Trace]
    ok: bool = True


def taskset() -> List[Task]:
    ids = read_ids(shared.data())
    random.Random(3).shuffle(ids)
    return [Task(key) for key in ids]


@dataclass
class PrimeRun:
    client: SpyClient
    sampler: ZpdTaskSampler
    drawn: List[List[str]] = field(default_factory=list)
    rewards: Dict[int, Dict[str, List[List[float]]]] = field(default_factory=dict)
    state: Optional[str] = None
    learner_checkpoint: Any = None
    metrics: Dict[str, float] = field(default_factory=dict)


def orchestrate(server: Any, learner: Any, *, start: int = 0, state: Optional[str] = None,
                save_after: Optional[int] = None) -> PrimeRun:
    served = {key: i for i, key in enumerate(read_ids(shared.data()))}
    client = SpyClient(server.url, server.token)
    sampler = ZpdTaskSampler(taskset(), BATCH, client=client)
    if state is not None:
        sampler.load_state_dict(json.loads(state))
    run = PrimeRun(client, sampler)
    in_flight = [next(sampler) for _ in range(BATCH)]
    for t in range(start, STEPS):
        tasks = in_flight
        run.drawn.append([task.key for task in tasks])
        outcomes = learner.step(t, [served[task.key] for task in tasks])
        used: Dict[int, int] = {}
        groups = []
        for task in tasks:
            position = served[task.key]
            g = outcomes[position][used.get(position, 0)]
            used[position] = used.get(position, 0) + 1
            run.rewards.setdefault(t, {}).setdefault(task.key, []).append(g["rewards"])
            episodes = [
                Episode(task, [Trace(r, Agent(True)), Trace(99.0, Agent(False))]) for r in g["rewards"]
            ]
            groups.append(episodes)
        in_flight = [next(sampler) for _ in range(BATCH)]  # the next step's rollouts start first
        order = list(range(len(groups)))
        random.Random(t).shuffle(order)  # groups finish in any order
        for k in order:
            sampler.observe(groups[k])
        if save_after is not None and t == save_after:
            run.state = json.dumps(sampler.state_dict())
            run.learner_checkpoint = learner.checkpoint()
    run.metrics = sampler.metrics()
    return run


def uninterrupted() -> PrimeRun:
    if not hasattr(uninterrupted, "result"):
        uninterrupted.result = orchestrate(shared.server(), shared.learner(), save_after=SAVE_AFTER)
    return uninterrupted.result


class PrimeRlAdapterTest(unittest.TestCase):
    def test_fifty_steps_of_tasks_and_groups(self) -> None:
        run = uninterrupted()
        tasks = taskset()
        self.assertEqual(sorted(run.client.observed), list(range(STEPS)))
        for t in range(STEPS):
            drawn = run.drawn[t]
            self.assertEqual(drawn, [tasks[i].key for i in run.client.selected[t]], f"step {t}")
            got = sorted((tasks[g["index"]].key, tuple(g["rewards"])) for g in run.client.observed[t])
            want = sorted((key, tuple(r)) for key, rs in run.rewards[t].items() for r in rs)
            self.assertEqual(got, want, f"step {t}: each group must carry its own task's trainable rewards")
            self.assertTrue(all(len(g["rewards"]) == GROUP for g in run.client.observed[t]))
        # the server's metrics of the last step are computed from what the sampler posted
        last = [r for g in run.client.observed[STEPS - 1] for r in g["rewards"]]
        self.assertAlmostEqual(run.metrics["reward_mean"], sum(last) / len(last))

    def test_checkpoint_resume_continues_with_the_uninterrupted_selections(self) -> None:
        run = uninterrupted()
        self.assertIsNotNone(run.state)
        learner = shared.learner()
        learner.restore(run.learner_checkpoint)
        resumed = orchestrate(shared.server(), learner, start=SAVE_AFTER + 1, state=run.state)
        for t in range(SAVE_AFTER + 1, STEPS):
            self.assertEqual(resumed.client.selected[t], run.client.selected[t], f"step {t} after resume")
        self.assertEqual(resumed.drawn, run.drawn[SAVE_AFTER + 1:])

    def test_a_group_nobody_asked_for_is_refused_by_name(self) -> None:
        server = shared.server()
        sampler = ZpdTaskSampler(taskset(), BATCH, client=server.client())
        next(sampler)
        pending = set(sampler.ledger.pending[0])
        tasks = taskset()
        stranger = next(t for i, t in enumerate(tasks) if i not in pending)
        with self.assertRaisesRegex(ZpdError, "no pending step"):
            sampler.observe([Episode(stranger, [Trace(1.0, Agent(True))])])

    def test_running_too_far_ahead_says_how_to_fix_it(self) -> None:
        server = shared.server()
        sampler = ZpdTaskSampler(taskset(), BATCH, client=server.client())
        with self.assertRaisesRegex(ZpdError, "raise batch_size"):
            for _ in range(BATCH * 4):
                next(sampler)


if __name__ == "__main__":
    unittest.main()
