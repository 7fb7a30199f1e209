"""Images read as sequences: each row of pixels is one time step.

An ``(N, H, W)`` image array becomes ``N`` sequences of ``H`` steps with ``W``
features; pixel values are scaled to [0, 1] by the caller's choice of ``scale``.

* ``load_digits_images()``: scikit-learn's 8x8 handwritten digits (1,797
  images, values 0..16; scikit-learn is imported only here).
* ``load_fashion_mnist(split)``: Zalando's Fashion-MNIST (60,000 train /
  10,000 test, 28x28, values 0..255) from the IDX files of the Debian package
  ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``.
* ``read_image_file(path)``: the user's images, an ``.npz`` with arrays
  ``images`` (N, H, W) and ``labels`` (N,), or an IDX image file whose labels
  sit beside it (``*-images-idx3-ubyte[.gz]`` -> ``*-labels-idx1-ubyte[.gz]``).
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

import numpy as np

from rnnkit.errors import InputError, MissingFileError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FASHION_PREFIX = {"train": "train", "test": "t10k"}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_digits_images():
    """scikit-learn's digits: ``(images (1797, 8, 8) float64 in [0, 16], labels (1797,) int)``."""
    from sklearn.datasets import load_digits   # lazily: an `apps` extra

    digits = load_digits()
    return digits.images.astype(np.float64), digits.target.astype(np.int64)


def load_fashion_mnist(split: str = "train", directory=FASHION_DIR):
    """Fashion-MNIST ``split`` ("train" or "test"): ``(images (N, 28, 28) uint8, labels (N,) int64)``."""
    if split not in _FASHION_PREFIX:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    prefix = _FASHION_PREFIX[split]
    images_path = directory / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = directory / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise MissingFileError(
                f"Fashion-MNIST is not installed ({path} is missing); install it with "
                f"`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put the four "
                f"IDX .gz files in a directory and pass it as `directory`")
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check_images_labels(images, labels, str(images_path))
    return images, labels.astype(np.int64)


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(f"{path}: IDX header says shape {shape} ({expected} bytes), file has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def read_image_file(path, require_labels: bool = True):
    """The user's labelled images: ``(images (N, H, W), labels (N,))``.

    ``.npz`` with arrays ``images`` and ``labels``; or an IDX images file
    (``...images...idx3...``) with the labels file of the same name
    (``images`` -> ``labels``, ``idx3`` -> ``idx1``) in the same directory.
    Labels may be integers or strings. With ``require_labels=False`` (prediction)
    an .npz may lack ``labels`` and an IDX file its labels file; labels is then None.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"image file {str(path)!r} does not exist")
    if path.suffix == ".npz":
        images, labels = _read_npz(path, require_labels)
    elif "idx3" in path.name:
        labels_path = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
        images, labels = read_idx(path), None
        if labels_path.is_file():
            labels = read_idx(labels_path)
        elif require_labels:
            raise MissingFileError(f"{path}: the labels file {labels_path.name!r} is not beside it")
    else:
        raise InputError(f"image file {str(path)!r}: expected an .npz or an IDX (idx3) file")
    _check_images_labels(images, labels, str(path))
    return images, labels


def _read_npz(path: Path, require_labels: bool):
    """``images`` and ``labels`` (None when absent) of an .npz; a damaged file is an InputError."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise InputError(f"{path}: not a readable .npz archive (it is a single .npy array); save "
                         f"it with numpy.savez(path, images=..., labels=...)")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a readable .npz archive (not a zip file: truncated, or "
                         f"another kind of file?); save it with "
                         f"numpy.savez(path, images=..., labels=...)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            found = data.files
            for name in ("images", "labels"):
                if name in found:
                    arrays[name] = _npz_member(data, name, path)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc}; "
                         f"truncated or corrupted?)") from None
    needed = ("images", "labels") if require_labels else ("images",)
    missing = [k for k in needed if k not in found]
    if missing:
        raise InputError(f"{path}: the .npz needs arrays 'images' (N, H, W) and 'labels' (N,); "
                         f"missing {missing}, found {found}")
    return arrays["images"], arrays.get("labels")


def _npz_member(data, name: str, path: Path) -> np.ndarray:
    # The .npy header is read first: an object array would need unpickling, which is
    # never done, and numpy's own refusal talks about allow_pickle, a setting the user
    # cannot change here.
    member = f"{name}.npy" if f"{name}.npy" in data.zip.namelist() else name
    try:
        with data.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            dtype = read_header(f)[2] if read_header is not None else None
        array = None if dtype is not None and dtype.hasobject else data[name]
    except ValueError as exc:   # a member that is not an .npy array
        raise InputError(f"{path}: array {name!r} is not a readable .npy array ({exc})") from None
    if array is None:
        raise InputError(f"{path}: array {name!r} holds Python objects (dtype=object), which are "
                         f"not loaded; save numbers, and labels as numbers or strings "
                         f"(e.g. labels.astype(str))")
    return array


def _check_images_labels(images, labels, source):
    if images.ndim != 3 or 0 in images.shape:
        raise InputError(f"{source}: images must have shape (N, H, W) with N, H, W >= 1, got {images.shape}")
    if images.dtype.kind not in "iuf":
        raise InputError(f"{source}: images must be numbers, got dtype {images.dtype}")
    if not np.isfinite(images).all():
        raise InputError(f"{source}: images hold NaN or infinite values")
    if labels is not None and labels.shape != (images.shape[0],):
        raise InputError(f"{source}: labels must have shape (N={images.shape[0]},), got {labels.shape}")
