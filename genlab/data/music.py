"""Symbolic music as a dataset (``data.dataset: music``): multi-track piano-roll phrases.

``data.source`` "" means the Bach chorales bundled with music21 (``music21/corpus/bach/*.mxl``,
no download); otherwise a folder of MIDI/MusicXML files (searched recursively), a ``.zip`` /
``.tar(.gz)`` archive of them, or either at an ``https://`` URL (``data.music.sha256`` required)
or a ``gs://`` object. Each piece is parsed with music21 (``genlab.data.midi``), quantised to 16th
notes, transposed (``data.music.transpose``: ``key`` moves every piece to C major / A minor,
``none`` keeps the written key, ``augment`` keeps it and adds the training phrases in all 12 keys)
and cut into phrases of ``data.music.bars`` bars every ``data.music.hop_bars`` bars from bar 1.

Every 10th piece (in file-name order) is held out as the test split, so no chorale lends phrases to
both splits. Part k of each piece is track k (``data.music.tracks``: soprano, alto, tenor, bass).
In the bundled corpus, pieces with another number of parts or another bar length are skipped and
counted in the manifest; in a user's files they are errors naming the file. A phrase with a note
outside the pitch range is skipped (counted).

A phrase is stored as uint8 (bars, steps_per_bar, pitches, tracks) with 0 = off, 255 = on, like a
picture's pixels, so the generic readers of ``genlab.data.records`` hand it over as floats in {0, 1}.
Parsed pieces are cached by file content under the genlab cache (music21 parsing is slow).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from genlab import __version__
from genlab.data.archive import extract
from genlab.data.midi import Note, Piece, notes_to_roll, read_piece
from genlab.data.records import DatasetManifest, write_dataset
from genlab.errors import ConfigError, DataError

SUFFIXES = {".mid", ".midi", ".mxl", ".musicxml", ".xml"}
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
TEST_EVERY = 10  # every 10th piece is held out
SOURCE_HINT = (
    "expected a folder of MIDI/MusicXML files, a .zip/.tar.gz archive of them, an https:// URL "
    '(with data.music.sha256) or a gs:// object; "" = the Bach chorales bundled with music21'
)


def bach_chorales() -> list[Path]:
    """The chorales in music21's corpus (MusicXML), in name order."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach") if Path(p).suffix in (".mxl", ".xml"))


# --- where the files come from --------------------------------------------------------------------


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVES)


def _fetch(source: str, sha256: str) -> Path:
    """Download an https:// or gs:// source into the cache once; https needs its sha256."""
    from genlab.data.sources import _download_gcs, _download_https, cache_dir, sha256_file

    name = source.rstrip("/").rsplit("/", 1)[-1] or "music"
    key = sha256 or hashlib.sha256(source.encode()).hexdigest()
    dest = cache_dir() / "music" / f"{key[:16]}-{name}"
    if source.startswith("gs://"):
        if not dest.is_file():
            _download_gcs(source, dest, sha256 or None)
    else:
        if not sha256:
            raise ConfigError(f"data.music.sha256: required for an https:// source ({source})")
        if not dest.is_file() or sha256_file(dest) != sha256:
            _download_https(source, dest, sha256)
    return dest


def music_files(source: str, sha256: str = "") -> tuple[list[Path], str]:
    """(the files to read, where they came from) for ``data.source``."""
    if not source:
        return bach_chorales(), "music21 corpus: Bach chorales"
    path = _fetch(source, sha256) if source.startswith(("https://", "http://", "gs://")) else Path(source)
    if path.is_file() and _is_archive(path.name):  # unpacked once into the cache, keyed by content
        from genlab.data.sources import cache_dir, sha256_file

        path = extract(path, cache_dir() / "music" / "unpacked" / f"{sha256_file(path)[:16]}-{path.name}")
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise DataError(f"data.source: {path} is not a MIDI/MusicXML file or archive ({SOURCE_HINT})")
        return [path], source
    if not path.is_dir():
        raise DataError(f"data.source: {source} not found ({SOURCE_HINT})")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataError(f"data.source: {source} holds no .mid/.midi/.mxl/.musicxml/.xml files")
    return files, source


# --- parsing, with a cache ------------------------------------------------------------------------


def _cached_piece(path: Path) -> Piece:
    from genlab.data.sources import cache_dir, sha256_file

    entry = cache_dir() / "music" / "pieces" / f"{sha256_file(path)}-{__version__}.json"
    if entry.is_file():
        d = json.loads(entry.read_text())
        return Piece(
            [Note(*n) for n in d["notes"]], d["n_tracks"], d["bar_steps"], d["first_bar"], d["tonic_shift"]
        )
    piece = read_piece(path)
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{entry.name}.", dir=entry.parent)
    with os.fdopen(fd, "w") as f:
        json.dump({**piece._asdict(), "notes": [list(n) for n in piece.notes]}, f)
    os.replace(tmp, entry)  # atomic: a concurrent reader sees all of it or none
    return piece


