"""HfLM's calling convention, checked against a stand-in ``transformers`` module.

This is NOT the Hugging Face test (that is test_hf.py, which needs the real library). It runs
everywhere and checks what HfLM asks of a causal LM the way transformers models are called:
left-padded prompts with explicit ``position_ids``, incremental decoding that feeds back
``past_key_values`` with only the new token ids and the full attention mask, a training
forward without a cache, ``get_output_embeddings``, ``save_pretrained`` / ``from_pretrained``.
The stand-in asserts those conventions and computes with the tiny transformer.
"""

import json
import os
import sys
import tempfile
import types
import unittest

import torch
import torch.nn.functional as F

import helpers
from zpd_worker.models import HfLM, TinyConfig, TinyTransformer, build
from zpd_worker.sampling import SamplingRequest, sample
from zpd_worker.trainer import Trainer


class _Out:
    def __init__(self, logits, past):
        self.logits = logits
        self.past_key_values = past


class FakeConfig(types.SimpleNamespace):
    def to_json_string(self, use_diff=True):
        return json.dumps({k: v for k, v in vars(self).items() if k != "use_cache"})


class FakeCausalLM(torch.nn.Module):
    calls = {"cached_steps": 0}

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.inner = TinyTransformer(cfg)
        self.config = FakeConfig(max_position_embeddings=cfg.max_len, use_cache=False, **vars(cfg))

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False):
        ids = input_ids if past_key_values is None else torch.cat([past_key_values, input_ids], dim=1)
        if past_key_values is not None:
            FakeCausalLM.calls["cached_steps"] += 1
            assert input_ids.shape[1] == 1, "with a cache, only the new token is fed"
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask
        assert mask.shape == ids.shape, f"attention_mask {tuple(mask.shape)} must cover cache + new tokens {tuple(ids.shape)}"
        positions = (mask.long().cumsum(1) - 1).clamp(min=0)
        if position_ids is not None:
            assert torch.equal(position_ids, positions[:, -input_ids.shape[1]:]), "position_ids must follow the mask"
        logits = self.inner(ids, mask, positions)[:, -input_ids.shape[1]:]
        return _Out(logits, ids if use_cache else None)

    def get_output_embeddings(self):
        return types.SimpleNamespace(weight=self.inner.tok.weight)

    def save_pretrained(self, directory):
        os.makedirs(directory, exist_ok=True)
        torch.save(self.state_dict(), os.path.join(directory, "weights.pt"))
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(vars(self.cfg), f)


class AutoModelForCausalLM:
    @staticmethod
    def from_pretrained(path, torch_dtype=None):
        with open(os.path.join(path, "config.json")) as f:
            raw = json.load(f)
        cfg = TinyConfig(**{k: raw[k] for k in vars(TinyConfig()) if k in raw})
        model = FakeCausalLM(cfg)
        weights = os.path.join(path, "weights.pt")
        if os.path.exists(weights):
            model.load_state_dict(torch.load(weights))
        return model.to(torch_dtype) if torch_dtype is not None else model


FAKE = types.ModuleType("transformers")
FAKE.__version__ = "stand-in"
FAKE.AutoModelForCausalLM = AutoModelForCausalLM


class HfPlumbingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.saved = sys.modules.get("transformers")
        sys.modules["transformers"] = FAKE
        cls.tmp = tempfile.TemporaryDirectory()
        torch.manual_seed(0)
        FakeCausalLM(TinyConfig(**vars(helpers.SMALL))).save_pretrained(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        if cls.saved is None:
            del sys.modules["transformers"]
        else:
            sys.modules["transformers"] = cls.saved
        cls.tmp.cleanup()

    def test_sampling_training_and_weights(self):
        lm = build("hf:" + self.tmp.name, torch.device("cpu"), 0, tokenizer="builtin")
        self.assertIsInstance(lm, HfLM)
        self.assertEqual(lm.vocab_size, 99)
        self.assertEqual(lm.describe()["architecture"], "FakeCausalLM")
        prompts = [lm.tokenizer.encode("ab"), lm.tokenizer.encode("abcd")]  # different lengths: left padding
        T = 0.7
        before = FakeCausalLM.calls["cached_steps"]
        out = sample(lm, SamplingRequest(prompts=prompts, n=2, temperature=T, max_tokens=4, seed=3, ignore_eos=True))
        self.assertEqual(FakeCausalLM.calls["cached_steps"] - before, 3)
        with torch.no_grad():
            for s in out:
                p = prompts[s.prompt_index]
                ids = torch.tensor([p + s.token_ids])
                logits = lm.logits(lm.module, ids, torch.ones_like(ids))[0, :-1] / T
                lp = F.log_softmax(logits, -1).gather(1, ids[0, 1:, None]).squeeze(1)[len(p) - 1:]
                for a, b in zip(lp.tolist(), s.logprobs):
                    self.assertAlmostEqual(a, b, places=5)
        trainer = Trainer(lm, lr=1e-2, checkpoint_dir=self.tmp.name, publish_dtype="float32")
        req, answers, rolled = helpers.rollout(lm, count=2, n=4, seed=1)
        res = trainer.update({"step": 1, "samples": helpers.to_samples(req, answers, rolled, kl="dense",
                                                                       rewards=[[1.0, 0.0, 1.0, 0.0]] * 2),
                              "loss": helpers.loss(0.1)})
        self.assertAlmostEqual(res["metrics"]["ratio_mean"], 1.0, places=5)
        self.assertEqual(res["metrics"]["kl_mean"], 0.0)
        trained = trainer.digest()
        published = trainer.publish_weights(os.path.join(self.tmp.name, "pub"))
        self.assertTrue(os.path.isfile(os.path.join(published["path"], "config.json")))
        fresh = build("hf:" + self.tmp.name, torch.device("cpu"), 0, tokenizer="builtin")
        other = Trainer(fresh)
        self.assertNotEqual(other.digest(), trained)
        self.assertEqual(other.load_weights(published["path"], 1)["policyVersion"], 1)
        self.assertEqual(other.digest(), trained)


if __name__ == "__main__":
    unittest.main()
