"""The weights checksum (unsure/checksum.py): what the digest covers, and save/load round trips."""
from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors.torch import save_file

from unsure.checksum import KEY, load_weights, read_digest, save_weights, state_digest, weights_digest
from unsure.errors import UnsureError


def reference_digest(state: dict[str, torch.Tensor]) -> str:
    """The digest written out longhand: name, dtype, shape, then the bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        h.update(f"{name}\0{str(t.dtype).split('.')[-1]}\0{list(t.shape)}\0".encode())
        h.update(bytes(t.contiguous().view(-1).view(torch.uint8).tolist()))
    return "sha256:" + h.hexdigest()


def _state():
    g = torch.Generator().manual_seed(0)
    return {"b.weight": torch.randn(3, 4, generator=g), "a.bias": torch.randn(5, generator=g),
            "c.half": torch.randn(2, 2, generator=g).to(torch.bfloat16), "d.count": torch.tensor(7),
            "e.empty": torch.zeros(0, 3), "f.mask": torch.tensor([True, False])}


def test_digest_equals_the_longhand_reference_and_ignores_dict_order():
    state = _state()
    assert state_digest(state) == reference_digest(state)
    assert state_digest(dict(reversed(list(state.items())))) == state_digest(state)


@pytest.mark.parametrize("change", ["one bit", "name", "dtype", "shape"])
def test_digest_changes_with_any_part_of_a_tensor(change):
    state = _state()
    other = dict(state)
    w = state["b.weight"]
    if change == "one bit":
        bits = w.clone().view(torch.int32)
        bits[1, 2] ^= 1  # the lowest mantissa bit of one number
        other["b.weight"] = bits.view(torch.float32)
    elif change == "name":
        other["b.weights"] = other.pop("b.weight")
    elif change == "dtype":
        other["b.weight"] = w.view(torch.int32)  # the same bytes, another type
    else:
        other["b.weight"] = w.reshape(4, 3)  # the same bytes, another shape
    assert state_digest(other) != state_digest(state)


def test_non_contiguous_tensors_hash_like_their_contiguous_copy():
    w = torch.randn(4, 6)
    assert state_digest({"w": w.t()}) == state_digest({"w": w.t().contiguous()})


def test_round_trip_records_and_verifies_the_digest(tmp_path):
    state = _state()
    path = tmp_path / "w.safetensors"
    digest = save_weights(state, path, metadata={"note": "kept"})
    assert read_digest(path) == digest == state_digest(state)
    loaded, again = load_weights(path)
    assert again == digest and all(torch.equal(loaded[k], state[k]) for k in state)


def test_damage_inside_the_tensor_data_is_refused_in_one_line(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights({"w": torch.ones(16)}, path)
    raw = bytearray(path.read_bytes())
    raw[-4:] = torch.tensor([2.3e37]).numpy().tobytes()  # the last float of the data
    path.write_bytes(bytes(raw))
    with pytest.raises(UnsureError, match="damaged") as e:
        load_weights(path)
    assert "\n" not in str(e.value)


def test_a_file_without_a_digest_loads_and_gets_one_computed(tmp_path):
    """Weights saved before checksums (plain safetensors) load; their digest is computed."""
    state = _state()
    path = tmp_path / "old.safetensors"
    save_file(state, str(path))
    assert read_digest(path) is None
    loaded, digest = load_weights(path)
    assert digest == state_digest(state) == weights_digest(path)


def test_weights_digest_reads_only_the_header_when_a_digest_is_recorded(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(2)}, str(path), metadata={KEY: "sha256:recorded"})
    assert weights_digest(path) == "sha256:recorded"  # not recomputed (load_weights checks it)
    with pytest.raises(UnsureError, match="damaged"):
        load_weights(path)


def test_unreadable_file_is_one_line(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x00" * 32)
    for fn in (load_weights, read_digest):
        with pytest.raises(UnsureError, match="cannot read"):
            fn(path)
