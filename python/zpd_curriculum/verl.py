"""verl adapter: a curriculum sampler for ``data.sampler.class_path``.

verl (``verl/trainer/main_ppo.py: create_rl_sampler``) loads
``data.sampler.class_name`` from ``data.sampler.class_path`` and builds it as
``cls(data_source=dataset, data_config=config.data)``; the trainer wraps it in
a ``StatefulDataLoader`` (batch ``data.gen_batch_size`` or
``data.train_batch_size``, ``drop_last=True``, ``dataloader_num_workers=0``
required for curriculum samplers) and, after every step, calls
``sampler.update(batch=batch)`` with the step's ``DataProto``. The dataloader
state, and with it ``sampler.state_dict()``, is saved in
``global_step_N/data.pt`` and given back through ``load_state_dict`` on resume.

This sampler asks the zpd server for each step's batch and sends the step's
outcomes back. Configuration (``data.sampler.*``, environment fallbacks):

- ``url`` / ``ZPD_SERVE_URL``, ``token`` / ``ZPD_SERVE_TOKEN``: the server.
- ``index_key`` (default ``extra_info.index``): where a row's dataset index
  lives in ``non_tensor_batch`` (``extra_info.index`` reads the ``index`` field
  of the ``extra_info`` dicts; a plain name reads that column).
- ``id_key`` (optional, e.g. ``extra_info.id``): a per-row problem id; when
  set, the sampler attaches the dataset's ids in verl's order (POST /v1/attach)
  so a parquet in another order than the served JSONL maps correctly.
- ``send_advantages`` (default true): send verl's own advantages (masked mean
  over response tokens) instead of letting the server compute GRPO ones.
- ``correct_key`` (default ``acc``): a reward-extra key read as the
  correctness flag (> 0 is correct); absent → the server uses reward > 0.
- ``extra_keys`` (default ``["acc"]``): reward-extra keys forwarded as ``extra``.
- ``wait_ahead`` (default 0): seconds to wait on 409 ``too_far_ahead``.
- ``retry_for`` (default 60) / ``timeout`` (default 30): seconds a call keeps retrying
  connection errors (a restarting server) / seconds per attempt.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

try:
    from .client import ZpdClient, ZpdError, client_from_env
    from .ledger import CursorLedger
    from .rows import groups_from_rows, masked_row_means, row_sums, to_list
except ImportError:  # loaded from its file path (older verl: data.sampler.class_path=/path/to/zpd_curriculum/verl.py)
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))
    from zpd_curriculum.client import ZpdClient, ZpdError, client_from_env
    from zpd_curriculum.ledger import CursorLedger
    from zpd_curriculum.rows import groups_from_rows, masked_row_means, row_sums, to_list

try:  # the real base class when verl is installed (verl checks isinstance on it)
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler
except Exception:  # noqa: BLE001 - any import failure means "verl is not usable here"

    class AbstractCurriculumSampler:  # type: ignore[no-redef]
        """Stand-in for verl's ``AbstractCurriculumSampler`` so this module imports without verl."""

        def __init__(self, data_source: Any = None, data_config: Any = None) -> None:  # noqa: D401
            pass

        def update(self, batch: Any) -> None:
            raise NotImplementedError


__all__ = ["ZpdCurriculumSampler", "VERL_STATE_FORMAT"]

VERL_STATE_FORMAT = "zpd-verl-sampler/1"


def _get(config: Any, key: str, default: Any = None) -> Any:
    if config is None:
        return default
    if isinstance(config, Mapping) or hasattr(config, "get"):
        value = config.get(key, default)
        return default if value is None else value
    return getattr(config, key, default)


def _column(non_tensor: Mapping[str, Any], key: str, rows: int) -> Optional[List[Any]]:
    """The per-row values at ``key`` (``a.b`` reads field b of the dicts in column a); None if absent."""
    head, _, field = key.partition(".")
    if head not in non_tensor:
        return None
    column = to_list(non_tensor[head])
    if len(column) != rows:
        raise ZpdError(f"verl update(batch): non_tensor_batch[{head!r}] has {len(column)} rows, the batch has {rows}")
    if not field:
        return column
    out = []
    for row, value in enumerate(column):
        if not isinstance(value, Mapping) or field not in value:
            raise ZpdError(f"verl update(batch): row {row} of non_tensor_batch[{head!r}] has no field {field!r}")
        out.append(value[field])
    return out


