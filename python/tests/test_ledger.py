"""The cursor ledger's own rules, with an in-memory client (no server: these are the adapter's checks)."""

from __future__ import annotations

import unittest
from typing import Any, Dict, List, Optional, Sequence

import helpers  # noqa: F401 - puts python/ on sys.path
from zpd_curriculum.client import ZpdClient, ZpdError
from zpd_curriculum.ledger import ADAPTER_STATE_FORMAT, CursorLedger


class ScriptedClient(ZpdClient):
    """Answers select with fixed batches and observe with scripted events; records what was sent."""

    def __init__(self, batches: Dict[int, List[int]], events: Optional[Dict[int, List[Dict[str, Any]]]] = None) -> None:
        super().__init__("http://127.0.0.1:1", "t")
        self.batches = batches
        self.events = events or {}
        self.sent: List[int] = []

    def select(self, cursor: int, batch_size: Optional[int] = None) -> List[int]:
        return list(self.batches[cursor])

    def observe(self, cursor: int, groups: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        self.sent.append(cursor)
        return {"cursor": cursor, "events": self.events.get(cursor, []), "metrics": {}}

    def state(self) -> Dict[str, Any]:
        return {"observed": self.sent[-1] if self.sent else -1}

    def restore(self, state: Dict[str, Any], observe_recorded: Optional[Sequence[int]] = None) -> Dict[str, Any]:
        return {"observed": state["observed"]}


def group(index: int, n: int = 2) -> Dict[str, Any]:
    return {"index": index, "rewards": [1.0] * n}


class CursorLedgerTest(unittest.TestCase):
    def test_events_reach_the_callback_and_only_when_present(self) -> None:
        merged = {"_tag": "BucketMerged", "bucket": 1, "round": 0, "step": 2, "forced": False}
        ledger = CursorLedger(ScriptedClient({0: [3, 4], 1: [5, 5]}, {1: [merged]}), 2)
        seen: List[List[Dict[str, Any]]] = []
        ledger.on_events = seen.append
        ledger.select()
        ledger.select()  # one step ahead of feedback
        ledger.observe([group(4), group(3)])
        self.assertEqual(seen, [])
        ledger.observe([group(5), group(5)])
        self.assertEqual(seen, [[merged]])

    def test_groups_must_cover_the_selection_exactly(self) -> None:
        client = ScriptedClient({0: [3, 4, 4]})
        ledger = CursorLedger(client, 3)
        ledger.select()
        with self.assertRaisesRegex(ZpdError, r"observe step 0: .*not selected: \[7\], missing: \[4\]"):
            ledger.observe([group(3), group(4), group(7)])
        with self.assertRaisesRegex(ZpdError, r"observe step 0: group 1 \(index 4\) has 1 correct for 2 rewards"):
            ledger.observe([group(3), dict(group(4), correct=[1]), group(4)])
        self.assertEqual(client.sent, [], "nothing reaches the server when the check fails")
        ledger.observe([group(4), group(3), group(4)])
        self.assertEqual(client.sent, [0])

    def test_outcomes_for_a_step_never_selected_are_refused(self) -> None:
        ledger = CursorLedger(ScriptedClient({0: [1]}), 1)
        with self.assertRaisesRegex(ZpdError, "step 0 was never selected"):
            ledger.observe([group(1)])

    def test_restore_resumes_at_the_first_unobserved_step(self) -> None:
        client = ScriptedClient({0: [1], 1: [2], 2: [3]})
        ledger = CursorLedger(client, 1)
        for _ in range(3):
            ledger.select()
        ledger.observe([group(1)])
        state = ledger.state_dict()
        self.assertEqual(state["format"], ADAPTER_STATE_FORMAT)
        other = CursorLedger(client, 1)
        other.load_state_dict(state)
        self.assertEqual((other.next_observe, other.next_select, dict(other.pending)), (1, 1, {}))
        with self.assertRaisesRegex(ZpdError, "batch_size 1, this trainer uses 2"):
            CursorLedger(client, 2).load_state_dict(state)
        with self.assertRaisesRegex(ZpdError, "expected a 'zpd-adapter-state/1' object"):
            other.load_state_dict({"format": "something else"})

    def test_non_finite_numbers_are_refused_before_sending(self) -> None:
        from zpd_curriculum.rows import groups_from_rows

        with self.assertRaisesRegex(ZpdError, r"verl update\(batch\): row 1 has a non-finite rewards value \(nan\)"):
            groups_from_rows(["u", "u"], [3, 3], [1.0, float("nan")], where="verl update(batch)")
        with self.assertRaisesRegex(ZpdError, r"POST /v1/observe: the body holds a non-finite number"):
            ZpdClient("http://127.0.0.1:9", "t", retry_for=0).observe(0, [{"index": 0, "rewards": [float("inf")]}])


if __name__ == "__main__":
    unittest.main()
