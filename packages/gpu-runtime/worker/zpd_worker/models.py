"""Policy models behind one small interface.

``LM`` wraps a ``torch.nn.Module`` with its tokenizer and the three calls the sampler and
the trainer need:

- ``logits(module, ids, mask)``: next-token logits ``[B, L, V]`` for right-padded
  sequences (training and scoring; pads only ever follow real tokens, so a causal model
  needs no position fix-up);
- ``start(module, ids, mask)`` / ``step(module, state, tokens)``: incremental decoding of
  left-padded prompts, returning the last position's logits ``[B, V]``.

Two implementations:

- ``TinyLM``: a small pre-LayerNorm decoder-only transformer with learned positions and
  tied embeddings over the built-in character tokenizer; it trains on a CPU in seconds.
  Decoding recomputes the whole prefix every step (sequences are tens of tokens), so the
  sampler and the trainer run exactly the same forward code.
- ``HfLM``: any Hugging Face causal LM loaded with ``transformers`` (optional import) from
  a local path, decoding with the model's KV cache and explicit position ids.

Dropout is always off (the module stays in ``eval()`` mode while training): the logprobs
the trainer recomputes must be those the sampler used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import tensorfile
from .tokenizer import CharTokenizer

TINY_WEIGHTS_FORMAT = "zpd-tiny/2"


# ---------------------------------------------------------------------------
# the tiny transformer
# ---------------------------------------------------------------------------


@dataclass
class TinyConfig:
    vocab_size: int = 99
    dim: int = 64
    layers: int = 2
    heads: int = 4
    max_len: int = 128


class _Block(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.ff1 = nn.Linear(cfg.dim, 4 * cfg.dim)
        self.ff2 = nn.Linear(4 * cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.view(b, l, h, d // h).transpose(1, 2)
        k = k.view(b, l, h, d // h).transpose(1, 2)
        v = v.view(b, l, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        att = att.masked_fill(~allowed[:, None, :, :], float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(b, l, d))
        return x + self.ff2(F.gelu(self.ff1(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Decoder-only transformer; ``forward(ids, mask, positions) -> logits``."""

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos = nn.Embedding(cfg.max_len, cfg.dim)
        self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.layers)])
        self.ln = nn.LayerNorm(cfg.dim)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        b, l = ids.shape
        if l > self.cfg.max_len:
            raise ValueError(f"sequence of {l} tokens exceeds the tiny model's max_len {self.cfg.max_len}")
        x = self.tok(ids) + self.pos(positions.clamp(0, self.cfg.max_len - 1))
        causal = torch.ones(l, l, dtype=torch.bool, device=ids.device).tril()
        allowed = causal[None, :, :] & mask.bool()[:, None, :]
        # a pad query row would see no key at all; let it see itself (its output is ignored)
        allowed = allowed | torch.eye(l, dtype=torch.bool, device=ids.device)[None, :, :]
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln(x) @ self.tok.weight.t()


# ---------------------------------------------------------------------------
# the LM interface
# ---------------------------------------------------------------------------


