"""TRL adapter: a ``GRPOTrainer`` whose prompts come from a zpd curriculum server.

TRL's ``GRPOTrainer._get_train_sampler`` returns a ``RepeatSampler``: chunks of
``generation_batch_size // num_generations`` distinct prompts, each index
repeated ``num_generations`` times (``mini_repeat_count``) and each chunk
repeated ``num_iterations * steps_per_generation`` times (``repeat_count``).
Every rank iterates its own copy with the same seed and accelerate hands each
rank its slice; the dataloader fetches one batch ahead. Rewards are computed
per generation batch in ``_calculate_rewards`` and gathered across ranks.

Here the chunk of cursor t is the server's selection for t (every rank asks,
the server answers the same journaled batch), and after
``_calculate_rewards`` the main rank posts the gathered rewards of the
generation batch as cursor t's outcomes. The server state is saved in each
``checkpoint-N/zpd_curriculum.json`` and restored when training resumes from it.

Use::

    from trl import GRPOTrainer
    from zpd_curriculum.trl import zpd_grpo_trainer

    ZpdGRPOTrainer = zpd_grpo_trainer(GRPOTrainer)
    trainer = ZpdGRPOTrainer(model=..., reward_funcs=..., args=..., train_dataset=with_index_column(ds))
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from .client import ZpdClient, ZpdError, client_from_env
from .ledger import CursorLedger
from .rows import groups_from_rows, to_list

__all__ = [
    "ZpdRepeatSampler",
    "ZpdGRPOHooks",
    "zpd_grpo_trainer",
    "with_index_column",
    "STATE_FILE",
    "INDEX_COLUMN",
]

STATE_FILE = "zpd_curriculum.json"
INDEX_COLUMN = "zpd_index"


def with_index_column(dataset: Any, column: str = INDEX_COLUMN) -> Any:
    """A 🤗 ``datasets.Dataset`` with each row's position in ``column`` (lets the rewards hook check its mapping)."""
    return dataset.map(lambda _row, i: {column: i}, with_indices=True)


class ZpdRepeatSampler:
    """TRL's ``RepeatSampler`` with the server choosing each chunk.

    Yields, for chunk c of epoch e (cursor t = e·chunks_per_epoch + c), the
    server's B indices for t, each repeated ``mini_repeat_count`` times, the
    whole chunk ``repeat_count`` times. Cursors the restored checkpoint has
    already observed are not asked again: they yield placeholder positions,
    which the trainer skips when it resumes (``skip_first_batches``).
    """

    def __init__(
        self,
        data_source: Any,
        mini_repeat_count: int,
        batch_size: int,
        repeat_count: int,
        ledger: CursorLedger,
    ) -> None:
        if ledger.batch_size != batch_size:
            raise ZpdError(f"ZpdRepeatSampler: batch_size {batch_size} differs from the ledger's {ledger.batch_size}")
        self.data_source = data_source
        self.num_samples = len(data_source)
        self.mini_repeat_count = mini_repeat_count
        self.batch_size = batch_size
        self.repeat_count = repeat_count
        self.ledger = ledger
        self.chunks_per_epoch = self.num_samples // batch_size
        if self.chunks_per_epoch < 1:
            raise ZpdError(f"ZpdRepeatSampler: {self.num_samples} prompts are fewer than one chunk of {batch_size}")
        self.epoch: Optional[int] = None
        self._iterations = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by accelerate / the Trainer at each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.chunks_per_epoch * self.batch_size * self.mini_repeat_count * self.repeat_count

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch if self.epoch is not None else self._iterations
        self._iterations += 1
        for chunk in range(self.chunks_per_epoch):
            cursor = epoch * self.chunks_per_epoch + chunk
            if cursor < self.ledger.next_select:
                if cursor >= self.ledger.next_observe:
                    indices = self.ledger.selection(cursor)
                else:
                    indices = list(range(self.batch_size))  # observed before the checkpoint: skipped on resume
            elif cursor == self.ledger.next_select:
                indices = self.ledger.select()
            else:
                raise ZpdError(f"ZpdRepeatSampler: cursor {cursor} skips ahead of {self.ledger.next_select}")
            for _ in range(self.repeat_count):
                for index in indices:
                    for _ in range(self.mini_repeat_count):
                        yield index


