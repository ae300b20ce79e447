"""Report pictures: sample grids as PNG, greyscale and RGB."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from genlab.generate.images import grid, to_png


def decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_rgb_tiles_keep_their_colours_and_places():
    colours = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.5, 0.0]], np.float32)
    tiles = np.broadcast_to(colours[:, None, None, :], (4, 5, 5, 3)).copy()
    picture = grid(tiles, rows=2, cols=2, pad=1)
    assert picture.shape == (2 * 6 + 1, 2 * 6 + 1, 3) and picture.dtype == np.uint8
    im = decode(to_png(picture, scale=2))
    assert im.mode == "RGB" and im.size == (26, 26)
    pixels = np.asarray(im)
    for k, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        y, x = 2 * (1 + 6 * r + 2), 2 * (1 + 6 * c + 2)  # a tile's centre, scaled by 2
        assert pixels[y, x].tolist() == (colours[k] * 255).round().astype(int).tolist(), k
    assert pixels[0, 0].tolist() == [255, 255, 255]  # the padding is white


def test_greyscale_tiles_make_a_greyscale_png():
    tiles = np.linspace(0, 1, 4, dtype=np.float32)[:, None, None, None] * np.ones((4, 3, 3, 1), np.float32)
    im = decode(to_png(grid(tiles, rows=1, cols=4, pad=0), scale=1))
    assert im.mode == "L" and im.size == (12, 3)
    assert np.asarray(im)[1, ::3].tolist() == [0, 85, 170, 255]
