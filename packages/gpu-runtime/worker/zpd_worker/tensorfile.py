"""Tensors on disk in the safetensors format, without pickle, written as a stream.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
length, a JSON header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}``, then the raw little-endian bytes of every tensor.

``write`` computes the header from shapes and dtypes alone, then copies one tensor at a time to
the CPU (casting it if asked) and appends its bytes, so a checkpoint or a published model is
never built in memory as a whole; it writes a temp file in the target directory, fsyncs it and
renames it into place. ``read`` parses the header as JSON and each tensor as raw bytes:
nothing in the file is ever executed, so a planted pickle is refused as "not a safetensors
file". Files written here load in ``safetensors``, ``transformers`` and vLLM. Only torch and
the standard library are needed (no ``safetensors`` package: Debian's torch has none).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from typing import Dict, Iterable, Optional, Tuple

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
BY_NAME = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class NotTensorFile(ValueError):
    """The file is not a readable safetensors file (the message says why)."""


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def write(path: str, tensors: Iterable[Tuple[str, torch.Tensor]], metadata: Optional[Dict[str, str]] = None,
          cast_floats: Optional[torch.dtype] = None) -> str:
    """Writes ``tensors`` (name, tensor) to ``path`` atomically; floating tensors are cast to
    ``cast_floats`` when given. Returns the absolute path."""
    items = list(tensors)
    header: Dict[str, object] = {}
    offset = 0
    plan = []
    for name, t in items:
        if name in header:
            raise ValueError(f"tensor name {name!r} appears twice")
        dtype = cast_floats if cast_floats is not None and t.is_floating_point() else t.dtype
        if dtype not in DTYPES:
            raise ValueError(f"{name}: dtype {dtype} has no safetensors code")
        nbytes = t.numel() * _element_size(dtype)
        header[name] = {"dtype": DTYPES[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        plan.append((t, dtype))
        offset += nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for t, dtype in plan:
                if t.numel() == 0:
                    continue
                cpu = t.detach().to(device="cpu", dtype=dtype).contiguous()
                f.write(memoryview(cpu.reshape(-1).view(torch.uint8).numpy()))
                del cpu
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_header(path: str) -> Tuple[dict, int]:
    """The JSON header and the offset where tensor data starts; ``NotTensorFile`` otherwise."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise NotTensorFile(f"{path}: not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or 8 + n > size:
            raise NotTensorFile(f"{path}: not a safetensors file (its first 8 bytes do not give a header length "
                                f"that fits the file; a pickle, e.g. torch.save output, is refused)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise NotTensorFile(f"{path}: not a safetensors file (header is not JSON: {e})")
    if not isinstance(header, dict):
        raise NotTensorFile(f"{path}: not a safetensors file (header is not a JSON object)")
    return header, 8 + n


def metadata(path: str) -> Dict[str, str]:
    header, _ = read_header(path)
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def read(path: str, prefix: str = "") -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Every tensor whose name starts with ``prefix`` (the prefix removed), on the CPU, and the
    metadata. Raises ``NotTensorFile`` for anything that is not a well-formed safetensors file."""
    header, start = read_header(path)
    size = os.path.getsize(path)
    out: Dict[str, torch.Tensor] = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            if name == "__metadata__" or not name.startswith(prefix):
                continue
            try:
                dtype = BY_NAME[info["dtype"]]
                shape = [int(d) for d in info["shape"]]
                begin, end = (int(x) for x in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise NotTensorFile(f"{path}: tensor {name!r}: malformed header entry {info!r}")
            count = 1
            for d in shape:
                count *= d
            if end - begin != count * _element_size(dtype) or begin < 0 or start + end > size:
                raise NotTensorFile(f"{path}: tensor {name!r}: data_offsets {[begin, end]} do not fit its shape "
                                    f"{shape} and dtype {info['dtype']} inside the file")
            if count == 0:
                out[name[len(prefix):]] = torch.empty(shape, dtype=dtype)
                continue
            f.seek(start + begin)
            buf = bytearray(f.read(end - begin))
            out[name[len(prefix):]] = torch.frombuffer(buf, dtype=dtype).reshape(shape)
    meta = header.get("__metadata__") or {}
    return out, meta if isinstance(meta, dict) else {}
