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
import json
import math
import os
import random
import re
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from . import tensorfile
from .models import LM
from .sampling import BadRequest

CHECKPOINT_FORMAT = "zpd-worker-checkpoint/2"
CHECKPOINT_SUFFIX = ".safetensors"


def _dist():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed
    return None


def all_reduce_bucketed(dist, tensors: List[torch.Tensor], bucket_bytes: int) -> int:
    """Sums ``tensors`` over the process group in place, packed into flat buckets of at most
    ``bucket_bytes`` (one per run of same dtype and device; a larger tensor goes alone), so a
    model costs a few collective calls instead of one per parameter. Returns the call count."""
    calls = 0
    bucket: List[torch.Tensor] = []
    size = 0

    def flush() -> None:
        nonlocal calls, bucket, size
        if not bucket:
            return
        if len(bucket) == 1:
            dist.all_reduce(bucket[0])
        else:
            flat = torch.cat([t.reshape(-1) for t in bucket])
            dist.all_reduce(flat)
            offset = 0
            for t in bucket:
                n = t.numel()
                t.copy_(flat[offset:offset + n].view_as(t))
                offset += n
        calls += 1
        bucket, size = [], 0

    for t in tensors:
        nbytes = t.numel() * t.element_size()
        if bucket and (size + nbytes > bucket_bytes or t.dtype != bucket[0].dtype or t.device != bucket[0].device):
            flush()
        bucket.append(t)
        size += nbytes
    flush()
    return calls