class ZpdGRPOHooks:
    """The trainer-side logic, independent of TRL (so it can be tested without it).

    :param num_generations: G, completions per prompt.
    :param chunk_size: distinct prompts per generation batch
        (``generation_batch_size // num_generations``).
    :param is_main_process: only the main rank posts outcomes; the others
        mark the cursor observed.
    """

    def __init__(
        self,
        client: ZpdClient,
        num_generations: int,
        chunk_size: int,
        *,
        is_main_process: bool = True,
        index_column: str = INDEX_COLUMN,
    ) -> None:
        self.client = client
        self.num_generations = int(num_generations)
        self.ledger = CursorLedger(client, int(chunk_size))
        self.is_main_process = is_main_process
        self.index_column = index_column
        self.last_metrics: Dict[str, float] = {}
        self.last_events: List[Dict[str, Any]] = []

    def sampler(self, data_source: Any, repeat_count: int) -> ZpdRepeatSampler:
        return ZpdRepeatSampler(data_source, self.num_generations, self.ledger.batch_size, repeat_count, self.ledger)

    def on_rewards(self, rewards: Sequence[float], indices: Optional[Sequence[int]] = None) -> None:
        """Posts one generation batch: ``rewards`` are the gathered per-completion rewards (all ranks, in
        gather order), ``indices`` the gathered dataset index of each completion (None: the sampler's order)."""
        cursor = self.ledger.next_observe
        rewards = [float(r) for r in rewards]
        expected_rows = self.ledger.batch_size * self.num_generations
        if len(rewards) != expected_rows:
            raise ZpdError(
                f"TRL _calculate_rewards: {len(rewards)} gathered rewards at step {cursor}, expected "
                f"{self.ledger.batch_size} prompts × {self.num_generations} generations = {expected_rows}"
            )
        if indices is None:
            selected = self.ledger.pending.get(cursor)
            if selected is None:
                raise ZpdError(f"TRL _calculate_rewards: step {cursor} was not selected by the zpd sampler")
            indices = [i for i in selected for _ in range(self.num_generations)]
        keys = [row // self.num_generations for row in range(len(rewards))]
        groups = groups_from_rows(keys, [int(i) for i in indices], rewards, where="TRL _calculate_rewards")
        if self.is_main_process:
            reply = self.ledger.observe(groups)
            self.last_metrics = dict(reply.get("metrics", {}))
            self.last_events = list(reply.get("events", []))
        else:
            self.ledger.acknowledge(cursor)

    def state_dict(self) -> Dict[str, Any]:
        return self.ledger.state_dict()

    def load_state_dict(self, state: Mapping[str, Any], *, wait: float = 120.0, sleep: Callable[[float], None] = time.sleep) -> None:
        """The main rank restores the server; the other ranks wait until it reports the checkpoint's step."""
        if self.is_main_process:
            self.ledger.load_state_dict(state)
            return
        self.ledger.load_state_dict(state, restore_server=False)
        want = self.ledger.next_observe - 1
        deadline = time.monotonic() + wait
        while True:
            observed = int(self.client.health().get("observed", -2))
            if observed == want:
                return
            if time.monotonic() > deadline:
                raise ZpdError(
                    f"TRL resume: the server reports observed={observed} after {wait:g} s; the main rank's restore "
                    f"to the checkpoint (observed={want}) did not arrive"
                )
            sleep(0.05)

    def save(self, checkpoint_dir: str) -> str:
        """Writes the state into ``checkpoint_dir/zpd_curriculum.json`` (temp file + rename)."""
        os.makedirs(checkpoint_dir, exist_ok=True)
        path = os.path.join(checkpoint_dir, STATE_FILE)
        fd, tmp = tempfile.mkstemp(prefix=STATE_FILE, dir=checkpoint_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.state_dict(), f, separators=(",", ":"))
        os.replace(tmp, path)
        return path

    def load(self, checkpoint_dir: str) -> bool:
        """Restores from ``checkpoint_dir/zpd_curriculum.json``; False when the checkpoint has none."""
        path = os.path.join(checkpoint_dir, STATE_FILE)
        if not os.path.exists(path):
            return False
        with open(path, encoding="utf-8") as f:
            try:
                state = json.load(f)
            except json.JSONDecodeError as error:
                raise ZpdError(f"{path}: not the JSON zpd_curriculum state ({error})") from None
        self.load_state_dict(state)
        return True


def _weighted_rewards(rewards_per_func: Any, weights: Any) -> List[float]:
    """TRL's per-completion reward: Σ_f w_f·r_f, NaNs (a reward function that abstained) skipped."""
    rows = to_list(rewards_per_func)
    w = [float(x) for x in to_list(weights)]
    out = []
    for row in rows:
        total = 0.0
        for value, weight in zip(row, w):
            value = float(value)
            if value == value:  # not NaN
                total += value * weight
        out.append(total)
    return out


def zpd_grpo_trainer(base: type, *, url: Optional[str] = None, token: Optional[str] = None) -> type:
    """A subclass of TRL's ``GRPOTrainer`` (``base``) driven by the zpd server.

    Overrides ``_get_train_sampler`` (server-chosen chunks), ``_calculate_rewards``
    (posts the gathered rewards of each training generation batch),
    ``_save_checkpoint`` (writes ``zpd_curriculum.json`` next to the weights)
    and ``_load_optimizer_and_scheduler`` (restores the server on resume).
    """

    class ZpdGRPOTrainer(base):  # type: ignore[misc, valid-type]
        @property
        def zpd_hooks(self) -> ZpdGRPOHooks:
            """The curriculum hooks: ``last_metrics``, ``last_events``, ``ledger.on_events``."""
            return self._zpd()

        def _zpd(self) -> ZpdGRPOHooks:
            hooks = getattr(self, "_zpd_hooks", None)
            if hooks is None:
                client = client_from_env(url, token, wait_ahead=60.0)
                chunk = self.args.generation_batch_size // self.num_generations
                hooks = ZpdGRPOHooks(
                    client, self.num_generations, chunk, is_main_process=self.accelerator.is_main_process
                )
                self._zpd_hooks = hooks
            return hooks

        def _get_train_sampler(self, dataset: Any = None) -> Any:
            dataset = self.train_dataset if dataset is None else dataset
            repeat = self.num_iterations * self.args.steps_per_generation
            return self._zpd().sampler(dataset, repeat)

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # type: ignore[no-untyped-def]
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            if self.model.training:
                hooks = self._zpd()
                indices = None
                if inputs and hooks.index_column in inputs[0]:
                    from accelerate.utils import gather_object

                    indices = gather_object([int(row[hooks.index_column]) for row in inputs])
                hooks.on_rewards(_weighted_rewards(rewards_per_func, self.reward_weights), indices)
                logged = getattr(self, "_metrics", None)  # GRPOTrainer's per-mode metric lists
                if isinstance(logged, dict) and "train" in logged:
                    for name, value in hooks.last_metrics.items():
                        if isinstance(value, (int, float)):
                            logged["train"][f"zpd/{name}"].append(float(value))
            return rewards_per_func

        def _save_checkpoint(self, model, trial):  # type: ignore[no-untyped-def]
            super()._save_checkpoint(model, trial)
            if self.args.should_save:
                run_dir = self._get_output_dir(trial=trial)
                self._zpd().save(os.path.join(run_dir, f"checkpoint-{self.state.global_step}"))

        def _load_optimizer_and_scheduler(self, checkpoint):  # type: ignore[no-untyped-def]
            # Called on every resume (also under DeepSpeed/FSDP, where _load_from_checkpoint is skipped),
            # before the first batch is drawn.
            super()._load_optimizer_and_scheduler(checkpoint)
            if checkpoint is not None:
                self._zpd().load(checkpoint)

    ZpdGRPOTrainer.__name__ = ZpdGRPOTrainer.__qualname__ = f"Zpd{base.__name__}"
    return ZpdGRPOTrainer
