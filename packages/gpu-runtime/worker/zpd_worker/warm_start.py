"""Supervised warm start: a few cross-entropy steps on (prompt, answer) pairs before RL.

RL for LLMs starts from a pretrained model that already solves the easy items of a task
and is unsure about the hard ones. A randomly initialised tiny model has neither property,
so a run on it measures how fast GRPO escapes chance, not how a curriculum spends a
budget. ``warm_start`` gives the tiny model that starting point: next-token cross-entropy
on the answer tokens of the given examples, in the given order, ``batch_size`` at a time,
with its own AdamW (the trainer's optimiser stays untouched). The reference model is then
reset to the warm-started weights, so the KL term of the RL loss pulls towards the
"pretrained" policy, as it would for a real model. The policy version stays 0.

It is refused once an RL update has happened: it defines the starting point of a run.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import torch
import torch.nn.functional as F

from .sampling import BadRequest
from .trainer import Trainer


def _examples(lm: Any, examples: Any) -> List[Tuple[List[int], List[int]]]:
    if not isinstance(examples, list) or len(examples) == 0:
        raise BadRequest("examples: expected a non-empty array of {prompt, answer}")
    out = []
    for n, e in enumerate(examples):
        if not isinstance(e, dict) or not isinstance(e.get("prompt"), str) or not isinstance(e.get("answer"), str):
            raise BadRequest(f"examples[{n}]: expected {{prompt: string, answer: string}}, got {e!r}"[:300])
        prompt = lm.tokenizer.encode(e["prompt"], add_special_tokens=True)
        answer = lm.tokenizer.encode(e["answer"], add_special_tokens=False)
        if len(answer) == 0:
            raise BadRequest(f"examples[{n}].answer: expected at least one token, got {e['answer']!r}")
        if lm.max_len is not None and len(prompt) + len(answer) > lm.max_len:
            raise BadRequest(f"examples[{n}]: {len(prompt) + len(answer)} tokens exceed the model's context "
                             f"of {lm.max_len}")
        out.append((prompt, answer))
    return out


def warm_start(trainer: Trainer, body: Any) -> dict:
    """Runs the warm start described by ``body`` = ``{examples, batchSize?, learningRate?, epochs?}``
    (defaults 64, 3e-3, 1) and returns ``{policyVersion, referenceVersion, steps, lossFirst, lossLast}``
    (the mean cross-entropy per answer token of the first and the last batch)."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object {examples, batchSize?, learningRate?, epochs?}")
    if trainer.version != 0:
        raise BadRequest(f"warm start: only before the first update (policy version is {trainer.version})")
    lm = trainer.lm
    data = _examples(lm, body.get("examples"))
    batch_size = body.get("batchSize", 64)
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise BadRequest(f"batchSize: expected an integer >= 1, got {batch_size!r}")
    epochs = body.get("epochs", 1)
    if not (isinstance(epochs, int) and epochs >= 1):
        raise BadRequest(f"epochs: expected an integer >= 1, got {epochs!r}")
    lr = body.get("learningRate", 3e-3)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise BadRequest(f"learningRate: expected a number > 0, got {lr!r}")

    module = lm.module
    device = lm.device
    pad = lm.tokenizer.pad_id if lm.tokenizer.pad_id is not None else 0
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=float(lr), weight_decay=0.0)
    losses: List[float] = []
    for _ in range(epochs):
        for start in range(0, len(data), batch_size):
            chunk = data[start:start + batch_size]
            width = max(len(p) + len(a) for p, a in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            target = torch.zeros((len(chunk), width), dtype=torch.bool)  # positions whose token is an answer token
            for b, (p, a) in enumerate(chunk):
                ids[b, :len(p) + len(a)] = torch.tensor(p + a, dtype=torch.long)
                mask[b, :len(p) + len(a)] = 1
                target[b, len(p):len(p) + len(a)] = True
            ids, mask, target = ids.to(device), mask.to(device), target.to(device)
            logits = lm.logits(module, ids, mask)[:, :-1, :].float()
            picked = target[:, 1:]
            loss = F.cross_entropy(logits[picked], ids[:, 1:][picked])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.item()))
    optimizer.zero_grad(set_to_none=True)
    trainer.reset_reference()
    return {"policyVersion": trainer.version, "referenceVersion": trainer.reference_version, "steps": len(losses),
            "lossFirst": losses[0], "lossLast": losses[-1]}
