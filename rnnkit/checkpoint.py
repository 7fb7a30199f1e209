"""Checkpoint files: named arrays plus JSON metadata, saved atomically, loaded without pickle.

A checkpoint is one file, so that replacing it is one atomic rename. The file
is a standard uncompressed ``.npz`` (a zip archive of ``.npy`` members), which
``numpy.load(path, allow_pickle=False)`` also reads::

    <name>.npy      one member per array passed to ``save_checkpoint``
                    (numeric or bool dtypes only, so no member ever holds pickled data)
    __meta__.npy    uint8 array holding UTF-8 JSON:
                    {"format": "rnnkit-checkpoint",
                     "format_version": 1,
                     "arrays_sha256": "<hex digest, see below>",
                     "meta": <the caller's meta dict, unchanged>}

``arrays_sha256`` is SHA-256 over the arrays in sorted name order; for each
array it hashes one JSON line ``[name, dtype.str, shape]`` followed by the raw
C-order bytes. The zip CRC-32 already catches most damage; the digest also
catches members that were swapped, rewritten or dropped by a tool that made a
valid zip of them.

What goes where is the caller's choice (the trainer keeps config, optimizer
hyper-parameters, RNG state, data position and vocabulary in ``meta``; weights
and optimizer moments in ``arrays``). Loading never executes code: members
are parsed with ``numpy.lib.format.read_array(allow_pickle=False)`` and the
metadata with ``json.loads``. Every problem with a file raises
``CheckpointError`` naming the file, and nothing is returned until the whole
file has been read and verified.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import zipfile

import numpy as np

from rnnkit.errors import InputError, InputTypeError, RnnkitError

FORMAT_NAME = "rnnkit-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__meta__"

# bool, signed/unsigned int, float, complex: dtypes whose .npy form is raw bytes.
_ALLOWED_KINDS = "biufc"
# Bit generators whose ``state`` is a flat dict of ints (checked at run time).
_RNG_BIT_GENERATORS = ("PCG64", "PCG64DXSM")


class CheckpointError(RnnkitError, ValueError):
    """A checkpoint file is missing, damaged, of another format, or does not fit the model."""


# --------------------------------------------------------------------------- save


def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` and ``meta`` to ``path`` atomically.

    The data is written to a temporary file in the same directory, flushed and
    fsynced, renamed over ``path`` with ``os.replace`` and the directory is
    fsynced. If anything fails, ``path`` keeps its previous content and the
    temporary file is removed.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its directory must exist.
    arrays : dict[str, numpy.ndarray]
        Named arrays of bool, integer, float or complex dtype. Names are
        non-empty strings; ``"__meta__"`` is reserved.
    meta : dict
        JSON-native metadata: dicts with str keys, lists, str, int, finite
        float, bool and None. It is loaded back equal to what was saved.

    Raises
    ------
    TypeError, ValueError
        If an array or a meta entry is not allowed; the message names it.
    OSError
        If the file cannot be written.
    """
    path = os.fspath(path)
    _check_arrays(arrays)
    _check_meta(meta, "meta")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arrays_sha256": arrays_digest(arrays),
        "meta": meta,
    }
    meta_bytes = json.dumps(header, allow_nan=False, ensure_ascii=False).encode("utf-8")
    members = dict(arrays)
    members[META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)
    atomic_write(path, lambda f: _write_npz(f, members))


def _check_arrays(arrays) -> None:
    if not isinstance(arrays, dict):
        raise InputTypeError(
            f"arrays must be a dict of str -> numpy.ndarray, got {type(arrays).__name__}"
        )
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise InputTypeError(f"arrays keys must be str, got {name!r} ({type(name).__name__})")
        if name == "" or "\x00" in name or name.startswith("/"):
            raise InputError(f"arrays key {name!r} is not a valid name (empty, NUL or leading '/')")
        if name == META_KEY:
            raise InputError(f"arrays key {META_KEY!r} is reserved for the checkpoint metadata")
        if not isinstance(value, np.ndarray):
            raise InputTypeError(f"arrays[{name!r}] must be a numpy.ndarray, got {type(value).__name__}")
        if value.dtype.kind not in _ALLOWED_KINDS:
            raise InputTypeError(
                f"arrays[{name!r}] has dtype {value.dtype}; only bool, integer, float and "
                f"complex arrays can be checkpointed (store text in meta)"
            )


def _check_meta(value, where: str) -> None:
    """Refuse anything that would not come back from JSON equal to itself."""
    if value is None or isinstance(value, (bool, str)) or type(value) is int:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{where} is {value}; JSON has no NaN or inf, store None instead")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_meta(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputTypeError(
                    f"{where} has key {key!r} of type {type(key).__name__}; JSON keys must be str"
                )
            _check_meta(item, f"{where}[{key!r}]")
        return
    hint = " (use a list)" if isinstance(value, tuple) else ""
    raise InputTypeError(
        f"{where} is a {type(value).__name__}{hint}; meta may only hold dict, list, str, "
        f"int, float, bool and None"
    )


