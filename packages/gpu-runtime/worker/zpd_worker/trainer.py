"""GRPO/PPO updates with k3 KL to a reference copy, weighted per token.

For sample i and completion token t (``lossMask`` true), with temperature T_i:

    logp_t   = log softmax(logits_{t-1} / T_i)[x_t]        (policy, recomputed)
    ref_t    = same under the reference copy (no gradient)
    old_t    = samplingLogprobs[t]                          (from the sampler)
    r_t      = exp(logp_t - old_t)
    pg_t     = -min(r_t * A_t, clip(r_t, 1 - eps, 1 + eps) * A_t)
    d_t      = ref_t - logp_t
    k3_t     = exp(d_t) - d_t - 1                           (Schulman's k3, >= 0)
    l_t      = pg_t + beta * w_t * k3_t                     (w_t = klWeight[t])

Aggregation: ``token-mean`` = sum over all loss tokens of l_t / number of loss tokens in
the step; ``seq-mean`` = mean over samples of (sum_t l_t / |y_i|). A zero-variance group
(A = 0) with sparse KL (w = 0) therefore contributes exactly zero loss and gradient, and
its per-group KL contribution ``groupKl[g]`` (mean over the group's loss tokens of
w_t * k3_t) is exactly 0.

Then gradient-norm clipping (``maxGradNorm``), one AdamW step, and the policy version goes
up by one. Under ``torchrun`` every rank takes the samples ``i % world == rank``; gradients
and metric sums are all-reduced, so every rank takes the same optimiser step
(data parallel; each rank holds a full copy of the model).
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import os
import random
import tempfile
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F

from .models import LM
from .sampling import BadRequest


def _dist():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed
    return None


class Trainer:
    """The policy, its reference copy, the optimiser and the version counters."""

    def __init__(self, lm: LM, lr: float = 1e-3, weight_decay: float = 0.0, max_grad_norm: float = 1.0,
                 micro_batch: int = 64, checkpoint_dir: Optional[str] = None, betas=(0.9, 0.999)) -> None:
        self.lm = lm
        self.reference = copy.deepcopy(lm.module)
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.reference.eval()
        self.params = [p for p in lm.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay, betas=betas)
        self.default_lr = lr
        self.max_grad_norm = max_grad_norm
        self.micro_batch = max(1, micro_batch)
        self.checkpoint_dir = checkpoint_dir or os.path.join(tempfile.gettempdir(), "zpd-worker-checkpoints")
        self.version = 0
        self.reference_version = 0
        self.last_update: Optional[Dict[str, Any]] = None  # {step, digest, result}

    # -- helpers ------------------------------------------------------------

    def _token_logprobs(self, module, ids, mask, temps):
        """Temperature-scaled logits of positions 0..L-2 and the logprob of each next token
        (gather minus logsumexp: no [B, L, V] log-softmax kept for the backward pass)."""
        logits = self.lm.logits(module, ids, mask)[:, :-1, :].float() / temps[:, None, None]
        logp = logits.gather(2, ids[:, 1:, None]).squeeze(2) - torch.logsumexp(logits, dim=-1)
        return logits, logp

    def _validate(self, samples: List[dict]) -> None:
        vocab = self.lm.vocab_size
        if not isinstance(samples, list):
            raise BadRequest("samples: expected an array")
        for n, s in enumerate(samples):
            try:
                L = len(s["tokenIds"])
                for key in ("lossMask", "samplingLogprobs", "advantages", "klWeight"):
                    if len(s[key]) != L:
                        raise BadRequest(f"samples[{n}].{key}: expected {L} entries (one per token), got {len(s[key])}")
                temp = float(s["temperature"])
            except KeyError as e:
                raise BadRequest(f"samples[{n}]: missing field {e}")
            except TypeError as e:
                raise BadRequest(f"samples[{n}]: {e}")
            if L < 2:
                raise BadRequest(f"samples[{n}]: expected at least 2 tokens (prompt ++ completion), got {L}")
            if s["lossMask"][0]:
                raise BadRequest(f"samples[{n}].lossMask[0]: the first token has no context and cannot be trained")
            if not (temp > 0):
                raise BadRequest(f"samples[{n}].temperature: expected > 0, got {temp}")
            bad = [t for t in s["tokenIds"] if not (isinstance(t, int) and 0 <= t < vocab)]
            if bad:
                raise BadRequest(f"samples[{n}].tokenIds: ids outside [0, {vocab}): {bad[:5]}")
            if self.lm.max_len is not None and L > self.lm.max_len:
                raise BadRequest(f"samples[{n}]: {L} tokens exceed the model's context of {self.lm.max_len}")

    # -- update ---------------------------------------------------------------

    def update(self, request: dict, digest: Optional[str] = None) -> dict:
        """One optimiser step. Repeating the last request (same step, same body digest) returns
        the recorded result without training again, so clients may retry an update whose reply
        was lost."""
        step = request.get("step")
        if self.last_update is not None and digest is not None and self.last_update["step"] == step \
                and self.last_update["digest"] == digest:
            return dict(self.last_update["result"], replayed=True)
        samples = request.get("samples")
        self._validate(samples)
        loss_cfg = request.get("loss") or {}
        beta = float(loss_cfg.get("klCoef", 0.0))
        eps = float(loss_cfg.get("clip", 0.2))
        agg = loss_cfg.get("aggregation", "token-mean")
        if agg not in ("token-mean", "seq-mean"):
            raise BadRequest(f"loss.aggregation: expected 'token-mean' or 'seq-mean', got {agg!r}")
        lr = float(loss_cfg.get("learningRate", self.default_lr) or self.default_lr)
        max_norm = loss_cfg.get("maxGradNorm", self.max_grad_norm)
        max_norm = float(max_norm) if max_norm is not None else None

        dist = _dist()
        world = dist.get_world_size() if dist else 1
        rank = dist.get_rank() if dist else 0
        device = self.lm.device
        N = len(samples)
        total_tokens = sum(sum(1 for m in s["lossMask"] if m) for s in samples)
        denom_tokens = max(total_tokens, 1)
        groups = max([int(s.get("group", -1)) for s in samples] + [-1]) + 1

        # sums: loss, k3, weighted k3, clipped, ratio, ratio max, entropy, tokens
        acc = torch.zeros(7, dtype=torch.float64)
        ratio_max = torch.zeros(1, dtype=torch.float64)
        group_sum = torch.zeros(max(groups, 1), dtype=torch.float64)
        group_cnt = torch.zeros(max(groups, 1), dtype=torch.float64)

        module = self.lm.module
        module.eval()  # no dropout: recomputed logprobs must match the sampler's
        self.optimizer.zero_grad(set_to_none=True)
        mine = [i for i in range(N) if i % world == rank]
        pad = self.lm.tokenizer.pad_id if self.lm.tokenizer.pad_id is not None else 0
        for start in range(0, len(mine), self.micro_batch):
            chunk = [samples[i] for i in mine[start:start + self.micro_batch]]
            width = max(len(s["tokenIds"]) for s in chunk)
            B = len(chunk)
            ids = torch.full((B, width), pad, dtype=torch.long)
            attn = torch.zeros((B, width), dtype=torch.long)
            lmask = torch.zeros((B, width), dtype=torch.float32)
            old = torch.zeros((B, width), dtype=torch.float32)
            adv = torch.zeros((B, width), dtype=torch.float32)
            klw = torch.zeros((B, width), dtype=torch.float32)
            temps = torch.zeros(B, dtype=torch.float32)
            gidx = torch.full((B,), -1, dtype=torch.long)
            for b, s in enumerate(chunk):
                L = len(s["tokenIds"])
                ids[b, :L] = torch.tensor(s["tokenIds"], dtype=torch.long)
                attn[b, :L] = 1
                lmask[b, :L] = torch.tensor([1.0 if m else 0.0 for m in s["lossMask"]])
                old[b, :L] = torch.tensor(s["samplingLogprobs"], dtype=torch.float32)
                adv[b, :L] = torch.tensor(s["advantages"], dtype=torch.float32)
                klw[b, :L] = torch.tensor(s["klWeight"], dtype=torch.float32)
                temps[b] = float(s["temperature"])
                gidx[b] = int(s.get("group", -1))
            ids, attn, temps = ids.to(device), attn.to(device), temps.to(device)
            m, old, adv, klw = (x[:, 1:].to(device) for x in (lmask, old, adv, klw))

            all_logits, logp = self._token_logprobs(module, ids, attn, temps)
            with torch.no_grad():
                _, ref = self._token_logprobs(self.reference, ids, attn, temps)
            ratio = torch.exp(logp - old)
            clipped = torch.clamp(ratio, 1 - eps, 1 + eps)
            pg = -torch.minimum(ratio * adv, clipped * adv)
            delta = ref - logp
            k3 = torch.exp(delta) - delta - 1
            tok = pg + beta * klw * k3
            if agg == "token-mean":
                loss = (tok * m).sum() / denom_tokens
            else:
                per_seq = (tok * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
                loss = per_seq.sum() / max(N, 1)
            loss.backward()

            with torch.no_grad():
                is_clipped = ((adv > 0) & (ratio > 1 + eps)) | ((adv < 0) & (ratio < 1 - eps))
                z = all_logits.detach()
                ent = torch.logsumexp(z, dim=-1) - (F.softmax(z, dim=-1) * z).sum(-1)
                acc += torch.tensor([
                    float(loss.item()),
                    float((k3 * m).sum().item()),
                    float((klw * k3 * m).sum().item()),
                    float((is_clipped.float() * m).sum().item()),
                    float((ratio * m).sum().item()),
                    float((ent * m).sum().item()),
                    float(m.sum().item()),
                ], dtype=torch.float64)
                rmax = (ratio * m).max().item() if m.sum() > 0 else 0.0
                ratio_max[0] = max(float(ratio_max[0]), float(rmax))
                seq_wk3 = ((klw * k3 * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)).double().cpu()
                for b in range(B):
                    g = int(gidx[b])
                    if g >= 0:
                        group_sum[g] += seq_wk3[b]
                        group_cnt[g] += 1

        if dist:
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
            for t in (acc, group_sum, group_cnt):
                dist.all_reduce(t)
            dist.all_reduce(ratio_max, op=dist.ReduceOp.MAX)

        grads = [p.grad for p in self.params if p.grad is not None]
        grad_norm = float(torch.norm(torch.stack([g.detach().float().norm() for g in grads]))) if grads else 0.0
        if max_norm is not None and math.isfinite(max_norm) and max_norm > 0 and grads:
            torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if grads:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.version += 1

        tokens = max(float(acc[6]), 1.0)
        metrics = {
            "loss": float(acc[0]),
            "kl_mean": float(acc[1]) / tokens,
            "kl_weighted_mean": float(acc[2]) / tokens,
            "clipfrac": float(acc[3]) / tokens,
            "ratio_mean": float(acc[4]) / tokens,
            "ratio_max": float(ratio_max[0]),
            "entropy": float(acc[5]) / tokens,
            "grad_norm": grad_norm,
            "loss_tokens": float(acc[6]),
            "lr": lr,
        }
        group_kl = [float(group_sum[g] / group_cnt[g]) if group_cnt[g] > 0 else 0.0 for g in range(groups)]
        result = {"step": step, "policyVersion": self.version, "metrics": metrics, "groupKl": group_kl}
        self.last_update = {"step": step, "digest": digest, "result": result}
        return result

    # -- reference ------------------------------------------------------------

    def reset_reference(self) -> dict:
        self.reference.load_state_dict(self.lm.module.state_dict())
        self.reference_version = self.version
        return {"policyVersion": self.version, "referenceVersion": self.reference_version}

    # -- weights and checkpoints -----------------------------------------------

    def digest(self) -> str:
        h = hashlib.sha256()
        for name, t in sorted(self.lm.module.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes() if t.dtype != torch.bfloat16
                     else t.detach().float().cpu().numpy().tobytes())
        return h.hexdigest()

    def checkpoint(self, tag: str, directory: Optional[str] = None) -> dict:
        """Writes model, reference, optimiser, versions, the last update and RNG states to one
        file, atomically (temp file in the same directory, then rename)."""
        if not tag or "/" in tag or tag.startswith("."):
            raise BadRequest(f"tag: expected a plain file-name stem, got {tag!r}")
        d = directory or self.checkpoint_dir
        os.makedirs(d, exist_ok=True)
        path = os.path.abspath(os.path.join(d, f"{tag}.pt"))
        state = {
            "format": "zpd-worker-checkpoint/1",
            "model": self.lm.describe(),
            "policy": self.lm.module.state_dict(),
            "reference": self.reference.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "version": self.version,
            "referenceVersion": self.reference_version,
            "lastUpdate": self.last_update,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        buf = io.BytesIO()
        torch.save(state, buf)
        fd, tmp = tempfile.mkstemp(prefix=f".{tag}.", suffix=".tmp", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return {"policyVersion": self.version, "path": path}

    def restore(self, path: str) -> dict:
        if not isinstance(path, str) or not os.path.isfile(path):
            raise BadRequest(f"path: expected a checkpoint file written by /trainer/checkpoint, got {path!r}")
        try:
            state = torch.load(path, map_location=self.lm.device)
        except Exception as e:
            raise BadRequest(f"{path}: not a readable checkpoint: {type(e).__name__}: {e}")
        if not isinstance(state, dict) or state.get("format") != "zpd-worker-checkpoint/1":
            raise BadRequest(f"{path}: not a zpd worker checkpoint (format zpd-worker-checkpoint/1)")
        want, have = state.get("model", {}), self.lm.describe()
        if want.get("kind") != have.get("kind") or want.get("parameters") != have.get("parameters"):
            raise BadRequest(f"{path}: checkpoint is for model {want}, this worker runs {have}")
        self.lm.module.load_state_dict(state["policy"])
        self.reference.load_state_dict(state["reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.version = int(state["version"])
        self.reference_version = int(state["referenceVersion"])
        self.last_update = state.get("lastUpdate")
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
        if "python" in rng:
            random.setstate(rng["python"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        return {"policyVersion": self.version, "referenceVersion": self.reference_version}

    def publish_weights(self, directory: Optional[str]) -> dict:
        if not directory:
            return {"policyVersion": self.version, "path": None}
        os.makedirs(directory, exist_ok=True)
        name = f"policy-v{self.version}" + (".pt" if self.lm.kind == "tiny" else "")
        path = self.lm.save_weights(os.path.abspath(os.path.join(directory, name)))
        return {"policyVersion": self.version, "path": path}

    def load_weights(self, path: str, version: Optional[int]) -> dict:
        if not isinstance(path, str) or not os.path.exists(path):
            raise BadRequest(f"path: expected weights written by /trainer/publish_weights, got {path!r}")
        try:
            self.lm.load_weights(path)
        except Exception as e:  # a file that is not weights for this model: the caller's mistake
            raise BadRequest(f"{path}: could not load weights into this model: {type(e).__name__}: {e}")
        if version is not None:
            self.version = int(version)
        return {"policyVersion": self.version}
