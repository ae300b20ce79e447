"""Piano rolls <-> notes <-> MIDI/MusicXML files, through music21.

A multi-track piano roll is a boolean array (time steps, pitches, tracks): ``roll[t, p, k]`` is true
while track k sounds MIDI pitch ``lowest_pitch + p`` during step t. One step is a 16th note
(``STEPS_PER_QUARTER`` steps per quarter note). A note is ``(track, pitch, start, end)`` in steps,
end exclusive. A binary roll cannot tell a held note from the same pitch repeated at once
(MuseGAN's rolls share this), so ``roll_to_notes`` reads each run of on-steps as one note.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genlab.errors import DataError

STEPS_PER_QUARTER = 4  # 16th-note quantisation
TEMPO_BPM = 80  # of the MIDI files written (a chorale's walking pace)


class Note(NamedTuple):
    track: int
    pitch: int  # MIDI pitch
    start: int  # step
    end: int  # step, exclusive


def notes_to_roll(notes, n_steps: int, lowest_pitch: int, n_pitches: int, n_tracks: int) -> np.ndarray:
    """Notes -> bool roll (n_steps, n_pitches, n_tracks); notes must lie inside the roll."""
    roll = np.zeros((n_steps, n_pitches, n_tracks), bool)
    for n in notes:
        p = n.pitch - lowest_pitch
        if not (0 <= p < n_pitches and 0 <= n.track < n_tracks and 0 <= n.start < n.end <= n_steps):
            raise ValueError(
                f"{n} lies outside a roll of {n_steps} steps, pitches {lowest_pitch}+{n_pitches}"
            )
        roll[n.start : n.end, p, n.track] = True
    return roll


def roll_to_notes(roll: np.ndarray, lowest_pitch: int) -> list[Note]:
    """Bool roll (steps, pitches, tracks) -> notes, one per run of on-steps, sorted by (track, start, pitch)."""
    on = np.asarray(roll, bool)
    padded = np.pad(on, ((1, 1), (0, 0), (0, 0)))
    change = np.diff(padded.astype(np.int8), axis=0)  # (steps + 1, pitches, tracks): +1 onset, -1 offset
    starts = np.argwhere(change == 1)  # (t, p, k), ordered by t, then p, then k
    ends = np.argwhere(change == -1)
    # The i-th onset and i-th offset of one (pitch, track) cell belong together: order by cell first.
    s_order = np.lexsort((starts[:, 0], starts[:, 1], starts[:, 2]))
    e_order = np.lexsort((ends[:, 0], ends[:, 1], ends[:, 2]))
    notes = [
        Note(int(s[2]), int(s[1]) + lowest_pitch, int(s[0]), int(e[0]))
        for s, e in zip(starts[s_order], ends[e_order], strict=True)
    ]
    return sorted(notes, key=lambda n: (n.track, n.start, n.pitch))


# --- files ----------------------------------------------------------------------------------------


def score_from_notes(notes, track_names, steps_per_bar: int):
    """A music21 Score with one Part per track (4/4 or the bar length given by ``steps_per_bar``)."""
    from music21 import instrument, meter, note, stream, tempo

    score = stream.Score()
    quarters = steps_per_bar / STEPS_PER_QUARTER
    for k, name in enumerate(track_names):
        part = stream.Part(id=name)
        part.partName = name
        part.insert(0, instrument.Piano())  # one General MIDI program for every voice
        part.insert(0, meter.TimeSignature(f"{int(quarters)}/4" if quarters == int(quarters) else "4/4"))
        if k == 0:
            part.insert(0, tempo.MetronomeMark(number=TEMPO_BPM))
        for n in (n for n in notes if n.track == k):
            m21 = note.Note(n.pitch)
            m21.quarterLength = (n.end - n.start) / STEPS_PER_QUARTER
            part.insert(n.start / STEPS_PER_QUARTER, m21)
        score.insert(0, part)
    return score


def write_midi(uri: str, roll: np.ndarray, lowest_pitch: int, track_names, steps_per_bar: int) -> str:
    """Write a roll (steps, pitches, tracks) as a standard MIDI file, one channel per track; atomic."""
    from genlab import io

    score = score_from_notes(roll_to_notes(roll, lowest_pitch), track_names, steps_per_bar)
    fd, tmp = tempfile.mkstemp(suffix=".mid")
    os.close(fd)
    try:
        score.write("midi", fp=tmp)
        io.write_bytes(uri, Path(tmp).read_bytes())
    finally:
        Path(tmp).unlink(missing_ok=True)
    return uri


class Piece(NamedTuple):
    """A parsed file: its notes, bar length and where the first full bar starts, in steps."""

    notes: list[Note]
    n_tracks: int
    bar_steps: int
    first_bar: int  # steps of pickup (anacrusis) before bar 1
    tonic_shift: int  # semitones that move the piece's key to C major / A minor (-6..5)


def _to_step(quarters) -> int:
    return int(round(float(quarters) * STEPS_PER_QUARTER))


def read_piece(path: Path | str, score=None) -> Piece:
    """Parse a MIDI or MusicXML file (or take a parsed ``score``) into notes per part.

    Chords inside a part give one note per pitch; ornaments shorter than a step keep one step.
    Unreadable files raise a DataError naming the file."""
    from music21 import converter, meter, stream

    if score is None:
        try:
            score = converter.parse(str(path))
        except Exception as e:  # music21 raises many exception types for a bad file
            raise DataError(f"{path}: cannot read as MIDI or MusicXML: {type(e).__name__}: {e}") from None
    parts = list(getattr(score, "parts", []))
    notes: list[Note] = []
    for k, part in enumerate(parts):
        for n in part.flatten().notes:
            start = _to_step(n.offset)
            end = max(start + 1, _to_step(n.offset + n.quarterLength))
            notes += [Note(k, p.midi, start, end) for p in n.pitches]
    ts = score.recurse().getElementsByClass(meter.TimeSignature).first()
    bar_steps = _to_step(ts.barDuration.quarterLength) if ts else 4 * STEPS_PER_QUARTER
    first_bar = 0
    if parts:
        measures = parts[0].getElementsByClass(stream.Measure)
        numbered = [m for m in measures if m.number >= 1]
        first_bar = _to_step(numbered[0].offset) if numbered else 0
    tonic_shift = 0
    if notes:
        found = score.analyze("key")  # Krumhansl-Schmuckler key finding
        target = 0 if found.mode == "major" else 9  # C major / A minor
        tonic_shift = (target - found.tonic.pitchClass + 6) % 12 - 6
    return Piece(notes, len(parts), bar_steps, first_bar, tonic_shift)