def _write_npz(f, members: dict) -> None:
    # Written by hand rather than with np.savez so that array names such as
    # "file" cannot clash with savez's own arguments, and so pickling is off.
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in members.items():
            with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def atomic_write(path: str, write) -> None:
    """Create or replace ``path`` with what ``write(binary_file)`` writes: through a
    temporary file in the same directory, fsynced, then renamed over ``path``; a failure
    leaves ``path`` as it was. In a data-parallel job (``mpirun``, :mod:`rnnkit.distributed`)
    rank 0 alone writes; on the other ranks this does nothing."""
    from rnnkit.distributed import is_writer

    if not is_writer():
        return
    directory = os.path.dirname(os.path.abspath(path))
    tmp_path = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    # os.open rather than tempfile.mkstemp: mode 0o666 lets the umask decide the
    # permissions, as for any other file, instead of mkstemp's private 0o600.
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable. Not possible on Windows, where
    # directories cannot be opened; there os.replace is the best we have.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def arrays_digest(arrays: dict) -> str:
    """SHA-256 hex digest over names, dtypes, shapes and bytes, in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        line = json.dumps([name, array.dtype.str, list(array.shape)], ensure_ascii=False)
        digest.update(line.encode("utf-8") + b"\n")
        digest.update(array.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- load


def load_checkpoint(path) -> tuple[dict, dict]:
    """Read and verify a checkpoint written by ``save_checkpoint``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    arrays : dict[str, numpy.ndarray]
        Every array, fully in memory, bit-equal to what was saved.
    meta : dict
        The ``meta`` dict that was saved.

    Raises
    ------
    CheckpointError
        If the file is missing or unreadable, is not a zip of ``.npy`` members,
        is truncated, holds an object (pickled) array, has bad metadata, another
        format or version, or its arrays do not match the stored digest.
    """
    path = os.fspath(path)
    try:
        members = _read_npz(path)
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path!r} does not exist") from None
    except Exception as exc:  # zip, npy and OS errors alike: the file is unusable
        raise CheckpointError(
            f"checkpoint {path!r} is not a readable rnnkit checkpoint "
            f"(truncated or corrupted?): {type(exc).__name__}: {exc}"
        ) from exc
    header = _parse_header(path, members.pop(META_KEY, None))
    if arrays_digest(members) != header["arrays_sha256"]:
        raise CheckpointError(
            f"checkpoint {path!r} is corrupted: its arrays do not match the stored SHA-256 digest"
        )
    return members, header["meta"]


def _read_npz(path: str) -> dict:
    members = {}
    with zipfile.ZipFile(path, mode="r") as zf:
        names = zf.namelist()
        if META_KEY + ".npy" not in names:
            # Checked before any member is read: an .npz of numpy.savez is refused as
            # foreign, whatever its arrays hold.
            raise CheckpointError(
                f"checkpoint {path!r} has no {META_KEY!r} entry; not an rnnkit checkpoint "
                f"(an .npz written by numpy.savez?)"
            )
        if len(set(names)) != len(names):
            raise CheckpointError(f"checkpoint {path!r} is corrupted: duplicate member names")
        for member_name in names:
            if not member_name.endswith(".npy"):
                raise CheckpointError(
                    f"checkpoint {path!r} has member {member_name!r} that is not an .npy array"
                )
            with zf.open(member_name) as member:
                _check_member_dtype(path, member_name, member)
                member.seek(0)
                # allow_pickle=False as well: nothing is ever unpickled.
                array = np.lib.format.read_array(member, allow_pickle=False)
                if member.read(1):
                    raise CheckpointError(
                        f"checkpoint {path!r}: member {member_name!r} has trailing data"
                    )
            members[member_name[: -len(".npy")]] = array
    return members


def _check_member_dtype(path: str, member_name: str, member) -> None:
    """Refuse, from its .npy header, a member that is not a bool/int/float/complex array.

    numpy's own refusal of an object array suggests ``allow_pickle``, which would be
    the wrong advice: a checkpoint never holds Python objects.
    """
    version = np.lib.format.read_magic(member)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:   # write_array uses 3.0 only for non-Latin-1 structured dtypes
        raise CheckpointError(
            f"checkpoint {path!r}: member {member_name!r} has .npy format version {version}; "
            f"not an rnnkit checkpoint"
        )
    dtype = read_header(member)[2]
    if dtype.kind not in _ALLOWED_KINDS:
        what = "Python objects (pickled data)" if dtype.hasobject else f"dtype {dtype}"
        raise CheckpointError(
            f"checkpoint {path!r}: member {member_name!r} holds {what}, which an rnnkit "
            f"checkpoint never does; not an rnnkit checkpoint, refused without loading it"
        )


def _parse_header(path: str, raw) -> dict:
    if raw is None:
        raise CheckpointError(
            f"checkpoint {path!r} has no {META_KEY!r} entry; not an rnnkit checkpoint"
        )
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(
            f"checkpoint {path!r}: {META_KEY!r} must be a 1-D uint8 array, "
            f"got {raw.dtype} {raw.shape}"
        )
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError
        raise CheckpointError(f"checkpoint {path!r} has unreadable metadata: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint {path!r}: metadata must be a JSON object")
    if header.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"checkpoint {path!r} has format {header.get('format')!r}, expected {FORMAT_NAME!r}"
        )
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format_version {header.get('format_version')!r}; "
            f"this rnnkit reads version {FORMAT_VERSION}"
        )
    if not isinstance(header.get("arrays_sha256"), str) or not isinstance(header.get("meta"), dict):
        raise CheckpointError(f"checkpoint {path!r}: metadata lacks 'arrays_sha256' or 'meta'")
    return header


# --------------------------------------------------------------------------- compatibility


def check_compatible(
    checkpoint_config: dict, expected_config: dict, keys=None, *, path=None
) -> None:
    """Refuse a checkpoint whose architecture fields differ from the model's.

    Parameters
    ----------
    checkpoint_config : dict
        Configuration read from the checkpoint's meta.
    expected_config : dict
        Configuration of the model being restored into.
    keys : iterable of str, optional
        Fields that must be equal (e.g. ``("cell", "hidden_size", "num_layers")``).
        Defaults to every key of ``expected_config``.
    path : str or os.PathLike, optional
        Checkpoint file, named in the message.

    Raises
    ------
    CheckpointError
        Listing every differing field: "checkpoint has hidden_size=256, model has 128".
    """
    keys = list(expected_config) if keys is None else list(keys)
    problems = []
    for key in keys:
        in_ckpt, in_model = key in checkpoint_config, key in expected_config
        saved, wanted = checkpoint_config.get(key), expected_config.get(key)
        if in_ckpt and in_model:
            if saved != wanted:
                problems.append(f"checkpoint has {key}={saved!r}, model has {wanted!r}")
        elif in_model:
            problems.append(f"checkpoint has no {key}, model has {wanted!r}")
        elif in_ckpt:
            problems.append(f"checkpoint has {key}={saved!r}, model has no {key}")
    if problems:
        raise CheckpointError(f"{_source(path)} does not match the model: " + "; ".join(problems))


def check_arrays_match(arrays: dict, expected: dict, *, path=None, what: str = "arrays") -> None:
    """Refuse checkpoint arrays whose names, shapes or dtypes differ from ``expected``.

    Call this before copying anything into a model, so that a mismatch never
    leaves the model half-loaded. ``expected`` maps names to arrays (e.g.
    ``model.state_dict()``); only their shape and dtype are compared.
    """
    problems = []
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    for name in sorted(set(expected) & set(arrays)):
        got, want = arrays[name], expected[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(
                f"{name}: checkpoint has {got.dtype}{list(got.shape)}, "
                f"model has {want.dtype}{list(want.shape)}"
            )
    if problems:
        raise CheckpointError(
            f"{_source(path)} {what} do not match the model: " + "; ".join(problems)
        )


def _source(path) -> str:
    return "checkpoint" if path is None else f"checkpoint {os.fspath(path)!r}"


# --------------------------------------------------------------------------- RNG state


def rng_state_to_json(rng: np.random.Generator) -> dict:
    """Capture a Generator's exact state as JSON-native data.

    The 128-bit integers of PCG64 are stored as decimal strings, so they
    survive JSON readers that turn every number into a float.
    """
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    state = rng.bit_generator.state
    name = state.get("bit_generator")
    if name not in _RNG_BIT_GENERATORS:
        raise InputTypeError(
            f"rng uses bit generator {name!r}; checkpoints support {list(_RNG_BIT_GENERATORS)}"
        )
    return {
        "bit_generator": name,
        "state": {key: str(value) for key, value in state["state"].items()},
        "has_uint32": int(state["has_uint32"]),
        "uinteger": str(state["uinteger"]),
    }


def rng_from_json(data: dict) -> np.random.Generator:
    """Rebuild the Generator captured by ``rng_state_to_json``; it continues the same stream."""
    try:
        name = data["bit_generator"]
        if name not in _RNG_BIT_GENERATORS:
            raise InputError(f"unsupported bit generator {name!r}")
        state = {
            "bit_generator": name,
            "state": {key: int(value) for key, value in data["state"].items()},
            "has_uint32": int(data["has_uint32"]),
            "uinteger": int(data["uinteger"]),
        }
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"RNG state in checkpoint is invalid: {type(exc).__name__}: {exc}"
        ) from exc
    return np.random.Generator(bit_generator)
