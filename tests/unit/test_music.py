"""Music: piano rolls <-> notes <-> MIDI, transposition, phrase cutting, the split by piece, MuseGAN's
metrics on hand-built rolls and the generator's structure."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from genlab import config
from genlab.data import midi
from genlab.data.midi import Note
from genlab.errors import ConfigError, DataError
from genlab.evaluate import music_metrics as mm

TRACKS = ("soprano", "alto", "tenor", "bass")
# A bar of 4/4 in four voices: held notes, a 16th, an 8th, a rest in the alto, a chord tone shared.
NOTES = [
    Note(0, 72, 0, 4),
    Note(0, 74, 4, 5),
    Note(0, 76, 5, 8),
    Note(0, 72, 8, 16),
    Note(1, 67, 0, 6),
    Note(1, 65, 10, 16),
    Note(2, 64, 0, 8),
    Note(2, 60, 8, 10),
    Note(2, 62, 10, 16),
    Note(3, 48, 0, 16),
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_roll_notes_round_trip_keeps_every_note():
    roll = midi.notes_to_roll(NOTES, 16, 40, 48, 4)
    assert roll.shape == (16, 48, 4) and roll.sum() == sum(n.end - n.start for n in NOTES)
    assert midi.roll_to_notes(roll, 40) == sorted(NOTES, key=lambda n: (n.track, n.start, n.pitch))


def test_roll_rejects_notes_outside_it():
    with pytest.raises(ValueError, match="outside"):
        midi.notes_to_roll([Note(0, 39, 0, 2)], 16, 40, 48, 4)


def test_midi_file_round_trip_keeps_notes_and_timing(tmp_path):
    roll = midi.notes_to_roll(NOTES, 16, 40, 48, 4)
    path = tmp_path / "bar.mid"
    midi.write_midi(str(path), roll, 40, TRACKS, 16)
    piece = midi.read_piece(path)
    assert piece.n_tracks == 4 and piece.bar_steps == 16
    assert sorted(piece.notes) == sorted(NOTES)
    np.testing.assert_array_equal(midi.notes_to_roll(piece.notes, 16, 40, 48, 4), roll)


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd not really")
    with pytest.raises(DataError, match="broken.mid: cannot read"):
        midi.read_piece(bad)


# --- data preparation ---------------------------------------------------------------------------


def music_exp(**music):
    return config.experiment_from_dict(
        {
            "model": {"family": "musegan", "z_dim": 4, "width": 4},
            "data": {"dataset": "music", "shards": 1, "music": {"lowest_pitch": 40, "pitches": 48, **music}},
            "train": {"batch_size": 10},
        }
    )


def test_transposition_keeps_intervals_and_moves_the_roll():
    from genlab.data.music import phrases, transpose

    up = transpose(NOTES, 5)
    assert [b.pitch - a.pitch for a, b in zip(NOTES, up, strict=True)] == [5] * len(NOTES)
    piece = midi.Piece(NOTES, 4, 16, 0, 0)
    cfg = music_exp(bars=1).data.music
    (plain,), _ = phrases(piece, cfg, 0)
    (moved,), _ = phrases(piece, cfg, 5)
    assert plain.shape == (1, 16, 48, 4)
    np.testing.assert_array_equal(moved[:, :, 5:], plain[:, :, :-5])  # same voicing, 5 rows up
    # Out of range (the soprano's 76 + 12 > 87): the phrase is skipped and counted.
    assert phrases(piece, cfg, 12) == ([], 1)


def test_phrases_start_at_bar_one_and_hop(tmp_path):
    from genlab.data.music import phrases

    notes = [Note(0, 60 + (t // 16), t, t + 16) for t in range(4, 5 * 16 + 4, 16)]  # bar b holds pitch 60+b
    piece = midi.Piece(notes, 1, 16, 4, 0)  # a pickup of 4 steps before bar 1
    cfg = music_exp(bars=2, hop_bars=1, tracks=["v"]).data.music
    rolls, skipped = phrases(piece, cfg, 0)
    assert skipped == 0 and len(rolls) == 4  # bars 1-2, 2-3, 3-4, 4-5 of 5 bars
    first_pitch = [int(np.argmax(r[0, 0, :, 0])) + 40 for r in rolls]
    assert first_pitch == [60, 61, 62, 63]


def write_pieces(folder, count, parts=4):
    """``count`` two-bar pieces; piece i's soprano holds pitch 60 + i (to trace phrases to pieces)."""
    folder.mkdir()
    for i in range(count):
        notes = [Note(k, 60 + i - 5 * k, 0, 32) for k in range(parts)]
        roll = midi.notes_to_roll(notes, 32, 40, 48, parts)
        midi.write_midi(str(folder / f"piece{i:02d}.mid"), roll, 40, [f"p{k}" for k in range(parts)], 16)


