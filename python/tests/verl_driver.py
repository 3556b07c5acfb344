"""Drives `ZpdCurriculumSampler` the way verl's `RayPPOTrainer.fit` does, with the simulated learner.

What is mimicked (verl/trainer/ppo/ray_trainer.py, torchdata StatefulDataLoader):
- the sampler sits in a stateful dataloader (batch B, drop_last, no workers); its
  state_dict holds ``samples_yielded`` and ``sampler_state`` = sampler.state_dict(),
  and on load the sampler's state is restored and ``iter(sampler)`` called afresh;
- each step: one uid per prompt, rows repeated n times interleaved, rewards in
  ``token_level_scores`` at the last response token, ``response_mask``, GRPO
  ``advantages`` per uid broadcast over response tokens, ``acc`` as a reward-extra
  key; rows are then reordered (balance_batch) before ``update``;
- the checkpoint (dataloader state) is taken after training a step and before
  ``sampler.update(batch)``, as verl's fit() does.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from helpers import BATCH, GROUP, Learner
from zpd_curriculum.verl import ZpdCurriculumSampler

RESPONSE_LENGTH = 6
INDEX_BASE = 1000  # extra_info.index = INDEX_BASE + 3·position: the index is not the position


class FakeRLHFDataset:
    """Stands in for verl's RLHFDataset: a length and a ``dataframe`` with ``extra_info`` per row."""

    def __init__(self, size: int, ids: Optional[List[str]] = None) -> None:
        self.size = size
        rows = [{"index": INDEX_BASE + 3 * i, "split": "train"} for i in range(size)]
        for row, problem_id in zip(rows, ids or []):
            row["id"] = problem_id
        self.dataframe = {"extra_info": rows}

    def __len__(self) -> int:
        return self.size


class StatefulLoader:
    """torchdata's StatefulDataLoader + _BatchSamplerIterator, reduced to what touches the sampler."""

    def __init__(self, sampler: Any, batch_size: int) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.samples_yielded = 0
        self._it: Optional[Iterator[int]] = None

    def __iter__(self) -> Iterator[List[int]]:
        self._it = iter(self.sampler)
        self.samples_yielded = 0
        while True:
            batch = []
            for _ in range(self.batch_size):
                try:
                    batch.append(next(self._it))
                except StopIteration:
                    return  # drop_last
            self.samples_yielded += len(batch)
            yield batch

    def state_dict(self) -> Dict[str, Any]:
        return {"samples_yielded": self.samples_yielded, "sampler_state": self.sampler.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.samples_yielded = state["samples_yielded"]
        self.sampler.load_state_dict(state["sampler_state"])


@dataclass
class FakeDataProto:
    batch: Dict[str, torch.Tensor]
    non_tensor_batch: Dict[str, np.ndarray]


def build_batch(prompts: List[int], outcomes: Dict[int, List[Dict[str, Any]]], step: int) -> FakeDataProto:
    """B·n rows for ``prompts`` (served positions) from the learner's groups, reordered like balance_batch."""
    used: Dict[int, int] = {}
    uids, extra_info, scores, masks, acc, rewards_of_uid = [], [], [], [], [], {}
    for position in prompts:
        group = outcomes[position][used.get(position, 0)]
        used[position] = used.get(position, 0) + 1
        uid = str(uuid.UUID(int=(step << 32) + len(rewards_of_uid)))
        rewards_of_uid[uid] = group["rewards"]
        for j in range(GROUP):
            length = 1 + (position * 7 + j * 3 + step) % RESPONSE_LENGTH
            mask = [1] * length + [0] * (RESPONSE_LENGTH - length)
            score = [0.0] * RESPONSE_LENGTH
            score[length - 1] = float(group["rewards"][j])
            uids.append(uid)
            extra_info.append({"index": INDEX_BASE + 3 * position, "split": "train"})
            scores.append(score)
            masks.append(mask)
            acc.append(float(group["correct"][j]))
    token_level_scores = torch.tensor(scores, dtype=torch.float32)
    response_mask = torch.tensor(masks, dtype=torch.float32)
    # verl's compute_grpo_outcome_advantage: (r − mean_uid) / (std_uid + ε), std unbiased, broadcast × mask.
    sequence = token_level_scores.sum(-1)
    advantage = torch.zeros_like(sequence)
    for uid in rewards_of_uid:
        rows = torch.tensor([i for i, u in enumerate(uids) if u == uid])
        values = sequence[rows]
        advantage[rows] = (values - values.mean()) / (values.std() + 1e-6)
    advantages = advantage.unsqueeze(-1) * response_mask
    order = torch.randperm(len(uids), generator=torch.Generator().manual_seed(step))
    pick = order.tolist()
    return FakeDataProto(
        batch={
            "token_level_scores": token_level_scores[order],
            "response_mask": response_mask[order],
            "advantages": advantages[order],
        },
        non_tensor_batch={
            "uid": np.array([uids[i] for i in pick], dtype=object),
            "extra_info": np.array([extra_info[i] for i in pick], dtype=object),
            "acc": np.array([acc[i] for i in pick], dtype=object),
        },
    )


@dataclass
class VerlRun:
    selections: List[List[int]] = field(default_factory=list)
    checkpoint: Optional[bytes] = None
    learner_checkpoint: Any = None
    server_state_at_checkpoint: Any = None
    last_metrics: Dict[str, Any] = field(default_factory=dict)


def data_config(url: str, token: str) -> Dict[str, Any]:
    return {"train_batch_size": BATCH, "sampler": {"class_path": "pkg://zpd_curriculum.verl", "class_name": "ZpdCurriculumSampler", "url": url, "token": token}}


def fit(
    sampler: ZpdCurriculumSampler,
    learner: Learner,
    total_steps: int,
    *,
    start_step: int = 0,
    save_at: Optional[int] = None,
    loader_state: Optional[bytes] = None,
    between: Optional[Any] = None,
    served: Optional[List[int]] = None,
) -> VerlRun:
    """verl's fit(): global steps start_step+1 … total_steps; the checkpoint of step ``save_at`` is kept.

    ``served[p]`` is the served position of verl's row p when verl's dataset is in another order.
    """
    run = VerlRun()
    loader = StatefulLoader(sampler, BATCH)
    if loader_state is not None:
        loader.load_state_dict(torch.load(io.BytesIO(loader_state), weights_only=False))
    global_steps = start_step + 1
    while True:
        for batch_indices in loader:
            positions = list(batch_indices)
            run.selections.append(positions)
            if served is None:
                outcomes = learner.step(global_steps, positions)
            else:  # the learner reads the served file: translate, then key the outcomes by verl's rows
                by_served = learner.step(global_steps, [served[p] for p in positions])
                outcomes = {p: by_served[served[p]] for p in set(positions)}
            batch = build_batch(positions, outcomes, global_steps)
            if save_at is not None and global_steps == save_at:
                buffer = io.BytesIO()
                torch.save(loader.state_dict(), buffer)
                run.checkpoint = buffer.getvalue()
                run.learner_checkpoint = learner.checkpoint()
                run.server_state_at_checkpoint = sampler.client.state()
            if between is not None:
                between(global_steps)
            sampler.update(batch=batch)
            if global_steps >= total_steps:
                return run
            global_steps += 1
