import unittest

import helpers  # noqa: F401
from zpd_worker.tokenizer import BOS, EOS, CharTokenizer


class TokenizerTest(unittest.TestCase):
    def test_round_trip_and_specials(self):
        tok = CharTokenizer()
        ids = tok.encode("ab=c\n")
        self.assertEqual(ids[0], BOS)
        self.assertEqual(tok.decode(ids), "ab=c\n")
        self.assertEqual(tok.decode(ids + [EOS]), "ab=c\n")
        self.assertEqual(tok.decode([BOS, EOS], skip_special_tokens=False), "<bos><eos>")
        self.assertEqual(tok.encode("x", add_special_tokens=False), [tok.encode("x")[1]])
        self.assertEqual(tok.vocab_size, 99)
        self.assertEqual(tok.decode(tok.encode("é")), "?")


if __name__ == "__main__":
    unittest.main()
