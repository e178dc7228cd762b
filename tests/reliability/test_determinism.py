"""The determinism promise of docs/reliability.md: same data, seed and thread count -> the same
weights bit for bit; the run records the thread count it was trained with."""
import json

import torch
from safetensors.torch import load_file

from unsure.training.run import train_run


def _train(out):
    return train_run(data="digits", out=str(out), members=2, epochs=1, limit=96, batch_size=32,
                     seed=3, progress=False)


def test_same_seed_same_threads_same_weights(tmp_path):
    _train(tmp_path / "a")
    _train(tmp_path / "b")
    wa, wb = load_file(str(tmp_path / "a" / "weights.safetensors")), load_file(str(tmp_path / "b" / "weights.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k  # bit for bit, not allclose
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["threads"] == torch.get_num_threads()


def test_other_seed_other_weights(tmp_path):
    """The comparison above can fail: another seed gives other weights."""
    _train(tmp_path / "a")
    train_run(data="digits", out=str(tmp_path / "c"), members=2, epochs=1, limit=96, batch_size=32,
              seed=4, progress=False)
    wa, wc = load_file(str(tmp_path / "a" / "weights.safetensors")), load_file(str(tmp_path / "c" / "weights.safetensors"))
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