class Trainer:
    """The policy, its reference copy, the optimiser and the version counters."""

    def __init__(self, lm: LM, lr: float = 1e-3, weight_decay: float = 0.0, max_grad_norm: float = 1.0,
                 micro_batch: int = 64, checkpoint_dir: Optional[str] = None, betas=(0.9, 0.999),
                 publish_dtype: str = "bfloat16", keep_published: int = 2, bucket_mb: float = 25.0) -> None:
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
        self.publish_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[publish_dtype]
        self.keep_published = keep_published
        self.bucket_bytes = max(1, int(bucket_mb * 2 ** 20))

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
            all_reduce_bucketed(dist, [p.grad for p in self.params], self.bucket_bytes)
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
        safetensors file (tensors streamed one at a time; everything else as JSON in its
        metadata), atomically: temp file in the same directory, fsync, rename. ``directory`` has
        been confined to the worker's checkpoint directory by the caller."""
        if not isinstance(tag, str) or not tag or "/" in tag or "\\" in tag or tag.startswith("."):
            raise BadRequest(f"tag: expected a plain file-name stem, got {tag!r}")
        d = directory or self.checkpoint_dir
        os.makedirs(d, exist_ok=True)
        path = os.path.abspath(os.path.join(d, f"{tag}{CHECKPOINT_SUFFIX}"))
        opt = self.optimizer.state_dict()
        tensors: List[Tuple[str, torch.Tensor]] = []
        tensors += [(f"policy.{k}", v) for k, v in self.lm.module.state_dict().items()]
        tensors += [(f"reference.{k}", v) for k, v in self.reference.state_dict().items()]
        opt_plain: Dict[str, Dict[str, Any]] = {}
        for idx, entry in opt["state"].items():
            for k, v in entry.items():
                if torch.is_tensor(v):
                    tensors.append((f"optimizer.{idx}.{k}", v))
                else:
                    opt_plain.setdefault(str(idx), {})[k] = v
        tensors.append(("rng.torch", torch.get_rng_state()))
        cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        tensors += [(f"rng.cuda.{i}", t) for i, t in enumerate(cuda_states)]
        py_version, py_state, py_gauss = random.getstate()
        meta = {
            "format": CHECKPOINT_FORMAT,
            "model": self.lm.describe(),
            "version": self.version,
            "referenceVersion": self.reference_version,
            "lastUpdate": self.last_update,
            "optimizer": {"param_groups": opt["param_groups"], "plain": opt_plain},
            "rng": {"python": [py_version, list(py_state), py_gauss], "cuda": len(cuda_states)},
        }
        tensorfile.write(path, tensors, {"format": "pt", "zpd": json.dumps(meta)})
        return {"policyVersion": self.version, "path": path}

    def restore(self, path: str) -> dict:
        """Reads a checkpoint written by ``checkpoint``: safetensors and JSON only, nothing is
        unpickled (a ``torch.save`` file, or anything else, is refused with a 400)."""
        if not isinstance(path, str) or not os.path.isfile(path):
            raise BadRequest(f"path: expected a checkpoint file written by /trainer/checkpoint, got {path!r}")
        try:
            tensors, file_meta = tensorfile.read(path)
            meta = json.loads(file_meta.get("zpd", "null"))
        except (tensorfile.NotTensorFile, json.JSONDecodeError) as e:
            raise BadRequest(f"{path}: not a zpd worker checkpoint ({CHECKPOINT_FORMAT}): {e}")
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise BadRequest(f"{path}: not a zpd worker checkpoint (its metadata lacks format {CHECKPOINT_FORMAT})")
        want, have = meta.get("model", {}), self.lm.describe()
        if want.get("kind") != have.get("kind") or want.get("parameters") != have.get("parameters"):
            raise BadRequest(f"{path}: checkpoint is for model {want}, this worker runs {have}")

        def part(prefix: str) -> Dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        try:
            self.lm.module.load_state_dict(part("policy."))
            self.reference.load_state_dict(part("reference."))
            state: Dict[int, Dict[str, Any]] = {}
            for k, v in part("optimizer.").items():
                idx, key = k.split(".", 1)
                state.setdefault(int(idx), {})[key] = v
            for idx, entry in meta["optimizer"]["plain"].items():
                state.setdefault(int(idx), {}).update(entry)
            self.optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
        except (RuntimeError, KeyError, ValueError) as e:
            raise BadRequest(f"{path}: checkpoint does not fit this worker's model: {type(e).__name__}: {e}")
        self.version = int(meta["version"])
        self.reference_version = int(meta["referenceVersion"])
        self.last_update = meta.get("lastUpdate")
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"])
        py = (meta.get("rng") or {}).get("python")
        if py:
            random.setstate((py[0], tuple(py[1]), py[2]))
        cuda = [tensors[f"rng.cuda.{i}"] for i in range(int((meta.get("rng") or {}).get("cuda", 0)))]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        return {"policyVersion": self.version, "referenceVersion": self.reference_version}

    def publish_weights(self, directory: Optional[str]) -> dict:
        """Writes the policy as ``policy-v<version>`` in ``directory`` (safetensors, floats cast to
        ``publish_dtype``), then deletes all but the newest ``keep_published`` versions there."""
        if not directory:
            return {"policyVersion": self.version, "path": None}
        os.makedirs(directory, exist_ok=True)
        name = f"policy-v{self.version}" + (".safetensors" if self.lm.kind == "tiny" else "")
        path = self.lm.save_weights(os.path.abspath(os.path.join(directory, name)), self.publish_dtype)
        removed = prune_published(directory, self.version, self.keep_published)
        return {"policyVersion": self.version, "path": path, "removed": removed}

    def load_weights(self, path: str, version: Optional[int]) -> dict:
        if not isinstance(path, str) or not os.path.exists(path):
            raise BadRequest(f"path: expected weights written by /trainer/publish_weights, got {path!r}")
        try:
            self.lm.load_weights(path)
        except (tensorfile.NotTensorFile, ValueError, RuntimeError, KeyError) as e:
            raise BadRequest(f"{path}: could not load weights into this model: {type(e).__name__}: {e}")
        if version is not None:
            self.version = int(version)
        return {"policyVersion": self.version}


PUBLISHED = re.compile(r"^policy-v(\d+)(\.safetensors)?$")


def prune_published(directory: str, current: int, keep: int) -> List[str]:
    """Deletes published versions in ``directory`` other than the newest ``keep`` (counting
    ``current``); ``keep <= 0`` keeps everything. Only names ``policy-v<N>[.safetensors]``
    are touched. Returns the removed paths."""
    if keep <= 0:
        return []
    found = []
    for entry in os.listdir(directory):
        m = PUBLISHED.match(entry)
        if m:
            found.append((int(m.group(1)), entry))
    older = sorted((v, e) for v, e in found if v < current)
    doomed = older[:max(0, len(older) - (keep - 1))]
    removed = []
    for _, entry in doomed:
        full = os.path.join(directory, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except FileNotFoundError:
                pass
        removed.append(full)
    return removed