class LM:
    """A policy model: a module, its tokenizer and its forward conventions."""

    kind: str = "abstract"
    module: nn.Module
    tokenizer: Any
    device: torch.device
    max_len: Optional[int] = None

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    @property
    def eos_id(self) -> Optional[int]:
        return self.tokenizer.eos_id

    def logits(self, module: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def start(self, module: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> Tuple[Any, torch.Tensor]:
        raise NotImplementedError

    def step(self, module: nn.Module, state: Any, tokens: torch.Tensor) -> Tuple[Any, torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": self.kind, "parameters": sum(p.numel() for p in self.module.parameters())}

    # weights on disk (publish / load): safetensors only, never pickle
    def save_weights(self, path: str, dtype: torch.dtype = torch.bfloat16) -> str:
        raise NotImplementedError

    def load_weights(self, path: str) -> None:
        raise NotImplementedError


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(dim=1) - 1).clamp(min=0)


class TinyLM(LM):
    kind = "tiny"

    def __init__(self, cfg: TinyConfig, device: torch.device, seed: int) -> None:
        self.tokenizer = CharTokenizer()
        cfg.vocab_size = self.tokenizer.vocab_size
        torch.manual_seed(seed)
        self.module = TinyTransformer(cfg).to(device)
        self.module.eval()
        self.device = device
        self.cfg = cfg
        self.max_len = cfg.max_len

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    def logits(self, module, ids, mask):
        return module(ids, mask, _positions(mask))

    def start(self, module, ids, mask):
        state = (ids, mask)
        return state, module(ids, mask, _positions(mask))[:, -1, :]

    def step(self, module, state, tokens):
        ids, mask = state
        ids = torch.cat([ids, tokens[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(tokens)[:, None]], dim=1)
        return (ids, mask), module(ids, mask, _positions(mask))[:, -1, :]

    def describe(self):
        d = super().describe()
        d.update({"dim": self.cfg.dim, "layers": self.cfg.layers, "heads": self.cfg.heads, "maxLen": self.cfg.max_len,
                  "vocabSize": self.cfg.vocab_size, "tokenizer": "builtin-char"})
        return d

    def save_weights(self, path, dtype=torch.bfloat16):
        """One safetensors file; ``tok.weight`` is the (tied) output projection too."""
        import json

        return tensorfile.write(path, self.module.state_dict().items(), cast_floats=dtype,
                                metadata={"format": TINY_WEIGHTS_FORMAT, "config": json.dumps(vars(self.cfg))})

    def load_weights(self, path):
        tensors, meta = tensorfile.read(path)
        if meta.get("format") != TINY_WEIGHTS_FORMAT:
            raise ValueError(f"{path}: expected tiny-model weights written by publish_weights "
                             f"(safetensors with format {TINY_WEIGHTS_FORMAT}), found format {meta.get('format')!r}")
        self.module.load_state_dict(tensors)


# ---------------------------------------------------------------------------
# Hugging Face causal LMs (optional)
# ---------------------------------------------------------------------------


def transformers_available() -> Tuple[bool, str]:
    """Whether ``transformers`` imports here, and why not."""
    try:
        import transformers  # noqa: F401
        return True, f"transformers {transformers.__version__}"
    except Exception as e:  # ImportError, or a broken install
        return False, f"transformers is not importable: {type(e).__name__}: {e}"


class _HfTokenizer:
    """Adapts a ``transformers`` tokenizer to the built-in tokenizer's calls."""

    def __init__(self, tok: Any) -> None:
        self.tok = tok
        self.eos_id = tok.eos_token_id
        self.bos_id = tok.bos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)

    def encode(self, text: str, add_special_tokens: bool = True) -> List[int]:
        return list(self.tok(text, add_special_tokens=add_special_tokens)["input_ids"])

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_text(self, token_id: int) -> str:
        t = self.tok.convert_ids_to_tokens(int(token_id))
        return t if isinstance(t, str) else str(t)


class HfLM(LM):
    """A ``transformers`` causal LM from a local directory (``save_pretrained`` layout).

    ``tokenizer="auto"`` loads the directory's tokenizer; ``"builtin"`` uses the built-in
    character tokenizer (for small models trained on that vocabulary, e.g. in tests).
    """

    kind = "hf"

    def __init__(self, path: str, device: torch.device, dtype: str = "float32", tokenizer: str = "auto") -> None:
        ok, why = transformers_available()
        if not ok:
            raise RuntimeError(f"--model hf:{path} needs transformers ({why}); install it or use --model tiny")
        import transformers
        from transformers import AutoModelForCausalLM

        try:
            transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars on stderr
        except AttributeError:
            pass
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.path = path
        # transformers 5 renamed torch_dtype to dtype (4.x reads only torch_dtype)
        major = str(getattr(transformers, "__version__", "0")).split(".")[0]
        key = "dtype" if major.isdigit() and int(major) >= 5 else "torch_dtype"
        self.module = AutoModelForCausalLM.from_pretrained(path, **{key: torch_dtype}).to(device)
        self.module.eval()
        self.module.config.use_cache = True
        self.device = device
        if tokenizer == "builtin":
            self.tokenizer = CharTokenizer()
            self.tokenizer_kind = "builtin-char"
        else:
            from transformers import AutoTokenizer

            self.tokenizer = _HfTokenizer(AutoTokenizer.from_pretrained(tokenizer if tokenizer != "auto" else path))
            self.tokenizer_kind = "hf"
        self.max_len = getattr(self.module.config, "max_position_embeddings", None)

    @property
    def vocab_size(self) -> int:
        return int(self.module.get_output_embeddings().weight.shape[0])

    def logits(self, module, ids, mask):
        return module(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()

    def start(self, module, ids, mask):
        out = module(input_ids=ids, attention_mask=mask, position_ids=_positions(mask), use_cache=True)
        last_pos = _positions(mask)[:, -1]
        return (out.past_key_values, mask, last_pos), out.logits[:, -1, :].float()

    def step(self, module, state, tokens):
        past, mask, last_pos = state
        mask = torch.cat([mask, torch.ones_like(tokens)[:, None]], dim=1)
        pos = (last_pos + 1)[:, None]
        out = module(input_ids=tokens[:, None], attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True)
        return (out.past_key_values, mask, last_pos + 1), out.logits[:, -1, :].float()

    def describe(self):
        d = super().describe()
        d.update({"path": self.path, "architecture": type(self.module).__name__, "tokenizer": self.tokenizer_kind,
                  "dtype": str(next(self.module.parameters()).dtype).replace("torch.", "")})
        return d

    def save_weights(self, path, dtype=torch.bfloat16):
        """A ``save_pretrained``-style directory an inference server loads: ``config.json`` (its
        dtype set to ``dtype``), ``generation_config.json``, the tokenizer, and one
        ``model.safetensors`` streamed tensor by tensor in ``dtype``. A tied output projection is
        written once, under its first name, as ``save_pretrained`` does. Built in ``PATH.tmp``,
        then renamed."""
        import os
        import shutil

        tmp = path + ".tmp"
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
        os.makedirs(tmp)
        import json

        config = json.loads(self.module.config.to_json_string(use_diff=False))
        dtype_name = str(dtype).replace("torch.", "")
        for key in ("dtype", "torch_dtype"):
            if key in config or key == "torch_dtype" and "dtype" not in config:
                config[key] = dtype_name
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        generation = getattr(self.module, "generation_config", None)
        if generation is not None and hasattr(generation, "save_pretrained"):
            generation.save_pretrained(tmp)
        if isinstance(self.tokenizer, _HfTokenizer):
            self.tokenizer.tok.save_pretrained(tmp)
        seen, items = set(), []
        for name, t in self.module.state_dict().items():
            key = (t.data_ptr(), tuple(t.shape))
            if key in seen:
                continue  # a tied weight: the loader re-ties it
            seen.add(key)
            items.append((name, t))
        tensorfile.write(os.path.join(tmp, "model.safetensors"), items, {"format": "pt"}, cast_floats=dtype)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
        return path

    def load_weights(self, path):
        """Loads the ``*.safetensors`` files of a published directory (never a pickle); every
        parameter must be present except the tied output projection."""
        import glob
        import os

        files = sorted(glob.glob(os.path.join(path, "*.safetensors"))) if os.path.isdir(path) else [path]
        if not files:
            raise ValueError(f"{path}: no *.safetensors file (published weights are safetensors; pickled "
                             f"pytorch_model.bin files are not loaded)")
        state = {}
        for f in files:
            state.update(tensorfile.read(f)[0])
        missing, unexpected = self.module.load_state_dict(state, strict=False)
        tied = set(_tied_keys(self.module))
        missing = [k for k in missing if k not in tied]
        if missing or unexpected:
            raise ValueError(f"{path}: weights do not match this model: missing {missing[:5]}, "
                             f"unexpected {list(unexpected)[:5]}")
        if hasattr(self.module, "tie_weights"):
            self.module.tie_weights()


def _tied_keys(module: nn.Module) -> List[str]:
    """State-dict names that share storage with an earlier name (tied weights)."""
    seen, tied = set(), []
    for name, t in module.state_dict().items():
        key = (t.data_ptr(), tuple(t.shape))
        if key in seen:
            tied.append(name)
        seen.add(key)
    return tied


def build(spec: str, device: torch.device, seed: int, tiny: Optional[TinyConfig] = None, dtype: str = "float32",
          tokenizer: str = "auto") -> LM:
    """``tiny`` or ``hf:PATH`` (a directory with a ``config.json``)."""
    if spec == "tiny":
        return TinyLM(tiny or TinyConfig(), device, seed)
    if spec.startswith("hf:"):
        torch.manual_seed(seed)
        return HfLM(spec[3:], device, dtype=dtype, tokenizer=tokenizer)
    raise ValueError(f"--model: expected 'tiny' or 'hf:PATH', got {spec!r}")