def transpose(notes, semitones: int) -> list[Note]:
    """Every note moved by ``semitones``; intervals between notes are unchanged."""
    return [n._replace(pitch=n.pitch + semitones) for n in notes]


def phrases(piece: Piece, music, shift: int) -> tuple[list[np.ndarray], int]:
    """(uint8 phrases (bars, steps_per_bar, pitches, tracks), phrases skipped for their range)."""
    length, hop = music.bars * piece.bar_steps, music.hop_bars * piece.bar_steps
    notes = transpose(piece.notes, shift)
    total = max((n.end for n in notes), default=0)
    out, skipped = [], 0
    for start in range(piece.first_bar, total - length + 1, hop):
        inside = [
            n._replace(start=max(n.start, start) - start, end=min(n.end, start + length) - start)
            for n in notes
            if n.end > start and n.start < start + length
        ]
        if any(not 0 <= n.pitch - music.lowest_pitch < music.pitches for n in inside):
            skipped += 1
            continue
        roll = notes_to_roll(inside, length, music.lowest_pitch, music.pitches, len(music.tracks))
        roll = roll.reshape(music.bars, piece.bar_steps, music.pitches, len(music.tracks))
        out.append(roll.astype(np.uint8) * 255)
    return out, skipped


def _shifts(music, piece: Piece, split: str) -> list[int]:
    if music.transpose == "key":
        return [piece.tonic_shift]
    if music.transpose == "augment" and split == "train":
        return list(range(-5, 7))  # the written key and the 11 others
    return [0]


def prepare_music(exp, out_uri: str) -> DatasetManifest:
    """Parse, check, transpose and cut the pieces; write phrases split by piece."""
    cfg, music = exp.data, exp.data.music
    files, where = music_files(cfg.source, music.sha256)
    bundled = not cfg.source
    if music.max_pieces:
        files = files[: music.max_pieces]
    want = len(music.tracks)
    splits: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    pieces = {"train": 0, "test": 0}
    skipped = {"parts": 0, "bar_length": 0, "range": 0}
    for i, path in enumerate(files):
        piece = _cached_piece(path)
        problem = None
        if piece.n_tracks != want:
            problem = "parts", f"has {piece.n_tracks} parts; expected {want} ({', '.join(music.tracks)})"
        elif piece.bar_steps != music.steps_per_bar:
            problem = (
                "bar_length",
                (
                    f"has bars of {piece.bar_steps} 16th notes; expected data.music.steps_per_bar="
                    f"{music.steps_per_bar} (16 = 4/4)"
                ),
            )
        if problem:
            if not bundled:
                raise DataError(f"{path}: {problem[1]}")
            skipped[problem[0]] += 1
            continue
        split = "test" if i % TEST_EVERY == TEST_EVERY - 1 else "train"
        pieces[split] += 1
        for shift in _shifts(music, piece, split):
            rolls, out_of_range = phrases(piece, music, shift)
            splits[split] += rolls
            skipped["range"] += out_of_range
    for split, limit in (("train", cfg.max_train), ("test", cfg.max_test)):
        if limit:
            splits[split] = splits[split][:limit]
        if not splits[split]:
            raise DataError(
                f"{where}: no {split} phrases of {music.bars} bars ({pieces[split]} pieces in the split, "
                f"skipped: {skipped}); use more or longer pieces, or fewer data.music.bars"
            )
    shape = (music.bars, music.steps_per_bar, music.pitches, want)
    return write_dataset(
        out_uri,
        dataset="music",
        source=where,
        shape=shape,
        class_names=(),
        splits={s: iter([(np.stack(r), np.zeros(len(r), np.int64))]) for s, r in splits.items()},
        shards=cfg.shards,
        extra={
            "kind": "music",
            "tracks": list(music.tracks),
            "lowest_pitch": music.lowest_pitch,
            "transpose": music.transpose,
            "pieces": pieces,
            "skipped": skipped,
        },
    )


def music_spec(manifest: DatasetManifest, exp):
    """The DataSpec of a music dataset: roll shape, track names and the first row's MIDI pitch."""
    from genlab.models.base import DataSpec

    return DataSpec(
        shape=tuple(manifest.shape),
        tracks=tuple(manifest.extra["tracks"]),
        lowest_pitch=int(manifest.extra["lowest_pitch"]),
    )
