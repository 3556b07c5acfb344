"""Turning a trainer's B·n completion rows into the server's B groups.

Trainers hand over flat rows (one per completion) in an order of their own:
verl reorders rows to balance tokens across data-parallel ranks, TRL gathers
them rank by rank. Rows are grouped by a group key (verl's ``uid``, or
consecutive runs of n in TRL) and each group carries the dataset position of
its prompt, so the mapping never depends on row order.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence

from .client import ZpdError
from .ledger import Group

__all__ = ["groups_from_rows", "to_list", "row_sums", "masked_row_means"]


def to_list(values: Any) -> List[Any]:
    """A plain list from a list, tuple, numpy array or torch tensor (no numpy needed)."""
    if hasattr(values, "tolist"):
        out = values.tolist()
        return out if isinstance(out, list) else [out]
    return list(values)


def row_sums(matrix: Any) -> List[float]:
    """Per-row sums of a (rows × tokens) tensor or nested list."""
    if hasattr(matrix, "sum") and hasattr(matrix, "dim"):
        return [float(x) for x in matrix.sum(-1).tolist()]
    return [float(sum(row)) for row in to_list(matrix)]


def masked_row_means(matrix: Any, mask: Any) -> List[float]:
    """Per-row means of ``matrix`` over the tokens where ``mask`` is 1 (0 for an empty row)."""
    if hasattr(matrix, "sum") and hasattr(matrix, "dim"):
        m = mask.to(matrix.dtype)
        totals = (matrix * m).sum(-1)
        counts = m.sum(-1).clamp(min=1)
        return [float(x) for x in (totals / counts).tolist()]
    out = []
    for row, row_mask in zip(to_list(matrix), to_list(mask)):
        n = sum(1 for k in row_mask if k)
        out.append(sum(x for x, k in zip(row, row_mask) if k) / n if n else 0.0)
    return out


def groups_from_rows(
    keys: Sequence[Hashable],
    indices: Sequence[int],
    rewards: Sequence[float],
    *,
    correct: Optional[Sequence[float]] = None,
    advantages: Optional[Sequence[float]] = None,
    extra: Optional[Mapping[str, Sequence[float]]] = None,
    where: str = "batch",
) -> List[Group]:
    """Groups rows by ``keys`` (first-appearance order) into wire groups.

    Every row of a group must carry the same dataset index; ``where`` names
    the source in errors (e.g. ``"verl update(batch)"``).
    """
    n = len(keys)
    for name, column in (("indices", indices), ("rewards", rewards), ("correct", correct), ("advantages", advantages)):
        if column is not None and len(column) != n:
            raise ZpdError(f"{where}: {name} has {len(column)} rows, the group keys have {n}")
    for name, column in (extra or {}).items():
        if len(column) != n:
            raise ZpdError(f"{where}: extra key {name!r} has {len(column)} rows, the group keys have {n}")
    numeric = [("rewards", rewards), ("advantages", advantages)]
    numeric += [(f"extra {name!r}", column) for name, column in (extra or {}).items()]
    for name, column in numeric:
        for row, value in enumerate(column or []):
            if not math.isfinite(float(value)):
                raise ZpdError(f"{where}: row {row} has a non-finite {name} value ({value!r}); the server takes finite numbers")
    rows_of: "OrderedDict[Hashable, List[int]]" = OrderedDict()
    for row, key in enumerate(keys):
        rows_of.setdefault(key, []).append(row)
    groups: List[Group] = []
    for key, rows in rows_of.items():
        index = int(indices[rows[0]])
        for row in rows[1:]:
            if int(indices[row]) != index:
                raise ZpdError(
                    f"{where}: rows of group {key!r} point at different dataset indices ({index} and {int(indices[row])})"
                )
        group: Dict[str, Any] = {"index": index, "rewards": [float(rewards[r]) for r in rows]}
        if correct is not None:
            group["correct"] = [1 if float(correct[r]) > 0 else 0 for r in rows]
        if advantages is not None:
            group["advantages"] = [float(advantages[r]) for r in rows]
        if extra:
            group["extra"] = {name: [float(column[r]) for r in rows] for name, column in extra.items()}
        groups.append(group)
    return groups
