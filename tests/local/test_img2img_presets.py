"""pix2pix and CycleGAN end to end: kfp.local runs of both presets (tiny), 1 vs 2 workers with the
history pool, a resumed run, and `genlab translate` on the user's own images."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from genlab import config
from genlab.cli import main
from genlab.launch import TrainJob
from genlab.launch.local import LocalLauncher
from tests.local.test_gan_presets import assert_finite, run_preset

pytestmark = pytest.mark.slow

TINY_PIX2PIX = {
    "model": {"width": 4, "disc_width": 4},
    "data": {"image_size": 16},
    "train": {"batch_size": 8},
}
TINY_CYCLEGAN = {
    "model": {"width": 4, "disc_width": 4, "res_blocks": 1, "pool_size": 6},
    "data": {"image_size": 16},
    "train": {"batch_size": 8},
    "generate": {"rows": 3},
}


def test_pix2pix_preset_runs_end_to_end(tmp_path):
    run = run_preset("pix2pix_edges2fashion", TINY_PIX2PIX, tmp_path)
    assert_finite(run.metrics, {"l1", "ssim", "fid", "fid_floor", "domain_accuracy"})
    assert 0.0 <= run.metrics["l1"] <= 1.0 and -1.0 <= run.metrics["ssim"] <= 1.0
    html = run.report_html.read_text()
    assert "Input | output | target" in html and "edges -&gt; garment" in html
    triplets = Image.open(run.report_html.parent / "triplets.png")
    assert triplets.size[0] < triplets.size[1]  # rows of three: taller than wide


def test_cyclegan_preset_runs_end_to_end(tmp_path):
    run = run_preset("cyclegan_fashion", TINY_CYCLEGAN, tmp_path)
    keys = {
        "fid_ab",
        "fid_ab_floor",
        "fid_ba",
        "fid_ba_floor",
        "cycle_l1_a",
        "cycle_l1_b",
        "ab_as_b",
        "ba_as_a",
    }
    assert_finite(run.metrics, keys)
    html = run.report_html.read_text()
    assert (
        "sneaker -&gt; ankle boot -&gt; sneaker" in html
        and "ankle boot -&gt; sneaker -&gt; ankle boot" in html
    )
    assert (run.report_html.parent / "cycle_ab.png").is_file() and (
        run.report_html.parent / "cycle_ba.png"
    ).is_file()


@pytest.fixture(scope="module")
def sneakers2boots(tmp_path_factory):
    from genlab import data

    exp = config.load(
        "cyclegan_fashion", {"data": {"image_size": 16, "max_train": 128, "max_test": 32, "shards": 2}}
    )
    out = tmp_path_factory.mktemp("s2b") / "data"
    data.prepare(exp, str(out))
    return out


def tiny_cyclegan(workers: int, steps: int = 8):
    return config.load(
        "cyclegan_fashion",
        config.merge(
            TINY_CYCLEGAN,
            {
                "data": {"max_train": 128, "max_test": 32},
                "train": {
                    "steps": steps,
                    "workers": workers,
                    "log_every": 2,
                    "checkpoint_every": 4,
                    "learning_rate": 1e-3,
                },
            },
        ),
    )


def train(exp, data_uri, model_dir):
    out = io.StringIO()
    job = TrainJob(exp.to_json(), str(data_uri), str(model_dir), workers=exp.train.workers)
    LocalLauncher(stream=out).run(job)
    done = [json.loads(m) for m in re.findall(r"\] done: (\{.*\})", out.getvalue())]
    return done, json.loads((model_dir / "history.json").read_text())


def test_cyclegan_two_workers_match_one_worker_with_the_history_pool(sneakers2boots, tmp_path):
    """8 steps with a 6-image pool and a global batch of 8: the pool fills at step 1 and then
    swaps, so the discriminators' losses depend on the pool's draws being the same."""
    done2, hist2 = train(tiny_cyclegan(2), sneakers2boots, tmp_path / "two")
    assert len(done2) == 2 and done2[0]["weights_sha256"] == done2[1]["weights_sha256"]
    done1, hist1 = train(tiny_cyclegan(1), sneakers2boots, tmp_path / "one")
    for key in ("g_loss", "d_loss", "cycle"):
        np.testing.assert_allclose([h[key] for h in hist1], [h[key] for h in hist2], rtol=2e-3, atol=2e-3)


def test_cyclegan_resume_restores_the_pool(sneakers2boots, tmp_path):
    """Stopping at step 4 and resuming to 8 ends where an uninterrupted run of 8 steps ends."""
    _, straight = train(tiny_cyclegan(1, steps=8), sneakers2boots, tmp_path / "straight")
    train(tiny_cyclegan(1, steps=4), sneakers2boots, tmp_path / "resumed")
    _, resumed = train(tiny_cyclegan(1, steps=8), sneakers2boots, tmp_path / "resumed")
    np.testing.assert_allclose(resumed[-1]["d_loss"], straight[-1]["d_loss"], rtol=1e-4)


def test_translate_command_on_the_users_images(sneakers2boots, tmp_path, capsys):
    train(tiny_cyclegan(1, steps=2), sneakers2boots, tmp_path / "model")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((40, 30, 3), 120, np.uint8)).save(photos / "shoe.jpg")  # RGB, any size
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(photos / "boot.png")
    assert (
        main(["translate", str(tmp_path / "model"), "--input", str(photos), "--out", str(tmp_path / "out")])
        == 0
    )
    assert "translated 2 image(s)" in capsys.readouterr().out
    for name in ("shoe.png", "boot.png"):
        with Image.open(tmp_path / "out" / name) as im:
            assert im.size == (16, 16) and im.mode == "L"
    assert (
        main(
            [
                "translate",
                str(tmp_path / "model"),
                "--input",
                str(photos / "boot.png"),
                "--out",
                str(tmp_path / "back"),
                "--reverse",
            ]
        )
        == 0
    )
    assert (tmp_path / "back" / "boot.png").is_file()
    assert (
        main(
            [
                "translate",
                str(tmp_path / "model"),
                "--input",
                str(tmp_path / "nothing"),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "--input: " in capsys.readouterr().err
