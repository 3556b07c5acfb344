"""prime-rl adapter: a ``TaskSampler`` backed by a zpd curriculum server.

prime-rl's orchestrator (``prime_rl/orchestrator/curriculum``) draws tasks one
at a time from ``Curriculum.sampler`` (``next(sampler)``), reports each
finalized rollout group through ``sampler.observe(group)`` (a list of
episodes of one task, in completion order, asynchronously), and checkpoints
``sampler.state_dict()`` inside the curriculum's state.

The server thinks in batches: this sampler selects cursor t's B tasks, hands
them out one by one, buffers the groups that come back (in any order), and
posts cursor t once all B of its groups are in. A task's group reward list
holds one reward per episode: the mean reward of its trainable traces, or 0
for an episode that failed (a failed rollout counts as a failure).

prime-rl's config chooses among built-in samplers only (``standard``,
``difficulty_pool``); install this one where the orchestrator builds its
curriculum: ``curriculum.sampler = ZpdTaskSampler(tasks)``.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence

from .client import ZpdClient, ZpdError, ZpdServerError, client_from_env
from .ledger import CursorLedger, Group

try:  # the real base class when prime-rl is installed
    from prime_rl.orchestrator.curriculum.samplers import TaskSampler
except Exception:  # noqa: BLE001 - any import failure means "prime-rl is not usable here"

    class TaskSampler:  # type: ignore[no-redef]
        """Stand-in for prime-rl's ``TaskSampler`` so this module imports without prime-rl."""

        def __iter__(self) -> "TaskSampler":
            return self

        def __next__(self) -> Any:
            raise NotImplementedError

        def observe(self, group: List[Any]) -> None:
            pass

        def state_dict(self) -> Dict[str, Any]:
            return {}

        def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
            pass

        def metrics(self) -> Dict[str, float]:
            return {}


__all__ = ["ZpdTaskSampler", "episode_reward"]


def episode_reward(episode: Any) -> float:
    """An episode's reward: the mean over its usable trainable traces (prime-rl's filter), 0 when it failed."""
    traces = getattr(episode, "traces", None)
    if traces is None:
        return float(getattr(episode, "reward", 0.0) or 0.0)
    if not getattr(episode, "ok", True):
        return 0.0
    rewards = [
        float(trace.reward)
        for trace in traces
        if not getattr(trace, "has_error", False)
        and getattr(getattr(trace, "agent", None), "trainable", True)
        and getattr(trace, "num_turns", 1) > 0
    ]
    return sum(rewards) / len(rewards) if rewards else 0.0


class ZpdTaskSampler(TaskSampler):
    """prime-rl task sampler whose task order comes from a zpd curriculum server.

    :param tasks: the finite taskset (``task.key`` must be the served problem id).
    :param batch_size: B, tasks per server step (at least half the number of
        groups the orchestrator keeps in flight: selection may run at most two
        steps ahead of the oldest unfinished one).
    :param attach: send the task keys in prime-rl's order (POST /v1/attach).
    """

    def __init__(
        self,
        tasks: Sequence[Any],
        batch_size: int,
        *,
        client: Optional[ZpdClient] = None,
        url: Optional[str] = None,
        token: Optional[str] = None,
        attach: bool = True,
    ) -> None:
        if not isinstance(tasks, Sequence):
            raise ZpdError("ZpdTaskSampler: needs a finite taskset (a sequence of tasks)")
        self.tasks = tuple(tasks)
        keys = [task.key for task in self.tasks]
        if any(key is None for key in keys):
            raise ZpdError("ZpdTaskSampler: every task needs a key (the served problem id)")
        duplicates = sorted(key for key, n in Counter(keys).items() if n > 1)
        if duplicates:
            raise ZpdError(f"ZpdTaskSampler: task keys must be unique, repeated: {duplicates[:5]}")
        self.position_of = {key: i for i, key in enumerate(keys)}
        self.client = client or client_from_env(url, token)
        self.ledger = CursorLedger(self.client, batch_size)
        if attach:
            self.client.attach([str(k) for k in keys])
        self._queue: Deque[int] = deque()
        self._arrived: Dict[int, List[Group]] = {}
        self._last_metrics: Dict[str, float] = {}
        self.last_events: List[Dict[str, Any]] = []

    def __next__(self) -> Any:
        if not self._queue:
            try:
                self._queue.extend(self.ledger.select())
            except ZpdServerError as error:
                if error.code == "too_far_ahead":
                    raise ZpdError(
                        f"ZpdTaskSampler: step {self.ledger.next_select} would run more than two steps ahead of the "
                        f"oldest unfinished step {self.ledger.next_observe}; raise batch_size (now "
                        f"{self.ledger.batch_size}) to at least half the groups kept in flight"
                    ) from error
                raise
        return self.tasks[self._queue.popleft()]

    def observe(self, group: List[Any]) -> None:
        if not group:
            raise ZpdError("ZpdTaskSampler.observe: empty group")
        key = group[0].task.key
        index = self.position_of.get(key)
        if index is None:
            raise ZpdError(f"ZpdTaskSampler.observe: task key {key!r} is not in the taskset")
        cursor = self._owner(index)
        self._arrived.setdefault(cursor, []).append(
            {"index": index, "rewards": [episode_reward(episode) for episode in group]}
        )
        self._flush()

    def _owner(self, index: int) -> int:
        """The oldest pending cursor that selected ``index`` and still waits for its group."""
        for cursor, selected in self.ledger.pending.items():
            arrived = sum(1 for g in self._arrived.get(cursor, []) if g["index"] == index)
            if selected.count(index) > arrived:
                return cursor
        raise ZpdError(
            f"ZpdTaskSampler.observe: a group for task index {index} arrived, but no pending step "
            f"({list(self.ledger.pending)}) is waiting for it"
        )

    def _flush(self) -> None:
        while True:
            cursor = self.ledger.next_observe
            groups = self._arrived.get(cursor)
            if groups is None or len(groups) < self.ledger.batch_size:
                return
            reply = self.ledger.observe(groups)
            del self._arrived[cursor]
            # the server reports NaN as null; prime-rl's metrics are floats
            self._last_metrics = {k: float("nan") if v is None else float(v) for k, v in reply.get("metrics", {}).items()}
            self.last_events = list(reply.get("events", []))

    def state_dict(self) -> Dict[str, Any]:
        return self.ledger.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores the server; steps not fully observed at the checkpoint are handed out again."""
        self.ledger.load_state_dict(state_dict)
        self._queue.clear()
        self._arrived.clear()

    def metrics(self) -> Dict[str, float]:
        return dict(self._last_metrics)
