"""Music in the report: piano-roll pictures (one colour per voice) and playable MIDI files."""

from __future__ import annotations

import html

import numpy as np

from genlab import io, report
from genlab.generate.images import to_png

# One colour per track (RGB), in track order; more tracks cycle.
COLOURS = [(214, 39, 40), (44, 160, 44), (31, 119, 180), (255, 127, 14), (148, 103, 189), (140, 86, 75)]
BAR_LINE = (170, 170, 170)
C_LINE = (232, 232, 232)  # every C, so octaves can be read off


def roll_picture(roll: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """One phrase (bars, steps, pitches, tracks) -> uint8 RGB (pitches, 2 x time): high pitches on top,
    bar lines grey, a faint line at every C; where voices overlap their colours mix."""
    bars, steps, pitches, k = roll.shape
    on = np.asarray(roll, bool).reshape(bars * steps, pitches, k).transpose(1, 0, 2)[::-1]  # (P, T, K)
    picture = np.full((pitches, bars * steps, 3), 255, np.float32)
    for p in range(pitches):
        if (lowest_pitch + pitches - 1 - p) % 12 == 0:
            picture[p] = C_LINE
    picture[:, ::steps] = BAR_LINE
    colours = np.array([COLOURS[i % len(COLOURS)] for i in range(k)], np.float32)  # (K, 3)
    count = on.sum(axis=-1, keepdims=True)  # (P, T, 1)
    mixed = (on[..., None] * colours).sum(axis=2) / np.maximum(count, 1)  # (P, T, 3)
    picture = np.where(count > 0, mixed, picture)
    return picture.round().astype(np.uint8).repeat(2, axis=1)  # twice as wide: a step is 2 x 1


def rolls_picture(rolls: np.ndarray, lowest_pitch: int, pad: int = 3) -> np.ndarray:
    """Phrases stacked top to bottom on a white background."""
    pictures = [roll_picture(r, lowest_pitch) for r in rolls]
    h, w, _ = pictures[0].shape
    out = np.full((len(pictures) * (h + pad) - pad, w, 3), 255, np.uint8)
    for i, pic in enumerate(pictures):
        out[i * (h + pad) : i * (h + pad) + h] = pic
    return out


def legend(tracks) -> str:
    swatches = [
        f"<span style='color:rgb{COLOURS[i % len(COLOURS)]}'>&#9632;</span> {html.escape(name)}"
        for i, name in enumerate(tracks)
    ]
    return " &nbsp; ".join(swatches)


def music_sections(model, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
    """Generated phrases (PNG + one MIDI file each) and held-out phrases drawn the same way."""
    from genlab import data
    from genlab.data.midi import write_midi

    spec, n = model.spec, model.cfg.sample_phrases
    bars, steps, _, _ = spec.shape
    fake = model.sample(n, seed=exp.generate.seed)
    test, _ = data.load_arrays(data_uri, "test")
    pick = np.random.default_rng(exp.generate.seed).choice(len(test), min(n, len(test)), replace=False)
    real = test[np.sort(pick)] > 0.5
    links = []
    for i, roll in enumerate(fake):
        name = f"sample_{i}.mid"
        write_midi(
            io.join(out_dir, name),
            roll.reshape(bars * steps, *roll.shape[2:]),
            spec.lowest_pitch,
            spec.tracks,
            steps,
        )
        links.append(f"<a href='{name}'>{name}</a>")
    pngs = {}
    for name, rolls in (("pianorolls.png", fake), ("real_pianorolls.png", real)):
        pngs[name] = to_png(rolls_picture(rolls, spec.lowest_pitch), scale=3)
        io.write_bytes(io.join(out_dir, name), pngs[name])
    note = (
        f"<p>{n} generated phrases of {bars} bars ({model.cfg.sampling} binarisation), one per row; "
        f"time runs left to right (grey lines: bar lines), pitch upwards (faint lines: each C). "
        f"Voices: {legend(spec.tracks)}.</p>"
        f"<p>MIDI files (one track per voice, {len(links)} phrases): {', '.join(links)}</p>"
    )
    generated = note + report.img_tag(pngs["pianorolls.png"], "generated piano rolls")
    held_out = "<p>Phrases of held-out pieces, drawn the same way, for comparison.</p>" + report.img_tag(
        pngs["real_pianorolls.png"], "held-out piano rolls"
    )
    return [("Generated phrases", generated), ("Held-out phrases", held_out)]
