"""``genlab translate``: apply a trained image-to-image generator to the user's own images.

Each input image (a file, or every .png/.jpg in a folder) is converted to the model's channels
(grayscale or RGB), resized to its size, translated, and written as a PNG of the same name
(atomically) into the output folder.
"""

from __future__ import annotations

import shutil
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

from genlab import io
from genlab.errors import ConfigError, DataError


def load_translator(model_uri: str):
    """The trained translation model at ``model_uri`` (no prepared dataset needed)."""
    import tensorflow as tf

    from genlab import config, models
    from genlab.models.base import DataSpec
    from genlab.models.translation import SPEC_FILE
    from genlab.train.loop import MODEL_MARKER

    marker = io.join(model_uri, MODEL_MARKER)
    if not io.exists(marker):
        raise DataError(f"{model_uri}: not a trained model ({MODEL_MARKER} missing; did training finish?)")
    meta = io.read_json(marker)
    spec_path = io.join(model_uri, SPEC_FILE)
    if not io.exists(spec_path):
        raise ConfigError(
            f"{model_uri}: a {meta['family']} model, not an image-to-image one ({SPEC_FILE} missing); "
            f"`genlab translate` takes pix2pix and cyclegan models"
        )
    exp = config.experiment_from_dict(meta["experiment"], marker)
    model = models.build(exp, DataSpec(shape=tuple(io.read_json(spec_path)["shape"])))
    local = tempfile.mkdtemp(prefix="genlab-translate-")
    try:
        for name in meta["networks"]:
            tf.io.gfile.copy(io.join(model_uri, f"{name}.weights.h5"), io.join(local, f"{name}.weights.h5"))
        model.load(local)
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return model


def _inputs(path: str) -> list[Path]:
    from genlab.data.folder import SUFFIXES, _images_in

    p = Path(path)
    if p.is_dir():
        files = _images_in(p)
        if not files:
            raise DataError(f"--input: {p} holds no .png/.jpg images")
        return files
    if p.is_file() and p.suffix.lower() in SUFFIXES:
        return [p]
    raise DataError(f"--input: {path} is neither a .png/.jpg image nor a folder of them")


def _read(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    h, w, c = shape
    try:
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BOX)
            x = np.asarray(im, np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image: {e}") from None
    return x[..., None] if c == 1 else x


def translate_images(model_uri: str, input_path: str, out_dir: str, reverse: bool = False) -> list[str]:
    """Translate every input image; returns the written PNG paths."""
    from PIL import Image

    files = _inputs(input_path)  # checked before the model loads
    model = load_translator(model_uri)
    io.makedirs(out_dir)
    written = []
    for start in range(0, len(files), 64):  # bounded memory
        chunk = files[start : start + 64]
        out = model.translate(np.stack([_read(p, model.image_shape) for p in chunk]), reverse=reverse)
        for path, image in zip(chunk, out, strict=True):
            pixels = (image * 255).round().astype(np.uint8)
            buf = BytesIO()
            Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buf, format="PNG")
            target = io.join(out_dir, path.stem + ".png")
            io.write_bytes(target, buf.getvalue())
            written.append(target)
    return written
