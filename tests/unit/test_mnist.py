from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA_DIR
from training.mnist import MnistError, load_split, read_idx


def idx_images(count: int, magic: int = 0x803, rows: int = 28) -> bytes:
    header = magic.to_bytes(4, "big") + count.to_bytes(4, "big") + rows.to_bytes(4, "big") + (28).to_bytes(4, "big")
    return header + bytes(range(256)) * (count * rows * 28 // 256) + bytes(count * rows * 28 % 256)


def idx_labels(count: int, magic: int = 0x801) -> bytes:
    return magic.to_bytes(4, "big") + count.to_bytes(4, "big") + bytes(i % 10 for i in range(count))


def write_split(directory: Path, images: bytes, labels: bytes, compress: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stem, payload in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        if compress:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (directory / stem).write_bytes(payload)


def test_reads_the_real_test_split() -> None:
    split = load_split(DATA_DIR, "test")
    assert split.images.shape == (10000, 28, 28)
    assert split.images.dtype == np.uint8
    assert split.labels.shape == (10000,)
    assert sorted(set(split.labels.tolist())) == list(range(10))


@pytest.mark.parametrize("compress", [False, True])
def test_reads_raw_and_gzipped_files(tmp_path: Path, compress: bool) -> None:
    write_split(tmp_path, idx_images(3), idx_labels(3), compress)
    split = load_split(tmp_path, "test")
    assert split.images.shape == (3, 28, 28)
    assert split.labels.tolist() == [0, 1, 2]


def test_missing_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_images(3))
    with pytest.raises(MnistError, match=r"t10k-labels-idx1-ubyte.*not found"):
        load_split(tmp_path, "test")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MnistError, match="directory not found"):
        load_split(tmp_path / "nope", "train")


def test_bad_magic_number(tmp_path: Path) -> None:
    write_split(tmp_path, idx_images(3, magic=0x801), idx_labels(3))
    with pytest.raises(MnistError, match=r"t10k-images-idx3-ubyte: bad magic number"):
        load_split(tmp_path, "test")


def test_truncated_file(tmp_path: Path) -> None:
    write_split(tmp_path, idx_images(3)[:-100], idx_labels(3))
    with pytest.raises(MnistError, match=r"t10k-images-idx3-ubyte: wrong length"):
        load_split(tmp_path, "test")


def test_wrong_count_in_header(tmp_path: Path) -> None:
    labels = idx_labels(3)
    write_split(tmp_path, idx_images(3), labels[:4] + (4).to_bytes(4, "big") + labels[8:])
    with pytest.raises(MnistError, match=r"t10k-labels-idx1-ubyte: wrong length: header promises 4"):
        load_split(tmp_path, "test")


def test_image_label_count_mismatch(tmp_path: Path) -> None:
    write_split(tmp_path, idx_images(3), idx_labels(2))
    with pytest.raises(MnistError, match="3 images but t10k-labels-idx1-ubyte has 2 labels"):
        load_split(tmp_path, "test")


def test_header_shorter_than_idx_header(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(MnistError, match="shorter than the IDX header"):
        read_idx(path, expect_images=True)


def test_corrupt_gzip(tmp_path: Path) -> None:
    shutil.copy(DATA_DIR / "t10k-labels-idx1-ubyte.gz", tmp_path)
    compressed = gzip.compress(idx_images(3))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(MnistError, match=r"t10k-images-idx3-ubyte.gz: cannot read: truncated or corrupt"):
        load_split(tmp_path, "test")


def test_not_gzip_at_all(tmp_path: Path) -> None:
    write_split(tmp_path, idx_images(3), idx_labels(3))
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"this is not gzip data at all")
    with pytest.raises(MnistError, match="truncated or corrupt"):
        load_split(tmp_path, "test")
