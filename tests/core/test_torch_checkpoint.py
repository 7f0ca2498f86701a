"""gui_app.core.torch_checkpoint: the restricted reader of legacy PyTorch checkpoints (no TF).

Checkpoints are written here in PyTorch's legacy layout by :func:`write_legacy`, a plain
:mod:`pickle` writer that stands in ``torch``'s module names (torch itself is not installed).
"""

from __future__ import annotations

import builtins
import collections
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from gui_app.core import efficientnet_lite
from gui_app.core.errors import LoupeError
from gui_app.core.torch_checkpoint import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    CheckpointError,
    read_legacy_checkpoint,
)

_STORAGES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


def _fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Modules named ``torch`` / ``torch._utils`` so that pickle writes torch's global names."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in _STORAGES.values():
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)

    def _rebuild_tensor_v2(*args: object) -> None:  # never called: only its name is pickled
        raise AssertionError("called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    torch._utils = utils  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return types.SimpleNamespace(torch=torch, rebuild=_rebuild_tensor_v2)


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _Tensor:
    """Pickles like a torch tensor: ``_rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(
        self,
        fake: types.SimpleNamespace,
        storage: _Storage,
        offset: int,
        size: tuple,
        stride: tuple,
    ) -> None:
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())
        self.rebuild = fake.rebuild

    def __reduce__(self) -> tuple:
        return self.rebuild, self.args


def write_legacy(
    path: Path,
    fake: types.SimpleNamespace,
    tensors: dict[str, tuple[_Storage, int, tuple, tuple]],
    *,
    state: object = None,
) -> Path:
    """Write the five pickles and raw storages of PyTorch's legacy ``torch.save``."""
    storages: dict[str, _Storage] = {}

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> tuple | None:
            if isinstance(obj, _Storage):
                storages[obj.key] = obj
                kind = getattr(fake.torch, _STORAGES[obj.data.dtype])
                return ("storage", kind, obj.key, "cpu", obj.data.size, None)
            return None

    if state is None:
        state = collections.OrderedDict(
            (name, _Tensor(fake, *args)) for name, args in tensors.items()
        )
    with path.open("wb") as fh:
        sys_info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True}
        for header in (MAGIC_NUMBER, PROTOCOL_VERSION, sys_info):
            pickle.dump(header, fh, protocol=2)
        _Pickler(fh, protocol=2).dump(state)
        keys = sorted(storages)
        pickle.dump(keys, fh, protocol=2)
        for key in keys:
            data = storages[key].data
            fh.write(int(data.size).to_bytes(8, "little"))
            fh.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return path


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    return _fake_torch(monkeypatch)


def _sample(path: Path, fake: types.SimpleNamespace) -> Path:
    shared = _Storage("100", np.arange(24, dtype=np.float32))
    counter = _Storage("7", np.array([42], dtype=np.int64))
    return write_legacy(
        path,
        fake,
        {
            "conv.weight": (shared, 0, (2, 3, 2), (6, 2, 1)),
            "view.t": (shared, 12, (3, 2), (1, 3)),  # a transposed view at an offset
            "bn.num_batches_tracked": (counter, 0, (), ()),
        },
    )


