"""Read MNIST from a directory of the four IDX files (raw or .gz), with errors that name the file."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Split = Literal["train", "test"]

FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


class MnistError(ValueError):
    """A missing, truncated or malformed MNIST file; the message names the file."""


@dataclass(frozen=True)
class MnistSplit:
    images: NDArray[np.uint8]  # (N, 28, 28)
    labels: NDArray[np.uint8]  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, count: int) -> MnistSplit:
        return MnistSplit(self.images[:count], self.labels[:count])

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.images.tobytes())
        digest.update(self.labels.tobytes())
        return "sha256:" + digest.hexdigest()


def locate(data_dir: Path, stem: str) -> Path:
    """The raw file if present, else its .gz twin."""
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise MnistError(f"{data_dir / stem}[.gz]: file not found (expected the standard MNIST files)")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise MnistError(f"{path}: cannot read: truncated or corrupt ({exc})") from exc


def read_idx(path: Path, *, expect_images: bool) -> NDArray[np.uint8]:
    """Parse one IDX file, checking magic number, dimensions and length against the header."""
    data = _read_bytes(path)
    header_len = 16 if expect_images else 8
    if len(data) < header_len:
        raise MnistError(f"{path}: truncated: {len(data)} bytes is shorter than the IDX header")
    magic = int.from_bytes(data[0:4], "big")
    expected_magic = _IMAGES_MAGIC if expect_images else _LABELS_MAGIC
    if magic != expected_magic:
        kind = "image" if expect_images else "label"
        raise MnistError(f"{path}: bad magic number {magic:#010x}, expected {expected_magic:#010x} ({kind} file)")
    count = int.from_bytes(data[4:8], "big")
    shape: tuple[int, ...] = (count,)
    if expect_images:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        if (rows, cols) != (28, 28):
            raise MnistError(f"{path}: images are {rows}x{cols}, expected 28x28")
        shape = (count, rows, cols)
    expected_len = header_len + int(np.prod(shape))
    if len(data) != expected_len:
        raise MnistError(
            f"{path}: wrong length: header promises {count} items ({expected_len} bytes), file has {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def load_split(data_dir: Path | str, split: Split) -> MnistSplit:
    """Load the train (60k) or test (10k) split as uint8 arrays."""
    directory = Path(data_dir)
    if not directory.is_dir():
        raise MnistError(f"{directory}: MNIST data directory not found")
    images_stem, labels_stem = FILES[split]
    images_path, labels_path = locate(directory, images_stem), locate(directory, labels_stem)
    images = read_idx(images_path, expect_images=True)
    labels = read_idx(labels_path, expect_images=False)
    if len(images) != len(labels):
        raise MnistError(f"{images_path}: {len(images)} images but {labels_path.name} has {len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise MnistError(f"{labels_path}: label {int(labels.max())} outside 0-9")
    return MnistSplit(images, labels)


def download(data_dir: Path | str) -> Path:
    """Fetch MNIST with torchvision (online users only; nothing calls this by default)."""
    from torchvision.datasets import MNIST  # optional dependency, imported only on request

    directory = Path(data_dir)
    for train in (True, False):
        MNIST(root=str(directory), train=train, download=True)
    return directory / "MNIST" / "raw"
