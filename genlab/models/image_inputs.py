"""Pictures in and out of the image-optimisation families (style transfer, DeepDream): user image
files, test images by class, resizing, and the report's picture strips and tables."""

from __future__ import annotations

import html
import io as _io

import numpy as np
import tensorflow as tf

from genlab.errors import ConfigError, DataError


def load_image(path: str, key: str, size: int, channels: int) -> np.ndarray:
    """A PNG/JPEG file -> (size, size, channels) float32 in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    from genlab import io

    if not io.exists(path):
        raise ConfigError(f"model.{key}: {path} not found; expected a PNG or JPEG image file")
    try:
        img = Image.open(_io.BytesIO(io.read_bytes(path)))
        img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError) as e:
        raise ConfigError(f"model.{key}: {path} is not a readable PNG or JPEG image ({e})") from None
    return (np.asarray(img, np.float32) / 255.0).reshape(size, size, channels)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, c) -> (size, size, c), bilinear; unchanged when already that size."""
    if image.shape[0] == size and image.shape[1] == size:
        return image.astype(np.float32)
    return np.clip(tf.image.resize(image[None], (size, size), method="bilinear")[0].numpy(), 0, 1)


def first_of_class(images: np.ndarray, labels: np.ndarray, cls: int, key: str) -> int:
    idx = np.flatnonzero(labels == cls)
    if not len(idx):
        raise DataError(
            f"the test split has no image of class {cls} (model.{key}); "
            f"raise data.max_test or choose another class"
        )
    return int(idx[0])


def side_by_side(images: list[np.ndarray], scale: int = 4) -> bytes:
    from genlab.generate.images import grid, to_png

    return to_png(grid(np.stack(images), 1, len(images)), scale=scale)


def html_table(header: list[str], rows: list[list]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"
