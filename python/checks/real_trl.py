"""Manual check against the real TRL (not part of npm test: the repository's .venv has no TRL).

    PYTHONPATH=<site with trl, accelerate, datasets> .venv/bin/python python/checks/real_trl.py

Trains a one-layer GPT-2 on CPU for 6 GRPO steps through zpd_grpo_trainer(GRPOTrainer) against a
real `zpd serve`, then resumes from checkpoint-3. Prints what to compare (see docs/trainers/trl.md).
"""
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
os.environ["WANDB_DISABLED"] = "true"
import torch
if os.environ.get("ZPD_CHECK_NO_FINGERPRINT"):  # datasets 5.0.1 + dill cannot hash pyarrow 25's types
    import uuid

    import datasets.fingerprint as fp

    fp.Hasher.hash = classmethod(lambda cls, value: uuid.uuid4().hex)
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, GPT2Config, GPT2LMHeadModel
from trl import GRPOConfig, GRPOTrainer
import shared
from helpers import read_ids, SpyClient
from zpd_curriculum.trl import zpd_grpo_trainer

vocab = {"[PAD]": 0, "[EOS]": 1, **{str(d): i + 2 for i, d in enumerate(range(10))}, "a": 12, "b": 13}
tok = Tokenizer(models.WordLevel(vocab, unk_token="[PAD]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", eos_token="[EOS]")
tokenizer.chat_template = None
model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                                   bos_token_id=1, eos_token_id=1, pad_token_id=0))
ids = read_ids(shared.data())
dataset = Dataset.from_dict({"prompt": [f"a {i % 10} b" for i in range(len(ids))], "zpd_index": list(range(len(ids)))})

def reward(completions, **kw):
    return [float(len(c) % 2) for c in completions]

server = shared.fresh_server()
out = tempfile.mkdtemp()
args = GRPOConfig(output_dir=out, per_device_train_batch_size=32, num_generations=4, max_completion_length=4,
                  max_steps=6, save_steps=3, logging_steps=1, report_to=[], use_cpu=True, seed=1,
                  gradient_accumulation_steps=1, bf16=False)
Zpd = zpd_grpo_trainer(GRPOTrainer, url=server.url, token=server.token)
trainer = Zpd(model=model, reward_funcs=reward, args=args, train_dataset=dataset, processing_class=tokenizer)
print("generation_batch_size", trainer.args.generation_batch_size, "steps_per_generation", trainer.args.steps_per_generation)
trainer.train()
h = server.client().health()
print("observed", h["observed"], "selected", h["selected"])
print("metrics logged:", [k for k in trainer._metrics["train"] if k.startswith("zpd/")][:5])
print(sorted(os.listdir(out)), os.path.exists(os.path.join(out, "checkpoint-3", "zpd_curriculum.json")))
# resume from checkpoint-3 on a server reset elsewhere: restore happens
trainer2 = Zpd(model=GPT2LMHeadModel(model.config), reward_funcs=reward, args=args, train_dataset=dataset, processing_class=tokenizer)
trainer2.train(resume_from_checkpoint=os.path.join(out, "checkpoint-3"))
print("after resume observed", server.client().health()["observed"], "hooks next_observe", trainer2.zpd_hooks.ledger.next_observe)
print("log keys:", sorted(k for k in trainer.state.log_history[0] if k.startswith("zpd/"))[:8])
print("first log zpd/reward_mean:", trainer.state.log_history[0].get("zpd/reward_mean"), "reward:", trainer.state.log_history[0].get("reward"))
