"""The built-in character tokenizer of the tiny model.

Ids: 0 = <pad>, 1 = <bos>, 2 = <eos>, then "\\n" and the printable ASCII characters
32..126, one id each. Characters outside that set map to "?" (lossy, but the tiny
model's tasks are plain ASCII). ``encode(text, add_special_tokens=True)`` prepends
<bos>, like vLLM's default for completions.
"""

from __future__ import annotations

from typing import Iterable, List

PAD, BOS, EOS = 0, 1, 2
_SPECIALS = ["<pad>", "<bos>", "<eos>"]
_CHARS = ["\n"] + [chr(c) for c in range(32, 127)]


class CharTokenizer:
    """A fixed, reversible character vocabulary (99 ids)."""

    pad_id = PAD
    bos_id = BOS
    eos_id = EOS

    def __init__(self) -> None:
        self._id_of = {ch: i + len(_SPECIALS) for i, ch in enumerate(_CHARS)}
        self._unknown = self._id_of["?"]

    @property
    def vocab_size(self) -> int:
        return len(_SPECIALS) + len(_CHARS)

    def encode(self, text: str, add_special_tokens: bool = True) -> List[int]:
        ids = [self._id_of.get(ch, self._unknown) for ch in text]
        return [BOS] + ids if add_special_tokens else ids

    def token_text(self, token_id: int) -> str:
        """The text of one token; special tokens render as their names."""
        if token_id < len(_SPECIALS):
            return _SPECIALS[token_id]
        return _CHARS[token_id - len(_SPECIALS)]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i < len(_SPECIALS):
                if not skip_special_tokens:
                    out.append(_SPECIALS[i])
            elif i < self.vocab_size:
                out.append(_CHARS[i - len(_SPECIALS)])
        return "".join(out)