def _dataset_column(data_source: Any, key: str) -> Optional[List[Any]]:
    """The values at ``key`` for every dataset row, read from verl's RLHFDataset ``dataframe``; None if unavailable."""
    frame = getattr(data_source, "dataframe", None)
    if frame is None:
        return None
    head, _, field = key.partition(".")
    try:
        column = list(frame[head])
    except Exception:  # noqa: BLE001 - the dataset has no such column
        return None
    if not field:
        return column
    return [value.get(field) if isinstance(value, Mapping) else None for value in column]


class ZpdCurriculumSampler(AbstractCurriculumSampler):
    """verl curriculum sampler backed by a zpd curriculum server.

    Yields, step after step, the B dataset positions the server selects for
    cursor t (t = 0, 1, ... counts steps across epochs); ``update(batch)``
    maps the step's B·n rows back to B groups by ``uid`` and the row's dataset
    index and posts them as cursor t's outcomes.
    """

    def __init__(self, data_source: Any, data_config: Any, client: Optional[ZpdClient] = None) -> None:
        super().__init__(data_source, data_config)
        self.data_source = data_source
        sampler_config = _get(data_config, "sampler", None)
        option = lambda key, default=None: _get(sampler_config, key, default)  # noqa: E731
        batch_size = _get(data_config, "gen_batch_size", None) or _get(data_config, "train_batch_size", None)
        if batch_size is None:
            raise ZpdError("ZpdCurriculumSampler: data.train_batch_size is not set (the step's batch size B)")
        self.client = client or client_from_env(
            option("url"),
            option("token"),
            wait_ahead=float(option("wait_ahead", 0.0)),
            retry_for=float(option("retry_for", 60.0)),
            timeout=float(option("timeout", 30.0)),
        )
        self.ledger = CursorLedger(self.client, int(batch_size))
        self.index_key = str(option("index_key", "extra_info.index"))
        self.send_advantages = bool(option("send_advantages", True))
        self.correct_key = option("correct_key", "acc")
        self.extra_keys = list(option("extra_keys", ["acc"]))
        self.size = len(data_source)
        self.steps_per_epoch = self.size // self.ledger.batch_size
        if self.steps_per_epoch < 1:
            raise ZpdError(
                f"ZpdCurriculumSampler: the dataset has {self.size} rows, fewer than one batch of {self.ledger.batch_size}"
            )
        self.epoch_step = 0
        self.last_metrics: Dict[str, float] = {}
        self.last_events: List[Dict[str, Any]] = []
        self._position_of = self._positions(data_source)
        self._connect(option("id_key"))

    # -- setup -----------------------------------------------------------------

    def _positions(self, data_source: Any) -> Optional[Dict[Any, int]]:
        """Map from a row's index value to its dataset position (None: the index is the position)."""
        values = _dataset_column(data_source, self.index_key)
        if values is None or all(v is None for v in values):
            return None
        position_of: Dict[Any, int] = {}
        for position, value in enumerate(values):
            if value in position_of:
                raise ZpdError(
                    f"ZpdCurriculumSampler: {self.index_key} value {value!r} appears at dataset rows "
                    f"{position_of[value]} and {position}; it must identify a row"
                )
            position_of[value] = position
        return position_of

    def _connect(self, id_key: Optional[str]) -> None:
        health = self.client.health()
        if id_key:
            ids = _dataset_column(self.data_source, str(id_key))
            if ids is None or any(i is None for i in ids):
                raise ZpdError(f"ZpdCurriculumSampler: data.sampler.id_key={id_key!r} is missing from some dataset rows")
            self.client.attach([str(i) for i in ids])
        elif int(health.get("dataset_size", -1)) != self.size:
            raise ZpdError(
                f"ZpdCurriculumSampler: the server serves {health.get('dataset_size')} problems, verl's dataset has "
                f"{self.size} rows; serve the same data or set data.sampler.id_key to attach by id"
            )

    # -- Sampler ---------------------------------------------------------------

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        # A generator: nothing is selected until the dataloader asks for a batch.
        while self.epoch_step < self.steps_per_epoch:
            indices = self.ledger.select()
            self.epoch_step += 1
            yield from indices
        self.epoch_step = 0

    # -- AbstractCurriculumSampler ---------------------------------------------

    def update(self, batch: Any, *args: Any, **kwargs: Any) -> None:
        """Posts the step's outcomes: ``batch`` is verl's DataProto after the advantage stage."""
        tensors = batch.batch
        non_tensor = batch.non_tensor_batch
        if "uid" not in non_tensor:
            raise ZpdError("verl update(batch): non_tensor_batch has no 'uid' (verl sets it per prompt in fit())")
        uids = to_list(non_tensor["uid"])
        rows = len(uids)
        raw_index = _column(non_tensor, self.index_key, rows)
        if raw_index is None:
            raise ZpdError(
                f"verl update(batch): non_tensor_batch has no {self.index_key!r}; put the dataset index in "
                "extra_info.index (verl's data preprocessing does) or set data.sampler.index_key"
            )
        indices = [self._position(value, row) for row, value in enumerate(raw_index)]
        if "token_level_scores" not in tensors.keys():
            raise ZpdError("verl update(batch): batch has no 'token_level_scores' (call update after the reward stage)")
        rewards = row_sums(tensors["token_level_scores"])
        advantages = None
        if self.send_advantages and "advantages" in tensors.keys():
            if "response_mask" not in tensors.keys():
                raise ZpdError("verl update(batch): 'advantages' without 'response_mask' (needed to read them per row)")
            advantages = masked_row_means(tensors["advantages"], tensors["response_mask"])
        correct = _column(non_tensor, self.correct_key, rows) if self.correct_key else None
        extra = {}
        for key in self.extra_keys:
            column = _column(non_tensor, key, rows)
            if column is not None:
                extra[key] = [float(x) for x in column]
        groups = groups_from_rows(
            uids,
            indices,
            rewards,
            correct=None if correct is None else [float(x) for x in correct],
            advantages=advantages,
            extra=extra or None,
            where="verl update(batch)",
        )
        reply = self.ledger.observe(groups)
        self.last_metrics = dict(reply.get("metrics", {}))
        self.last_events = list(reply.get("events", []))

    def _position(self, value: Any, row: int) -> int:
        if self._position_of is None:
            try:
                return int(value)
            except (TypeError, ValueError):
                raise ZpdError(f"verl update(batch): row {row} has {self.index_key}={value!r}, not an integer") from None
        position = self._position_of.get(value)
        if position is None:
            raise ZpdError(f"verl update(batch): row {row} has {self.index_key}={value!r}, which no dataset row carries")
        return position

    # -- checkpoint (through StatefulDataLoader: data.pt) -------------------------

    def state_dict(self) -> Dict[str, Any]:
        return {
            "format": VERL_STATE_FORMAT,
            "epoch_step": self.epoch_step,
            "next_select": self.ledger.next_select,
            # verl saves after training the step and before update(): the pending cursor is trained, unreported.
            "trained": list(self.ledger.pending),
            "ledger": self.ledger.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores the server to the checkpoint and resumes after the last step verl trained.

        verl saves the checkpoint after training a step but before it calls
        ``update`` with that step's outcomes, so the step is unobserved in the
        checkpoint. The server recorded its outcomes when ``update`` sent them
        and re-applies them on restore (``observe_recorded``); the next batch
        is the next step's. A server that no longer holds them (started
        afresh, without its ``--state`` directory) has the step selected again
        — the same journaled batch, trained once more — with a warning.
        """
        if not isinstance(state, Mapping) or state.get("format") != VERL_STATE_FORMAT:
            raise ZpdError(f"ZpdCurriculumSampler.load_state_dict: expected a {VERL_STATE_FORMAT!r} object")
        self.ledger.load_state_dict(state["ledger"], observe_recorded=state.get("trained"))
        replayed = int(state["next_select"]) - self.ledger.next_select
        self.epoch_step = max(0, int(state["epoch_step"]) - replayed)
