"""Bad input through the ``genlab`` command: one clear line, exit code 2, no traceback, no output.

Each case runs the real CLI entry point (``genlab.cli.main``) in this process, or in a child
process where the fault needs one (a file-descriptor limit). The library-level checks of the same
errors live in tests/unit (IDX, config, text corpus) and tests/k8s, tests/launch (cluster errors).
"""

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab import data
from genlab.cli import main
from tests.conftest import make_idx_folder

ROOT = Path(__file__).resolve().parents[2]
NO_BUCKET = "gs://genlab-reliability-no-such-bucket-7f3a"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


TF_STARTUP = (
    "WARNING: All log messages before absl",
    "I0000 ",
    "W0000 ",
)  # TensorFlow's C++ start-up chatter


def assert_one_clear_line(code: int, err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(TF_STARTUP)]
    assert code == 2, err
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("genlab: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def prepare(capsys, out: Path, *sets: str, preset: str = "dcgan_tiny") -> str:
    args = ["prepare", preset, "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    code, err = run_cli(capsys, *args)
    assert not out.exists(), "a failed preparation left output behind"
    return code, err


# --- IDX files ---------------------------------------------------------------------------------


@pytest.fixture
def raw(tmp_path) -> Path:
    return make_idx_folder(tmp_path / "raw", n_train=64, n_test=32)


def test_truncated_gzip(raw, tmp_path, capsys):
    f = raw / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    code, err = prepare(capsys, tmp_path / "out", f"data.source={raw}")
    assert_one_clear_line(code, err, str(f), "corrupt file")


def test_corrupt_gzip_data(raw, tmp_path, capsys):
    f = raw / "train-images-idx3-ubyte.gz"
    blob = bytearray(f.read_bytes())
    for i in range(len(blob) // 2, len(blob) // 2 + 64):  # damage the compressed stream
        blob[i] ^= 0xFF
    f.write_bytes(bytes(blob))
    code, err = prepare(capsys, tmp_path / "out", f"data.source={raw}")
    assert_one_clear_line(code, err, str(f))


def test_truncated_idx_records(raw, tmp_path, capsys):
    f = raw / "t10k-images-idx3-ubyte.gz"
    body = gzip.decompress(f.read_bytes())
    f.write_bytes(gzip.compress(body[: 16 + 28 * 28 * 10 + 5]))  # header says 32 images, 10 and a bit there
    code, err = prepare(capsys, tmp_path / "out", f"data.source={raw}")
    assert_one_clear_line(code, err, str(f), "header says 32 records, file holds 10")


def test_wrong_magic_number(raw, tmp_path, capsys):
    f = raw / "train-labels-idx1-ubyte.gz"
    body = bytearray(gzip.decompress(f.read_bytes()))
    body[2] = 0x0D  # float data instead of unsigned bytes
    f.write_bytes(gzip.compress(bytes(body)))
    code, err = prepare(capsys, tmp_path / "out", f"data.source={raw}")
    assert_one_clear_line(code, err, str(f), "wrong magic number 0x00000d01", "expected 0x00000801")


def test_label_image_count_mismatch(tmp_path, capsys):
    raw = make_idx_folder(tmp_path / "raw", n_train=64, n_test=32)
    other = make_idx_folder(tmp_path / "other", n_train=50, n_test=32)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes((other / "train-labels-idx1-ubyte.gz").read_bytes())
    code, err = prepare(capsys, tmp_path / "out", f"data.source={raw}")
    assert_one_clear_line(code, err, "64 images but train-labels-idx1-ubyte.gz has 50 labels")


# --- text corpora ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, needle", [(b"", "empty file"), (b" \n\t\n", "empty file"), (b"caf\xe9 au lait\n", "not UTF-8")]
)
def test_empty_or_non_utf8_text_corpus(tmp_path, capsys, content, needle):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    code, err = prepare(capsys, tmp_path / "out", f"data.source={corpus}", preset="char_lstm_fortunes")
    assert_one_clear_line(code, err, str(corpus), needle)


# --- image folders -----------------------------------------------------------------------------


def image_folder(root: Path, sizes: dict[str, list[tuple[int, int]]], mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    for cls, shapes in sizes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(shapes):
            pixels = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / cls / f"{i:03d}.png")
    return root


def test_image_folder_prepares_with_labels_from_subfolders(tmp_path):
    from genlab import config

    src = image_folder(tmp_path / "imgs", {"cat": [(12, 12)] * 20, "dog": [(12, 12)] * 10})
    exp = config.experiment_from_dict(
        {"name": "f", "model": {"family": "dcgan"},
         "data": {"dataset": "images", "source": str(src), "image_size": 8, "shards": 2}})  # fmt: skip
    manifest = data.prepare(exp, str(tmp_path / "out"))
    assert manifest.class_names == ("cat", "dog") and tuple(manifest.shape) == (8, 8, 3)
    assert (
        manifest.count("train") == 27 and manifest.count("test") == 3
    )  # every 10th image of a class held out
    images, labels = data.load_arrays(str(tmp_path / "out"), "train")
    assert images.shape == (27, 8, 8, 3) and sorted(set(labels.tolist())) == [0, 1]
    assert labels[:4].tolist() == [0, 1, 0, 1]  # classes interleaved, so data.max_train keeps every class


def test_image_folder_of_mixed_sizes(tmp_path, capsys):
    src = image_folder(tmp_path / "imgs", {"a": [(16, 16)] * 3, "b": [(16, 16), (20, 16)]})
    code, err = prepare(capsys, tmp_path / "out", "data.dataset=images", f"data.source={src}")
    assert_one_clear_line(code, err, str(src / "b" / "001.png"), "is 20x16 RGB", "are 16x16 RGB",
                          "same size and mode")  # fmt: skip


def test_image_folder_of_mixed_modes_and_a_broken_file(tmp_path, capsys):
    src = image_folder(tmp_path / "imgs", {"a": [(16, 16)] * 2})
    image_folder(src, {"b": [(16, 16)]}, mode="L")
    code, err = prepare(capsys, tmp_path / "out", "data.dataset=images", f"data.source={src}")
    assert_one_clear_line(code, err, str(src / "b" / "000.png"), "16x16 L", "16x16 RGB")

    (src / "b" / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, err = prepare(capsys, tmp_path / "out", "data.dataset=images", f"data.source={src}")
    assert_one_clear_line(code, err, str(src / "b" / "000.png"), "not a readable PNG/JPEG image")


# --- presets and config ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, needles",
    [
        (["prepare", "no_such_preset"], ["unknown preset 'no_such_preset'", "dcgan_tiny"]),
        (["prepare", "dcgan_tiny", "--set", "model.family=nope"], ["unknown family 'nope'", "dcgan"]),
        (["prepare", "dcgan_tiny", "--set", "train.stepz=5"], ["unknown key 'train.stepz'", "steps"]),
        (
            ["prepare", "dcgan_tiny", "--set", "train.steps=ten"],
            ["train.steps: expected an integer", "'ten'"],
        ),
        (["prepare", "dcgan_tiny", "--set", "data.dataset=cifar99"], ["unknown dataset 'cifar99'"]),
        (
            ["prepare", "dcgan_tiny", "--set", "train.batch_size=0"],
            ["train.batch_size: expected an integer >= 1"],
        ),
        (
            ["prepare", "dcgan_tiny", "--set", "data.image_size=-28"],
            ["data.image_size: expected an integer >= 4"],
        ),
        (["prepare", "dcgan_tiny", "--set", "model.latent_dim=0"], ["latent_dim"]),
        (["prepare", "dcgan_tiny", "--set", "train.workers=0"], ["train.workers: expected an integer >= 1"]),
        (
            ["prepare", "dcgan_tiny", "--set", "train.learning_rate=-1"],
            ["train.learning_rate: expected a number > 0"],
        ),
        (["prepare", "dcgan_tiny", "--set", "train.steps"], ["expected key=value"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0] == "prepare" else None,
)
def test_bad_preset_or_config(tmp_path, capsys, args, needles):
    out = tmp_path / "out"
    code, err = run_cli(capsys, *args, "--out", str(out))
    assert_one_clear_line(code, err, *needles)
    assert not out.exists()


# --- resources: ports, storage, cluster --------------------------------------------------------


def test_more_workers_than_free_ports(tmp_path):
    """A file-descriptor limit leaves room for fewer sockets than workers: a clear error, nothing started."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from genlab.cli import main\n"
        f"sys.exit(main(['train', 'dcgan_tiny', '--workers', '100', '--set', 'train.batch_size=100',"
        f" '--data', {str(tmp_path / 'd')!r}, '--model', {str(tmp_path / 'm')!r}]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert_one_clear_line(res.returncode, res.stderr, "train.workers: could not find 100 free loopback ports",
                          "use fewer workers")  # fmt: skip
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_unreachable_gcs_path(tmp_path, capsys):
    code, err = run_cli(capsys, "evaluate", "dcgan_tiny", "--data", f"{NO_BUCKET}/data", "--model",
                        f"{NO_BUCKET}/model")  # fmt: skip
    line = assert_one_clear_line(code, err, f"{NO_BUCKET}/model", "cannot access it")
    assert "Workload Identity or application default credentials" in line


def test_gcs_source_without_credentials(tmp_path, capsys, monkeypatch):
    import google.auth
    from google.auth import exceptions as auth_exc

    def no_credentials(
        *args, **kwargs
    ):  # what google.auth says on a machine with no ADC and no metadata server
        raise auth_exc.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    code, err = prepare(capsys, tmp_path / "out", f"data.source={NO_BUCKET}/fashion")
    assert_one_clear_line(
        code, err, f"{NO_BUCKET}/fashion/train-images-idx3-ubyte.gz", "no Google Cloud credentials"
    )


@pytest.mark.slow
def test_unreachable_kfp_host(tmp_path, capsys):
    code, err = run_cli(capsys, "submit", "dcgan_tiny", "--host", "http://127.0.0.1:9")
    assert_one_clear_line(code, err, "KFP host http://127.0.0.1:9 is unreachable")


def test_missing_kubeconfig_in_the_train_step(tiny_fashion, tmp_path, capsys, monkeypatch):
    """The pipeline's train step with launcher=tfjob outside a cluster and no kubeconfig."""
    from genlab import config, steps

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere" / "config"))
    exp = config.load("dcgan_tiny")
    with pytest.raises(SystemExit) as e:
        steps.train_model(exp.to_json(), str(tiny_fashion), str(tmp_path / "model"), workers=2, gpus_per_worker=0,
                          steps=0, launcher="tfjob")  # fmt: skip
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: kubeconfig ") and "not found" in err[0]
    assert str(tmp_path / "nowhere" / "config") in err[0]
    assert not (tmp_path / "model").exists()


def test_evaluating_an_unfinished_model(tiny_fashion, tmp_path, capsys):
    (tmp_path / "model" / "checkpoints").mkdir(parents=True)  # training started, never wrote model.json
    code, err = run_cli(capsys, "evaluate", "dcgan_tiny", "--data", str(tiny_fashion), "--model",
                        str(tmp_path / "model"))  # fmt: skip
    assert_one_clear_line(code, err, str(tmp_path / "model"), "not a trained model (model.json missing")


def test_preparing_from_a_missing_folder(tmp_path, capsys):
    code, err = prepare(capsys, tmp_path / "out", f"data.source={tmp_path / 'nowhere'}")
    assert_one_clear_line(code, err, f"folder {tmp_path / 'nowhere'} not found")