def test_reads_tensors_sharing_a_storage(tmp_path: Path, fake) -> None:
    state = read_legacy_checkpoint(_sample(tmp_path / "a.pth", fake))
    assert list(state) == ["conv.weight", "view.t", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(state["conv.weight"], np.arange(12).reshape(2, 3, 2))
    np.testing.assert_array_equal(state["view.t"], np.arange(12, 18).reshape(2, 3).T)
    assert state["bn.num_batches_tracked"].shape == () and state["bn.num_batches_tracked"] == 42
    assert state["conv.weight"].dtype == np.float32 and state["conv.weight"].flags.c_contiguous
    assert state["view.t"].flags.writeable and state["view.t"].flags.c_contiguous


def test_the_wheels_checkpoint_is_a_lite0_state_dict() -> None:
    from gui_app.core.lite0 import checkpoint_path

    state = read_legacy_checkpoint(checkpoint_path())
    assert len(state) == 296
    efficientnet_lite.check_state_dict(state)
    shapes = efficientnet_lite.expected_shapes()
    assert {n: v.shape for n, v in state.items() if n in shapes} == shapes
    assert len(efficientnet_lite.blocks()) == 16


def _evil(tmp_path: Path, fake, payload: object, where: str) -> Path:
    path = tmp_path / f"evil-{where}.pth"
    if where == "state":
        storage = _Storage("1", np.zeros(2, np.float32))
        state = collections.OrderedDict(
            [("w", _Tensor(fake, storage, 0, (2,), (1,))), ("x", payload)]
        )
        return write_legacy(path, fake, {}, state=state)
    with path.open("wb") as fh:
        pickle.dump(payload, fh, protocol=2)  # a malicious first "header" pickle
    return path


class _Call:
    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


@pytest.mark.parametrize("where", ["state", "header"])
@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec"])
def test_refuses_any_other_global_without_running_it(
    tmp_path: Path, fake, kind: str, where: str
) -> None:
    marker = tmp_path / f"pwned-{kind}-{where}"
    command = f"touch {marker}"
    payload = {
        "os.system": _Call(os.system, command),
        "builtins.eval": _Call(builtins.eval, f"__import__('os').system({command!r})"),
        "builtins.exec": _Call(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
    }[kind]
    path = _evil(tmp_path, fake, payload, where)
    with pytest.raises(CheckpointError) as info:
        read_legacy_checkpoint(path)
    name = f"{os.system.__module__}.system" if kind == "os.system" else kind
    reason = info.value.reason
    assert isinstance(info.value, LoupeError)
    assert f"global {name}" in reason and "nothing was executed" in reason, reason
    assert reason.startswith(f"checkpoint {path.name}: refused"), reason
    assert not marker.exists()


def test_refuses_a_truncated_file_everywhere(tmp_path: Path, fake) -> None:
    data = _sample(tmp_path / "a.pth", fake).read_bytes()
    cut = tmp_path / "cut.pth"
    for size in (0, 5, 60, len(data) // 2, len(data) - 40, len(data) - 1):
        cut.write_bytes(data[:size])
        with pytest.raises(CheckpointError) as info:
            read_legacy_checkpoint(cut)
        assert "truncated" in info.value.reason or "not a PyTorch" in info.value.reason, size
    cut.write_bytes(data + b"\0")
    with pytest.raises(CheckpointError, match="unexpected data after the last storage"):
        read_legacy_checkpoint(cut)


def test_clear_errors_for_other_files(tmp_path: Path, fake) -> None:
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(CheckpointError, match="zip-format checkpoint"):
        read_legacy_checkpoint(zipped)
    text = tmp_path / "notes.pth"
    text.write_text("hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        read_legacy_checkpoint(text)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_legacy_checkpoint(tmp_path / "missing.pth")
    storage = _Storage("1", np.zeros(4, np.float32))
    too_big = write_legacy(tmp_path / "big.pth", fake, {"w": (storage, 2, (3,), (1,))})
    with pytest.raises(CheckpointError, match=r"shape \(3,\) does not fit its storage"):
        read_legacy_checkpoint(too_big)
    plain = write_legacy(tmp_path / "plain.pth", fake, {}, state={"epoch": 3})
    with pytest.raises(CheckpointError, match="not a tensor; expected a state dict"):
        read_legacy_checkpoint(plain)


def test_lite0_state_dict_checks() -> None:
    shapes = efficientnet_lite.expected_shapes()
    state = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    efficientnet_lite.check_state_dict(state)
    del state["_fc.bias"]
    efficientnet_lite.check_state_dict(state, include_top=False)
    with pytest.raises(CheckpointError, match=r"1 tensors missing \(first: _fc\.bias\)"):
        efficientnet_lite.check_state_dict(state)
    state["_blocks.3._project_conv.weight"] = np.zeros((80, 144, 1, 1), np.float32)
    with pytest.raises(CheckpointError, match=r"_blocks\.3\._project_conv\.weight has shape"):
        efficientnet_lite.check_state_dict(state, include_top=False)
    state["_blocks.3._project_conv.weight"] = np.zeros(shapes["_blocks.3._project_conv.weight"])
    state["_blocks.0._se_reduce.weight"] = np.zeros((8, 32, 1, 1), np.float32)
    with pytest.raises(CheckpointError, match=r"unexpected tensor _blocks\.0\._se_reduce"):
        efficientnet_lite.check_state_dict(state, include_top=False)
