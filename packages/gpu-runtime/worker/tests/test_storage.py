"""Weights and checkpoints at scale: the streamed safetensors writer and its pickle-free reader,
bf16 publishing that keeps the last K versions, and bucketed gradient all-reduce."""

import json
import os
import struct
import tempfile
import unittest

import torch

import helpers
from zpd_worker import tensorfile
from zpd_worker.trainer import Trainer, all_reduce_bucketed, prune_published


class TensorFileTest(unittest.TestCase):
    def test_round_trip_of_every_dtype_and_shape(self):
        g = torch.Generator().manual_seed(0)
        tensors = {
            "f32": torch.randn(3, 5, generator=g), "bf16": torch.randn(7, generator=g).to(torch.bfloat16),
            "f16": torch.randn(2, 2, generator=g).half(), "i64": torch.arange(6).reshape(2, 3),
            "u8": torch.tensor([0, 255], dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
            "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4),
            "strided": torch.arange(12.0).reshape(3, 4).t(),  # not contiguous
        }
        with tempfile.TemporaryDirectory() as d:
            path = tensorfile.write(os.path.join(d, "t.safetensors"), tensors.items(), {"k": "v"})
            back, meta = tensorfile.read(path)
            self.assertEqual(meta, {"k": "v"})
            self.assertEqual(set(back), set(tensors))
            for k, t in tensors.items():
                self.assertEqual(back[k].dtype, t.dtype, k)
                self.assertTrue(torch.equal(back[k], t), k)
            self.assertEqual([f for f in os.listdir(d)], ["t.safetensors"])  # no temp file left
            try:
                from safetensors.torch import load_file
            except ImportError:
                return
            other = load_file(path)  # the reference implementation reads it
            for k, t in tensors.items():
                self.assertTrue(torch.equal(other[k], t), k)

    def test_cast_on_write_and_header_checks(self):
        with tempfile.TemporaryDirectory() as d:
            path = tensorfile.write(os.path.join(d, "c.safetensors"),
                                    [("w", torch.full((4,), 1.0 + 2 ** -10)), ("n", torch.arange(3))],
                                    cast_floats=torch.bfloat16)
            back, _ = tensorfile.read(path)
            self.assertEqual(back["w"].dtype, torch.bfloat16)
            self.assertEqual(back["n"].dtype, torch.int64)  # integers are never cast
            with open(path, "rb") as f:
                header_length = struct.unpack("<Q", f.read(8))[0]
            self.assertEqual(os.path.getsize(path), 8 + header_length + 4 * 2 + 3 * 8)
            # a header whose offsets overrun the file is refused, not read past the end
            header, start = tensorfile.read_header(path)
            header["w"]["data_offsets"] = [0, 10 ** 6]
            raw = json.dumps(header).encode()
            bad = os.path.join(d, "bad.safetensors")
            with open(bad, "wb") as f:
                f.write(struct.pack("<Q", len(raw)) + raw + b"\0" * 32)
            with self.assertRaises(tensorfile.NotTensorFile):
                tensorfile.read(bad)
            with open(bad, "wb") as f:
                f.write(b"\x80\x04\x95")
            with self.assertRaises(tensorfile.NotTensorFile):
                tensorfile.read(bad)


class PublishTest(unittest.TestCase):
    def test_bf16_publish_keeps_the_last_k_versions_and_loads_back(self):
        lm = helpers.tiny(3)
        t = Trainer(lm, lr=1e-2, keep_published=2)
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "notes.txt"), "w").close()  # not ours: never touched
            paths = []
            for step in (1, 2, 3):
                req, answers, out = helpers.rollout(lm, seed=step)
                t.update({"step": step, "samples": helpers.to_samples(req, answers, out, kl="dense"),
                          "loss": helpers.loss(0.1)})
                res = t.publish_weights(d)
                paths.append(res["path"])
            self.assertEqual(sorted(os.listdir(d)), ["notes.txt", "policy-v2.safetensors", "policy-v3.safetensors"])
            self.assertEqual(res["removed"], [paths[0]])  # publishing v3 removed v1
            header, _ = tensorfile.read_header(paths[-1])
            self.assertEqual({v["dtype"] for k, v in header.items() if k != "__metadata__"}, {"BF16"})
            fresh = helpers.tiny(99)
            Trainer(fresh).load_weights(paths[-1], 3)
            for k, v in lm.module.state_dict().items():
                self.assertTrue(torch.equal(fresh.module.state_dict()[k], v.to(torch.bfloat16).float()), k)

    def test_prune(self):
        with tempfile.TemporaryDirectory() as d:
            for v in (1, 2, 5, 7):
                os.makedirs(os.path.join(d, f"policy-v{v}"))
            open(os.path.join(d, "policy-v3.safetensors"), "w").close()
            os.makedirs(os.path.join(d, "policy-vX"))
            removed = prune_published(d, 5, 2)
            self.assertEqual(sorted(os.path.basename(p) for p in removed), ["policy-v1", "policy-v2"])
            self.assertEqual(sorted(os.listdir(d)), ["policy-v3.safetensors", "policy-v5", "policy-v7", "policy-vX"])
            self.assertEqual(prune_published(d, 7, 0), [])


class FakeGroup:
    """all_reduce over two identical ranks: doubles the tensor, and records the call."""

    def __init__(self):
        self.calls = []

    def all_reduce(self, t):
        self.calls.append((t.numel(), t.dtype))
        t.mul_(2)


class BucketTest(unittest.TestCase):
    def test_buckets_pack_by_size_and_dtype_and_sum_in_place(self):
        g = torch.Generator().manual_seed(1)
        grads = [torch.randn(10, generator=g), torch.randn(2, 3, generator=g), torch.randn(300, generator=g),
                 torch.randn(4, generator=g).double(), torch.randn(5, generator=g)]
        want = [x * 2 for x in grads]
        group = FakeGroup()
        calls = all_reduce_bucketed(group, grads, bucket_bytes=4 * 64)
        # [10 + 6 floats] fit 256 bytes; the 300-float tensor goes alone; the double is its own bucket
        self.assertEqual(group.calls, [(16, torch.float32), (300, torch.float32), (4, torch.float64),
                                       (5, torch.float32)])
        self.assertEqual(calls, 4)
        for a, b in zip(grads, want):
            self.assertTrue(torch.equal(a, b))
        one = FakeGroup()
        all_reduce_bucketed(one, [torch.ones(3) for _ in range(50)], bucket_bytes=2 ** 20)
        self.assertEqual(one.calls, [(150, torch.float32)])


if __name__ == "__main__":
    unittest.main()
