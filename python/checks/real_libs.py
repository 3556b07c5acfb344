"""Manual check against torchdata's StatefulDataLoader and TRL's RepeatSampler (not part of npm test).

    PYTHONPATH=<site with torchdata, trl> .venv/bin/python python/checks/real_libs.py

1. ZpdRepeatSampler fed RepeatSampler's own chunks yields RepeatSampler's exact sequence.
2. ZpdCurriculumSampler inside a real StatefulDataLoader: a state_dict taken before update(3)
   restores to a server that answers step 3's batch again.
"""
import io
import os
import sys
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import torch
from torchdata.stateful_dataloader import StatefulDataLoader
from trl.trainer.grpo_trainer import RepeatSampler, GRPOTrainer
import shared, verl_driver
from helpers import SpyClient
from zpd_curriculum.ledger import CursorLedger
from zpd_curriculum.trl import ZpdRepeatSampler, zpd_grpo_trainer
from zpd_curriculum.verl import ZpdCurriculumSampler
from test_ledger import ScriptedClient

# 1. TRL's RepeatSampler vs ZpdRepeatSampler fed RepeatSampler's own chunks
rs = RepeatSampler(list(range(120)), mini_repeat_count=4, batch_size=8, repeat_count=3, shuffle=True, seed=5)
ref = list(rs)
chunks = {}
for c in range(len(ref) // (8*4*3)):
    block = ref[c*96:(c+1)*96]
    chunks[c] = block[:32][::4]
ours = list(ZpdRepeatSampler(list(range(120)), 4, 8, 3, CursorLedger(ScriptedClient(chunks), 8)))
print("RepeatSampler order equal:", ours == ref, len(ours) == len(rs))
cls = zpd_grpo_trainer(GRPOTrainer)
print("subclass MRO ok:", cls.__mro__[1] is GRPOTrainer)

# 2. verl sampler inside torchdata's real StatefulDataLoader: state_dict / load_state_dict
class DS(verl_driver.FakeRLHFDataset):
    def __getitem__(self, i): return i
server = shared.fresh_server()
def loader(client):
    s = ZpdCurriculumSampler(DS(120), verl_driver.data_config(server.url, server.token), client=client)
    return s, StatefulDataLoader(DS(120), batch_size=8, sampler=s, drop_last=True, num_workers=0, collate_fn=list)
c1 = SpyClient(server.url, server.token)
s1, dl = loader(c1)
it = iter(dl)
seen = []
for step in range(5):
    batch = next(it); seen.append(batch)
    if step == 3:
        buf = io.BytesIO(); torch.save(dl.state_dict(), buf); saved = buf.getvalue()
        print("state keys:", sorted(torch.load(io.BytesIO(saved), weights_only=False)))
    outcomes = {p: [{"rewards": [1, 0, 1, 0], "correct": [1, 0, 1, 0]}] * 8 for p in batch}
    s1.update(verl_driver.build_batch(batch, outcomes, step))
# resume from the step-3 checkpoint (taken before update(3)): the next batch is step 3 again
c2 = SpyClient(server.url, server.token)
s2, dl2 = loader(c2)
dl2.load_state_dict(torch.load(io.BytesIO(saved), weights_only=False))
again = next(iter(dl2))
print("replayed batch equals step 3:", again == seen[3], "server observed after restore:", server.client().health()["observed"])
sd = torch.load(io.BytesIO(saved), weights_only=False)
print(sd["_sampler_iter_state"].keys() if sd.get("_sampler_iter_state") else sd)
