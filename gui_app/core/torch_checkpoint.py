"""Read a PyTorch checkpoint in the legacy (non-zip) format into numpy arrays, without torch.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``, the only format
before PyTorch 1.6) is five pickles followed by raw storages::

    magic number | protocol version | system info | state dict | storage keys | storages...

Each storage is an 8-byte element count and the raw elements, in the order of the keys. The
state dict pickle names Python globals to rebuild tensors; a pickle may name *any* global, and
loading it with :mod:`pickle` would run that code. :func:`read_legacy_checkpoint` uses an
unpickler that resolves only the few globals a state dict needs, to inert stand-ins of its
own, and refuses every other one before anything is called.
"""

from __future__ import annotations

import _compat_pickle
import collections
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from gui_app.core.errors import LoupeError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_ZIP_MAGIC = b"PK\x03\x04"

# torch storage class -> numpy element type (byte order added from the file's system info)
STORAGE_DTYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
_MAX_DIMS = 8


class CheckpointError(LoupeError):
    """A checkpoint file cannot be read safely; the message says why."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Inert stand-in for ``torch.<X>Storage``: only its numpy element type matters."""

    name: str
    code: str


@dataclass(frozen=True, slots=True)
class _StorageRef:
    key: str
    storage_type: _StorageType
    numel: int


@dataclass(frozen=True, slots=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > _MAX_DIMS:
        raise CheckpointError(f"bad tensor {what}: {value!r:.80}")
    if not all(type(v) is int and v >= 0 for v in value):
        raise CheckpointError(f"bad tensor {what}: {value!r:.80}")
    return value


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_tensor(_v2)``: records where the data lies."""
    if not isinstance(storage, _StorageRef):
        raise CheckpointError("a tensor does not refer to a storage")
    if type(offset) is not int or offset < 0:
        raise CheckpointError(f"bad tensor offset: {offset!r:.40}")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise CheckpointError(f"tensor size {size} and stride {stride} differ in length")
    return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data: Any, *_rest: Any) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    if not isinstance(data, _TensorRef):
        raise CheckpointError("a parameter does not hold a tensor")
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, code) for name, code in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED` globals (to stand-ins); storages become references."""

    def __init__(self, fh: BinaryIO, storages: dict[str, _StorageRef] | None = None) -> None:
        super().__init__(fh)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)  # __builtin__ -> builtins
            raise CheckpointError(
                f"refused: the checkpoint names the global {module}.{name}, which a PyTorch "
                "state dict never needs (the file may be malicious); nothing was executed"
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if self._storages is None:
            raise CheckpointError("unexpected storage reference in a checkpoint header")
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointError(f"unsupported persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unsupported storage type {storage_type!r:.60}")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CheckpointError(f"bad storage reference {pid!r:.80}")
        if view is not None:
            raise CheckpointError("storage views (PyTorch < 0.4 checkpoints) are not supported")
        ref = _StorageRef(key, storage_type, numel)
        known = self._storages.setdefault(key, ref)
        if known != ref:
            raise CheckpointError(f"storage {key} is declared twice with different types/sizes")
        return ref


def _load(fh: BinaryIO, what: str, storages: dict[str, _StorageRef] | None = None) -> Any:
    try:
        return _RestrictedUnpickler(fh, storages).load()
    except CheckpointError:
        raise
    except EOFError:
        raise CheckpointError(f"the file is truncated (ends inside the {what})") from None
    except Exception as exc:  # a damaged pickle raises many types; all mean "unreadable"
        raise CheckpointError(f"damaged {what}: {type(exc).__name__}: {exc}") from None


def read_legacy_checkpoint(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict: ``{tensor name: array}`` in file order.

    Only the globals a state dict of tensors needs are accepted (``collections.OrderedDict``,
    ``torch._utils._rebuild_tensor_v2``/``_rebuild_tensor``/``_rebuild_parameter`` and the
    ``torch.<X>Storage`` types of :data:`STORAGE_DTYPES`); they are mapped to inert stand-ins,
    so no code from the file ever runs. Arrays are C-contiguous copies in native byte order.

    Raises
    ------
    CheckpointError
        Not a legacy checkpoint, any other global named in a pickle, a truncated or damaged
        file, or a tensor that does not fit its storage.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return _read(fh, size)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {path.name}: {exc.reason}") from None


def _read(fh: BinaryIO, file_size: int) -> dict[str, np.ndarray]:
    head = fh.read(4)
    if head == _ZIP_MAGIC:
        raise CheckpointError(
            "zip-format checkpoint (PyTorch >= 1.6 default); only the legacy format is read"
        )
    fh.seek(0)
    try:
        magic = _load(fh, "header")
    except CheckpointError as exc:
        if "refused" in exc.reason:
            raise
        raise CheckpointError(f"not a PyTorch checkpoint ({exc.reason})") from None
    if magic != MAGIC_NUMBER:
        raise CheckpointError("not a PyTorch legacy checkpoint (wrong magic number)")
    if _load(fh, "header") != PROTOCOL_VERSION:
        raise CheckpointError("unsupported PyTorch checkpoint protocol version")
    sys_info = _load(fh, "header")
    little = isinstance(sys_info, dict) and sys_info.get("little_endian", True)
    order = "<" if little else ">"
    storages: dict[str, _StorageRef] = {}
    state = _load(fh, "state dict", storages)
    if not isinstance(state, dict) or not state:
        raise CheckpointError("the checkpoint is not a state dict of tensors")
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise CheckpointError(f"entry {name!r:.60} is not a tensor; expected a state dict")
    keys = _load(fh, "storage list")
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise CheckpointError("the storage list does not match the tensors' storages")
    data = {key: _read_storage(fh, storages[key], order, file_size) for key in keys}
    if fh.read(1):
        raise CheckpointError("unexpected data after the last storage")
    return {name: _materialise(ref, data[ref.storage.key]) for name, ref in state.items()}


def _read_storage(fh: BinaryIO, ref: _StorageRef, order: str, file_size: int) -> np.ndarray:
    dtype = np.dtype(order + ref.storage_type.code)
    header = fh.read(8)
    if len(header) != 8:
        raise CheckpointError(f"the file is truncated (storage {ref.key} is missing)")
    numel = int.from_bytes(header, "little" if order == "<" else "big", signed=True)
    if numel != ref.numel:
        raise CheckpointError(f"storage {ref.key} holds {numel} elements, expected {ref.numel}")
    nbytes = numel * dtype.itemsize
    left = file_size - fh.tell()
    if nbytes > left:
        raise CheckpointError(
            f"the file is truncated (storage {ref.key} needs {nbytes} bytes, {left} left)"
        )
    raw = fh.read(nbytes)
    if len(raw) != nbytes:
        raise CheckpointError(f"the file is truncated (storage {ref.key})")
    return np.frombuffer(raw, dtype=dtype)


def _materialise(ref: _TensorRef, storage: np.ndarray) -> np.ndarray:
    native = storage.dtype.newbyteorder("=")
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=native)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= len(storage):
        raise CheckpointError(
            f"a tensor of shape {ref.size} does not fit its storage {ref.storage.key}"
        )
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :],
        shape=ref.size,
        strides=tuple(s * item for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=native, order="C", copy=True)
