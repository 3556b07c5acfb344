"""Sampling with the sampled token's logprob, in vLLM's ``/v1/completions`` dialect.

All prompts x n samples of one request decode together in one left-padded batch; rows are
ordered prompt-major, sample-minor, which is vLLM's choice order (``index = i * n + j``).
A request's ``seed`` seeds one ``torch.Generator`` that draws every row's tokens, so the
same request (same prompts, n, parameters, seed and weights) gives the same completions.

Logprobs are *processed*: ``log_softmax(logits / temperature)`` at the sampled token, the
distribution the token was drawn from (vLLM's ``--logprobs-mode processed_logprobs``).
Temperature 0 is greedy; its logprobs are then ``log_softmax(logits)`` (temperature 1).
Truncated sampling (top_p < 1, top_k > 0, min_p > 0) is refused: the trainer does not
replay truncation, so its importance ratios would be wrong (spec/runtime.md §1.3).

Stops, as in vLLM: the EOS token (unless ``ignore_eos``) and ``stop_token_ids`` end a
completion with finish_reason ``stop`` and stay in ``token_ids``; a ``stop`` string ends it
with ``stop``, the tokens stay in ``token_ids`` but the text is cut before the string (unless
``include_stop_str_in_output``); ``max_tokens`` ends it with ``length``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .models import LM


class BadRequest(ValueError):
    """A request the worker refuses (HTTP 400)."""


@dataclass
class SamplingRequest:
    prompts: List[List[int]]
    n: int = 1
    temperature: float = 1.0
    max_tokens: int = 16
    seed: Optional[int] = None
    stop: List[str] = field(default_factory=list)
    stop_token_ids: List[int] = field(default_factory=list)
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True
    logprobs: Optional[int] = None


@dataclass
class Sample:
    prompt_index: int
    sample_index: int
    token_ids: List[int]
    logprobs: List[float]
    top_logprobs: List[dict]
    text: str
    finish_reason: str
    stop_reason: Union[None, int, str]


def _first_stop(text: str, stops: Sequence[str]) -> Optional[tuple]:
    best = None
    for s in stops:
        if not s:
            continue
        at = text.find(s)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, s)
    return best


def sample(lm: LM, req: SamplingRequest, max_rows: int = 1024) -> List[Sample]:
    """Generates ``n`` completions for every prompt, in vLLM's choice order."""
    if req.n < 1:
        raise BadRequest(f"n must be >= 1, got {req.n}")
    if req.max_tokens < 1:
        raise BadRequest(f"max_tokens must be >= 1, got {req.max_tokens}")
    if req.temperature < 0:
        raise BadRequest(f"temperature must be >= 0, got {req.temperature}")
    if len(req.prompts) * req.n > max_rows:
        raise BadRequest(f"{len(req.prompts)} prompts x n={req.n} exceeds the worker's --max-batch-rows {max_rows}")
    vocab = lm.vocab_size
    for i, p in enumerate(req.prompts):
        if len(p) == 0:
            raise BadRequest(f"prompt {i} is empty")
        bad = [t for t in p if not (0 <= int(t) < vocab)]
        if bad:
            raise BadRequest(f"prompt {i} has token ids outside [0, {vocab}): {bad[:5]}")
        if lm.max_len is not None and len(p) + req.max_tokens > lm.max_len:
            raise BadRequest(
                f"prompt {i} has {len(p)} tokens; with max_tokens {req.max_tokens} that exceeds the model's "
                f"context of {lm.max_len} tokens")

    device = lm.device
    rows = [(i, j) for i in range(len(req.prompts)) for j in range(req.n)]
    width = max(len(p) for p in req.prompts)
    pad = lm.tokenizer.pad_id if lm.tokenizer.pad_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (i, _) in enumerate(rows):
        p = req.prompts[i]
        ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[r, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)

    gen = torch.Generator(device="cpu")
    if req.seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(req.seed) % (2**63))

    stop_ids = set(int(t) for t in req.stop_token_ids)
    eos = lm.eos_id
    k_top = req.logprobs if req.logprobs is not None else 0
    out_tokens: List[List[int]] = [[] for _ in rows]
    out_lps: List[List[float]] = [[] for _ in rows]
    out_top: List[List[dict]] = [[] for _ in rows]
    finish: List[Optional[str]] = [None] * len(rows)
    stop_reason: List[Union[None, int, str]] = [None] * len(rows)
    cut: List[Optional[int]] = [None] * len(rows)

    module = lm.module
    with torch.no_grad():
        state, logits = lm.start(module, ids, mask)
        for t in range(req.max_tokens):
            logits = logits.float()
            if req.temperature == 0:
                lps = F.log_softmax(logits, dim=-1)
                tokens = lps.argmax(dim=-1)
            else:
                lps = F.log_softmax(logits / req.temperature, dim=-1)
                probs = lps.exp().cpu()
                tokens = torch.multinomial(probs, 1, generator=gen).squeeze(1).to(device)
            chosen = lps.gather(1, tokens[:, None]).squeeze(1).cpu().tolist()
            tokens_list = tokens.cpu().tolist()
            top = None
            if k_top > 0:
                tv, ti = lps.topk(min(k_top, lps.shape[-1]), dim=-1)
                top = (tv.cpu().tolist(), ti.cpu().tolist())
            for r in range(len(rows)):
                if finish[r] is not None:
                    continue
                tok = int(tokens_list[r])
                out_tokens[r].append(tok)
                out_lps[r].append(max(float(chosen[r]), -9999.0))
                entry = {tok: out_lps[r][-1]}
                if top is not None:
                    for v, k in zip(top[0][r], top[1][r]):
                        entry[int(k)] = max(float(v), -9999.0)
                out_top[r].append(entry)
                if eos is not None and tok == eos and not req.ignore_eos:
                    finish[r] = "stop"
                elif tok in stop_ids:
                    finish[r], stop_reason[r] = "stop", tok
                elif req.stop:
                    text = lm.tokenizer.decode(out_tokens[r], skip_special_tokens=req.skip_special_tokens)
                    hit = _first_stop(text, req.stop)
                    if hit is not None:
                        finish[r], stop_reason[r] = "stop", hit[1]
                        cut[r] = hit[0] + (len(hit[1]) if req.include_stop_str_in_output else 0)
            if all(f is not None for f in finish):
                break
            if t + 1 < req.max_tokens:
                state, logits = lm.step(module, state, tokens)

    samples: List[Sample] = []
    for r, (i, j) in enumerate(rows):
        text = lm.tokenizer.decode(out_tokens[r], skip_special_tokens=req.skip_special_tokens)
        if cut[r] is not None:
            text = text[: cut[r]]
        samples.append(Sample(prompt_index=i, sample_index=j, token_ids=out_tokens[r], logprobs=out_lps[r],
                              top_logprobs=out_top[r], text=text, finish_reason=finish[r] or "length",
                              stop_reason=stop_reason[r]))
    return samples