def test_split_is_by_piece_and_user_files_are_checked(tmp_path, monkeypatch):
    from genlab.data import load_arrays, prepare

    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    write_pieces(tmp_path / "ten", 10)
    exp = music_exp(bars=1, transpose="none")
    exp = exp.replace(data=dataclasses.replace(exp.data, source=str(tmp_path / "ten")))
    manifest = prepare(exp, str(tmp_path / "ds"))
    assert manifest.count("train") == 18 and manifest.count("test") == 2  # 2 bars -> 2 phrases each
    test, _ = load_arrays(str(tmp_path / "ds"), "test")
    assert test.shape == (2, 1, 16, 48, 4)
    assert set(np.argwhere(test[..., 0] > 0.5)[:, 3] + 40) == {69}  # only piece 9's soprano

    # The same files in a zip archive give the same dataset.
    shutil.make_archive(str(tmp_path / "ten"), "zip", tmp_path / "ten")
    zipped = prepare(
        exp.replace(data=dataclasses.replace(exp.data, source=str(tmp_path / "ten.zip"))),
        str(tmp_path / "dz"),
    )
    assert zipped.checksum == manifest.checksum

    # The same archive over http(s) with its sha256 (a plain file: checked by its own bytes).
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ten.zip"
    try:
        digest = hashlib.sha256((tmp_path / "ten.zip").read_bytes()).hexdigest()
        served = exp.replace(
            data=dataclasses.replace(
                exp.data, source=url, music=dataclasses.replace(exp.data.music, sha256=digest)
            )
        )
        assert prepare(served, str(tmp_path / "du")).checksum == manifest.checksum
        wrong = served.replace(
            data=dataclasses.replace(served.data, music=dataclasses.replace(exp.data.music, sha256="0" * 64))
        )
        with pytest.raises(DataError, match="sha256 mismatch"):
            prepare(wrong, str(tmp_path / "dw"))
    finally:
        server.shutdown()

    write_pieces(tmp_path / "three_parts", 2, parts=3)
    exp3 = exp.replace(data=dataclasses.replace(exp.data, source=str(tmp_path / "three_parts")))
    with pytest.raises(DataError, match="piece00.mid: has 3 parts; expected 4"):
        prepare(exp3, str(tmp_path / "ds3"))
    (tmp_path / "empty").mkdir()
    exp0 = exp.replace(data=dataclasses.replace(exp.data, source=str(tmp_path / "empty")))
    with pytest.raises(DataError, match="holds no .mid"):
        prepare(exp0, str(tmp_path / "ds0"))
    https = exp.replace(data=dataclasses.replace(exp.data, source="https://example.org/chorales.zip"))
    with pytest.raises(ConfigError, match="data.music.sha256: required"):
        prepare(https, str(tmp_path / "dh"))


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"data": {"music": {"transpose": "up"}}}, "data.music.transpose"),
        ({"data": {"music": {"lowest_pitch": 100, "pitches": 40}}}, "data.music.pitches"),
        ({"data": {"music": {"pitches": 50}}}, "multiples of 4"),
        ({"data": {"dataset": "fashion_mnist"}}, "musegan needs piano rolls"),
        ({"model": {"sampling": "argmax"}}, "model.sampling"),
        ({"train": {"batch_size": 12}}, None),
    ],
)
def test_music_config_is_checked(bad, match):
    base = {"data": {"dataset": "music"}, "train": {"batch_size": 10}, "model": {"family": "musegan"}}
    data = config.merge(base, bad)
    if match is None:  # the batch is checked when the model is built (it needs the worker count)
        from genlab.models import build
        from genlab.models.base import DataSpec

        with pytest.raises(ConfigError, match="critic_steps"):
            exp = config.experiment_from_dict(data)
            build(exp, DataSpec(shape=(4, 16, 56, 4), tracks=TRACKS, lowest_pitch=29))
        return
    with pytest.raises(ConfigError, match=match):
        config.experiment_from_dict(data)


# --- metrics on hand-built rolls ------------------------------------------------------------------


def phrase(notes, bars=1, pitches=48, tracks=4):
    roll = midi.notes_to_roll(notes, bars * 16, 40, pitches, tracks)
    return roll.reshape(1, bars, 16, pitches, tracks)


def test_empty_bar_rate_per_track():
    roll = phrase([Note(0, 60, 0, 4), Note(1, 60, 16, 20), Note(1, 62, 32, 48)], bars=4)
    np.testing.assert_allclose(mm.empty_bar_rate(roll), [0.75, 0.5, 1.0, 1.0])


def test_used_pitch_classes_counts_octaves_once_and_skips_empty_bars():
    roll = phrase(
        [Note(0, 60, 0, 4), Note(0, 64, 4, 8), Note(0, 67, 8, 12), Note(0, 72, 12, 16), Note(1, 62, 16, 32)],
        bars=2,
    )
    upc = mm.used_pitch_classes(roll, 40)
    assert upc[0] == 3.0 and upc[1] == 1.0 and np.isnan(upc[2])


