"""Fashion-MNIST for the PyTorch references: the IDX (gzip) reader and Kiln's preprocessing.

numpy only. Mirrors tools/data (FashionMnist.cpp, Image.h): images are
x / 255 normalised with mean 0.2860 and std 0.3530 (Kiln's kMean/kStd), the
files are Debian's dataset-fashion-mnist layout.
"""
import gzip
import os
import struct

import numpy as np

DEFAULT_PATH = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DataError(Exception):
    """A missing or malformed dataset file; the message names the file."""


def _read_idx(path, expected_dims):
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: not found (install Debian's dataset-fashion-mnist, or pass "
                        "--data-path)") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8 or data[3] != expected_dims:
        raise DataError(f"{path}: not an IDX file of unsigned bytes with {expected_dims} dims")
    header = 4 + 4 * expected_dims
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * expected_dims, data[4:header])
    count = int(np.prod(dims))
    if len(data) != header + count:
        raise DataError(f"{path}: {len(data) - header} bytes of data, expected {count} for shape "
                        f"{dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load(split, data_path=DEFAULT_PATH):
    """(images uint8 [N, 28, 28], labels int64 [N]) of split "train" or "test"."""
    image_file, label_file = FILES[split]
    images = _read_idx(os.path.join(data_path, image_file), 3)
    labels = _read_idx(os.path.join(data_path, label_file), 1).astype(np.int64)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataError(f"{data_path}: {split} images {images.shape} and labels {labels.shape} "
                        "do not pair up as [N, 28, 28] / [N]")
    if labels.size and labels.max() > 9:
        raise DataError(f"{os.path.join(data_path, label_file)}: label {labels.max()} out of "
                        "range [0, 9]")
    return images, labels


def normalize(images_u8):
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28], (x / 255 - MEAN) / STD in float32."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :]
