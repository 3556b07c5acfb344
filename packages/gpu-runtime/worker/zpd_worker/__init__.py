"""zpd worker: a PyTorch process that serves both sides of zpd's runtime boundary.

- inference: ``POST /v1/completions`` in vLLM's OpenAI-compatible dialect (token-id or
  text prompts, ``n``, ``logprobs``, ``return_token_ids``, ``seed``, ``stop``,
  ``max_tokens``), sampled-token logprobs after temperature ("processed");
- training: ``POST /trainer/update`` (GRPO/PPO clipped surrogate + k3 KL to a reference
  copy, weighted per token by ``klWeight``), ``/trainer/reset_reference``,
  ``/trainer/publish_weights``, ``/trainer/load_weights``, ``/trainer/checkpoint``,
  ``/trainer/restore``; ``GET /health``.

See ``packages/gpu-runtime/PROTOCOL.md`` for the wire format. Only PyTorch and the Python
standard library are required; ``transformers`` is used when installed and a Hugging Face
model path is given.
"""

__version__ = "0.1.0"
