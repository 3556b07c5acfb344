"""The cursor bookkeeping every adapter shares.

A trainer step is a *cursor* t = 0, 1, 2 ... The ledger asks the server for
cursor t's batch (``select``), remembers it until the step's outcomes come
back (``observe``), and checks that the outcomes cover exactly the selected
indices before sending them, so a mapping bug in an adapter fails with the
step and the index named instead of corrupting the curriculum.

Selection may run ahead of feedback (verl and TRL build the next batch before
the previous step's rewards exist); the server allows up to two steps.
"""

from __future__ import annotations

import warnings
from collections import Counter, OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from .client import ZpdClient, ZpdError

__all__ = ["CursorLedger", "Group", "ADAPTER_STATE_FORMAT"]

ADAPTER_STATE_FORMAT = "zpd-adapter-state/1"

Group = Dict[str, Any]
"""One GRPO group in the wire shape: ``{"index", "rewards", "correct"?, "advantages"?, "extra"?}``."""


class CursorLedger:
    """Selected-but-unobserved cursors of one trainer and the next cursor to select."""

    def __init__(self, client: ZpdClient, batch_size: int) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.client = client
        self.batch_size = batch_size
        self.next_select = 0
        self.next_observe = 0
        self.pending: "OrderedDict[int, List[int]]" = OrderedDict()
        self.last_reply: Optional[Dict[str, Any]] = None
        """The last observe reply (``events``, ``metrics``), for the trainer's logger."""
        self.on_events: Optional[Callable[[List[Dict[str, Any]]], None]] = None
        """Called with an observe reply's events when there are any (AdaCuRL's ``BucketMerged`` and
        ``RoundStarted`` ask the trainer to reset its reference policy)."""

    def select(self) -> List[int]:
        """The batch of the next cursor (advances the cursor)."""
        cursor = self.next_select
        indices = self.client.select(cursor, self.batch_size)
        self.pending[cursor] = indices
        self.next_select = cursor + 1
        return indices

    def selection(self, cursor: int) -> List[int]:
        """The (journaled) batch of ``cursor``, selected now if not yet."""
        if cursor in self.pending:
            return self.pending[cursor]
        return self.client.select(cursor, self.batch_size)

    def observe(self, groups: Sequence[Mapping[str, Any]], cursor: Optional[int] = None) -> Dict[str, Any]:
        """Sends the outcomes of the oldest unobserved cursor (or ``cursor``)."""
        cursor = self.next_observe if cursor is None else cursor
        if cursor != self.next_observe:
            raise ZpdError(f"observe: cursor {cursor} is not the next one to observe ({self.next_observe})")
        expected = self.pending.get(cursor)
        if expected is None:
            raise ZpdError(
                f"observe: step {cursor} was never selected by this sampler (selected up to {self.next_select - 1}); "
                "the trainer reported outcomes for a batch the curriculum did not choose"
            )
        check_groups(cursor, expected, groups)
        reply = self.client.observe(cursor, groups)
        del self.pending[cursor]
        self.next_observe = cursor + 1
        self.last_reply = reply
        events = reply.get("events") or []
        if events and self.on_events is not None:
            self.on_events(list(events))
        return reply

    def acknowledge(self, cursor: int) -> None:
        """Marks ``cursor`` observed by another process (TRL: only the main rank posts outcomes)."""
        if cursor != self.next_observe:
            raise ZpdError(f"acknowledge: cursor {cursor} is not the next one to observe ({self.next_observe})")
        self.pending.pop(cursor, None)
        self.next_observe = cursor + 1

    # -- checkpointing -------------------------------------------------------

    def state_dict(self) -> Dict[str, Any]:
        """The server's state (GET /v1/state) wrapped for the trainer's checkpoint."""
        return {"format": ADAPTER_STATE_FORMAT, "batch_size": self.batch_size, "server": self.client.state()}

    def load_state_dict(
        self,
        state: Mapping[str, Any],
        *,
        restore_server: bool = True,
        observe_recorded: Optional[Sequence[int]] = None,
    ) -> None:
        """Makes the server agree with the checkpoint (POST /v1/restore) and resumes at its first unobserved cursor.

        Cursors selected but not observed when the checkpoint was taken are
        selected again: the server returns their journaled batch, so the
        sequence of batches is the uninterrupted run's. ``observe_recorded``
        names those the trainer had already trained when it saved (verl saves
        before it reports a step): the server re-applies the outcomes it
        recorded for them, and they are not selected again; if it no longer
        holds them (a server started afresh), they are selected and trained
        again, with a warning.
        """
        if not isinstance(state, Mapping) or state.get("format") != ADAPTER_STATE_FORMAT:
            raise ZpdError(
                f"load_state_dict: expected a {ADAPTER_STATE_FORMAT!r} object (from state_dict), "
                f"got format {state.get('format') if isinstance(state, Mapping) else type(state).__name__!r}"
            )
        if state.get("batch_size") != self.batch_size:
            raise ZpdError(
                f"load_state_dict: the checkpoint was taken with batch_size {state.get('batch_size')}, "
                f"this trainer uses {self.batch_size}"
            )
        if restore_server:
            reply = self.client.restore(state["server"], observe_recorded)
            observed = int(reply["observed"])
            missing = reply.get("not_recorded") or []
            if missing:
                warnings.warn(
                    f"zpd: the server no longer holds the outcomes of step(s) {list(missing)} (trained before the "
                    "checkpoint was saved, reported after it); they are selected and trained again",
                    RuntimeWarning,
                    stacklevel=2,
                )
        else:  # another process restores the server (TRL: the main rank)
            observed = int(state["server"]["observed"])
        self.pending.clear()
        self.next_observe = observed + 1
        self.next_select = observed + 1
        self.last_reply = None


def check_groups(cursor: int, expected: Sequence[int], groups: Sequence[Mapping[str, Any]]) -> None:
    """Raises unless the groups' indices are the selected multiset and each group is well-formed."""
    got: Counter = Counter()
    for position, group in enumerate(groups):
        index = group.get("index")
        if not isinstance(index, int):
            raise ZpdError(f"observe step {cursor}: group {position} has no integer 'index' (got {index!r})")
        rewards = group.get("rewards")
        if not isinstance(rewards, list) or len(rewards) == 0:
            raise ZpdError(f"observe step {cursor}: group {position} (index {index}) has no rewards")
        for key in ("correct", "advantages"):
            if key in group and len(group[key]) != len(rewards):
                raise ZpdError(
                    f"observe step {cursor}: group {position} (index {index}) has {len(group[key])} {key} "
                    f"for {len(rewards)} rewards"
                )
        got[index] += 1
    want = Counter(expected)
    if got != want:
        extra = sorted((got - want).elements())
        missing = sorted((want - got).elements())
        raise ZpdError(
            f"observe step {cursor}: the groups' indices differ from the selected batch "
            f"(not selected: {extra[:5]}, missing: {missing[:5]}); check how rows map back to dataset positions"
        )