def test_qualified_note_rate_counts_notes_of_two_steps_or_more():
    roll = phrase([Note(0, 60, 0, 1), Note(0, 62, 1, 3), Note(0, 64, 3, 7), Note(1, 50, 0, 1)])
    assert mm.qualified_note_rate(roll) == pytest.approx(2 / 4)


def test_tonal_distance_of_unison_and_of_a_fifth():
    same = phrase([Note(0, 60, 0, 16), Note(1, 48, 0, 16)])  # C and C an octave down
    assert mm.tonal_distance(same, 40) == pytest.approx(0.0, abs=1e-6)
    fifth = phrase([Note(0, 67, 0, 16), Note(1, 60, 0, 16)])  # G over C
    # Harte et al.: fifths circle 2 sin(pi/12), minor thirds sqrt(2), major thirds 0.5 sqrt(3).
    expected = np.sqrt((2 * np.sin(np.pi / 12)) ** 2 + 2 + 0.75)
    assert mm.tonal_distance(fifth, 40) == pytest.approx(expected, rel=1e-5)


def test_polyphony_counts_distinct_pitches_over_sounding_steps():
    roll = phrase([Note(0, 60, 0, 2), Note(1, 64, 0, 2), Note(2, 67, 0, 2), Note(3, 60, 0, 4)])
    assert mm.polyphony(roll) == pytest.approx((3 * 2 + 1 * 2) / 4)  # the doubled C counts once


def test_pitch_class_distance():
    c, g = phrase([Note(0, 60, 0, 16)]), phrase([Note(0, 55, 0, 16)])
    half = phrase([Note(0, 60, 0, 8), Note(0, 67, 8, 16)])
    assert mm.pitch_class_distance(c, c, 40) == 0.0
    assert mm.pitch_class_distance(c, g, 40) == pytest.approx(1.0)
    assert mm.pitch_class_distance(half, c, 40) == pytest.approx(0.5)


def test_music_metrics_put_held_out_statistics_beside_the_samples():
    real = phrase([Note(k, 60 + 4 * k, 0, 16) for k in range(4)])
    m = mm.music_metrics(real, real, real, 40, TRACKS)
    for key in ("empty_bar_rate", "used_pitch_classes", "qualified_note_rate", "tonal_distance", "polyphony"):
        assert m[key] == m[f"{key}_floor"]
    assert m["pitch_class_distance"] == m["pitch_class_distance_floor"] == 0.0
    assert m["used_pitch_classes_bass"] == 1.0 and m["polyphony"] == 4.0


# --- the generator ---------------------------------------------------------------------------------


def tiny_musegan():
    from genlab.models.base import DataSpec
    from genlab.models.musegan import MuseGAN, MuseGANConfig

    spec = DataSpec(shape=(2, 8, 12, 3), tracks=("a", "b", "c"), lowest_pitch=60)
    return MuseGAN(MuseGANConfig(z_dim=4, width=4, critic_steps=2), spec, config.TrainConfig(batch_size=4))


def test_generator_shape_per_track_and_bar_and_binarised_samples():
    model = tiny_musegan()
    assert model.latent_dim() == (2 + 2 * 3) * 4
    probs = model.probabilities(5, seed=0)
    assert probs.shape == (5, 2, 8, 12, 3) and probs.min() >= 0 and probs.max() <= 1
    samples = model.sample(5, seed=0)
    assert samples.dtype == bool
    np.testing.assert_array_equal(samples, probs > 0.5)
    assert model.networks["critic"](samples.astype("float32")).shape == (5, 1)


def test_melody_and_groove_noise_reach_only_their_track_chords_reach_all():
    model = tiny_musegan()
    z = np.random.default_rng(0).standard_normal((1, model.latent_dim())).astype("float32")
    base = model.decode(z)[0]
    d = 4

    def changed(lo, hi):
        z2 = z.copy()
        z2[0, lo:hi] += 3.0
        diff = np.abs(model.decode(z2)[0] - base).max(axis=(0, 1, 2))  # per track
        return diff > 1e-6

    assert changed(0, d).tolist() == [True, True, True]  # chords: shared by every track
    assert changed(d, 2 * d).tolist() == [True, True, True]  # style
    assert changed(3 * d, 4 * d).tolist() == [False, True, False]  # melody of track 1
    assert changed(7 * d, 8 * d).tolist() == [False, False, True]  # groove of track 2


def test_the_serving_export_gives_the_generators_note_probabilities(tmp_path):
    import tensorflow as tf

    from genlab import export

    model = tiny_musegan()
    written = export.save_portable(model, str(tmp_path))
    assert "generator.keras" in written and "serving/1" in written
    serve = tf.saved_model.load(str(tmp_path / "serving" / "1")).signatures["serving_default"]
    z = np.random.default_rng(3).standard_normal((2, model.latent_dim())).astype("float32")
    out = serve(z=tf.constant(z))["note_probabilities"].numpy()
    np.testing.assert_allclose(out, model.decode(z), atol=1e-5)
