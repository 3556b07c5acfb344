"""Supervised warm start: a few cross-entropy steps on (prompt, answer) pairs before RL.

RL for LLMs starts from a pretrained model that already solves the easy items of a task
and is unsure about the hard ones. A randomly initialised tiny model has neither property,
so a run on it measures how fast GRPO escapes chance, not how a curriculum spends a
budget. ``warm_start`` gives the tiny model that starting point: next-token cross-entropy
on the answer tokens of the given examples, in the given order, ``batch_size`` at a time,
with its own AdamW (the trainer's optimiser stays untouched). The reference model is then
reset to the warm-started weights, so the KL term of the RL loss pulls towards the
"pretrained" policy, as it would for a real model. The policy version stays 0.

A fixed number of batches leaves some initialisations far less competent than others (on
the suffix-sum task, level 1 at 0.56, 0.49 and 0.17 after the same 200 batches on three
seeds). With ``until = {examples, accuracy, every?, maxSteps}`` the phase goes on after its
``epochs`` passes, cycling through the examples again, and checks every ``every`` batches
(default 50) the expected accuracy of sampling at temperature 1 on ``until.examples`` (the
mean over them of the probability of the whole answer, teacher-forced: exact, no sampling
noise); it stops once that reaches ``accuracy`` or after ``maxSteps`` batches in all.

It is refused once an RL update has happened: it defines the starting point of a run.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

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


def _batch(lm: Any, chunk: List[Tuple[List[int], List[int]]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask, and the mask of the positions holding an answer token."""
    pad = lm.tokenizer.pad_id if lm.tokenizer.pad_id is not None else 0
    width = max(len(p) + len(a) for p, a in chunk)
    ids = torch.full((len(chunk), width), pad, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.long)
    target = torch.zeros((len(chunk), width), dtype=torch.bool)
    for b, (p, a) in enumerate(chunk):
        ids[b, :len(p) + len(a)] = torch.tensor(p + a, dtype=torch.long)
        mask[b, :len(p) + len(a)] = 1
        target[b, len(p):len(p) + len(a)] = True
    return ids.to(lm.device), mask.to(lm.device), target.to(lm.device)


def expected_accuracy(lm: Any, data: List[Tuple[List[int], List[int]]], batch_size: int = 256) -> float:
    """The mean over ``data`` of the probability that sampling at temperature 1 produces the
    whole answer: the product of its tokens' probabilities, each given the ones before it."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            ids, mask, target = _batch(lm, data[start:start + batch_size])
            logp = torch.log_softmax(lm.logits(lm.module, ids, mask)[:, :-1, :].float(), dim=-1)
            token = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            total += float(torch.exp((token * target[:, 1:]).sum(dim=1)).sum().item())
    return total / len(data)


def _until(lm: Any, until: Any) -> Optional[Tuple[List[Tuple[List[int], List[int]]], float, int, int]]:
    if until is None:
        return None
    if not isinstance(until, dict):
        raise BadRequest(f"until: expected {{examples, accuracy, every?, maxSteps}}, got {until!r}"[:300])
    try:
        data = _examples(lm, until.get("examples"))
    except BadRequest as e:
        raise BadRequest(f"until.{e}") from None
    accuracy = until.get("accuracy")
    if not (isinstance(accuracy, (int, float)) and 0 < accuracy <= 1):
        raise BadRequest(f"until.accuracy: expected a number in (0, 1], got {accuracy!r}")
    every = until.get("every", 50)
    if not (isinstance(every, int) and every >= 1):
        raise BadRequest(f"until.every: expected an integer >= 1, got {every!r}")
    max_steps = until.get("maxSteps")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise BadRequest(f"until.maxSteps: expected an integer >= 1, got {max_steps!r}")
    return data, float(accuracy), every, max_steps


def warm_start(trainer: Trainer, body: Any) -> dict:
    """Runs the warm start described by ``body`` = ``{examples, batchSize?, learningRate?, epochs?,
    until?}`` (defaults 64, 3e-3, 1, none) and returns ``{policyVersion, referenceVersion, steps,
    lossFirst, lossLast, checkAccuracy}`` (the mean cross-entropy per answer token of the first and
    the last batch; the last expected accuracy on ``until.examples``, null without ``until``)."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object {examples, batchSize?, learningRate?, epochs?, until?}")
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
    until = _until(lm, body.get("until"))

    module = lm.module
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=float(lr), weight_decay=0.0)
    losses: List[float] = []

    def step(chunk: List[Tuple[List[int], List[int]]]) -> None:
        ids, mask, target = _batch(lm, chunk)
        logits = lm.logits(module, ids, mask)[:, :-1, :].float()
        picked = target[:, 1:]
        loss = F.cross_entropy(logits[picked], ids[:, 1:][picked])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))

    starts = list(range(0, len(data), batch_size))
    for _ in range(epochs):
        for start in starts:
            step(data[start:start + batch_size])
    check: Optional[float] = None
    if until is not None:
        check_data, target_accuracy, every, max_steps = until
        check = expected_accuracy(lm, check_data)
        n = 0
        while check < target_accuracy and len(losses) < max_steps:
            start = starts[n % len(starts)]
            step(data[start:start + batch_size])
            n += 1
            if n % every == 0 or len(losses) == max_steps:
                check = expected_accuracy(lm, check_data)
    optimizer.zero_grad(set_to_none=True)
    trainer.reset_reference()
    return {"policyVersion": trainer.version, "referenceVersion": trainer.reference_version, "steps": len(losses),
            "lossFirst": losses[0], "lossLast": losses[-1], "checkAccuracy": check}
