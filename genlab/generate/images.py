"""Pictures: sample grids and latent interpolations, written atomically as PNG."""

from __future__ import annotations

import io as _io

import numpy as np
from PIL import Image

from genlab import io


def grid(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(n, h, w, c) floats in [0, 1] -> one uint8 picture of rows x cols tiles on a white background."""
    n, h, w, c = images.shape
    out = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.float32)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def to_png(picture: np.ndarray, scale: int = 3) -> bytes:
    img = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = _io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str, picture: np.ndarray, scale: int = 3) -> str:
    io.write_bytes(path, to_png(picture, scale))
    return path


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation, which keeps Gaussian latents at a typical norm (White 2016)."""
    cos = np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolation_latents(latent_dim: int, rows: int, steps: int, seed: int) -> np.ndarray:
    """rows x steps latents: each row walks from one random latent to another."""
    rng = np.random.default_rng(seed)
    ends = rng.standard_normal((rows, 2, latent_dim)).astype(np.float32)
    ts = np.linspace(0.0, 1.0, steps)
    return np.stack([slerp(a, b, t) for a, b in ends for t in ts]).astype(np.float32)


def sample_pictures(model, out_dir: str, g) -> list[tuple[str, bytes]]:
    """An image family's report pictures: a sample grid and, for latent models, an interpolation.

    Written as ``samples.png`` and ``interpolation.png`` in ``out_dir``; ``g`` is the generate section."""
    samples = model.sample(g.rows * g.cols, seed=g.seed)
    picture = grid(samples, g.rows, g.cols)
    save_png(io.join(out_dir, "samples.png"), picture)
    pictures = [("Samples", to_png(picture))]
    if model.latent_dim():
        z = interpolation_latents(model.latent_dim(), g.rows, g.interpolation_steps, g.seed)
        walk = grid(model.decode(z), g.rows, g.interpolation_steps)
        save_png(io.join(out_dir, "interpolation.png"), walk)
        pictures.append(("Latent interpolation (each row: one latent to another)", to_png(walk)))
    return pictures
