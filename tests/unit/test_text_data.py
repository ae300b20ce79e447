"""Text corpora -> token windows: reading, checking, splitting and the input pipeline."""

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from genlab import config, data
from genlab.data import text
from genlab.data.records import verify
from genlab.errors import ConfigError, DataError

CORPUS = "".join(f'Fortune {i}: a <bold> & "quoted" line, día {i % 7}.\n%\n' for i in range(60))


def text_exp(source, family="char_lstm", seq_len=16, **data_cfg):
    return config.experiment_from_dict(
        {
            "name": "t",
            "model": {"family": family, "seq_len": seq_len},
            "data": {"dataset": "text", "source": str(source), "shards": 2, **data_cfg},
        }
    )


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def test_prepare_splits_by_position_and_round_trips(corpus_file, tmp_path):
    out = str(tmp_path / "prepared")
    manifest = data.prepare(text_exp(corpus_file), out)
    verify(out)
    assert manifest.dataset == "text" and manifest.shape == (17,)
    assert manifest.extra["kind"] == "text" and manifest.extra["seq_len"] == 16
    assert manifest.extra["vocab"] == sorted(set(CORPUS))
    n_val = int(len(CORPUS) * text.VALIDATION_FRACTION)
    assert manifest.extra["characters"] == {"train": len(CORPUS) - n_val, "validation": n_val}
    vocab = manifest.extra["vocab"]
    for split, part in (
        ("train", CORPUS[: len(CORPUS) - n_val]),
        ("validation", CORPUS[len(CORPUS) - n_val :]),
    ):
        w = text.load_tokens(out, split)
        assert w.dtype == np.int32 and w.shape == ((len(part) - 1) // 16, 17)
        assert manifest.count(split) == len(w)
        # consecutive windows overlap by one id (the last target is the next input), in corpus order
        np.testing.assert_array_equal(w[1:, 0], w[:-1, -1])
        joined = text.decode(w[0], vocab) + "".join(text.decode(row[1:], vocab) for row in w[1:])
        assert part.startswith(joined) and len(joined) > len(part) - 17


def test_spec_carries_vocab_and_checks_seq_len(corpus_file, tmp_path):
    out = str(tmp_path / "p")
    manifest = data.prepare(text_exp(corpus_file), out)
    spec = data.data_spec(manifest, text_exp(corpus_file))
    assert spec.vocab == tuple(sorted(set(CORPUS))) and spec.shape == (17,)
    with pytest.raises(ConfigError, match="model.seq_len: 32.*seq_len=16"):
        data.data_spec(manifest, text_exp(corpus_file, seq_len=32))
    image_exp = config.experiment_from_dict({"name": "t", "model": {"family": "dcgan"}})
    with pytest.raises(ConfigError, match="dcgan cannot train on a text dataset"):
        data.data_spec(manifest, image_exp)


def test_image_model_cannot_prepare_text(corpus_file, tmp_path):
    exp = config.experiment_from_dict(
        {"name": "t", "model": {"family": "vae"}, "data": {"dataset": "text", "source": str(corpus_file)}}
    )
    with pytest.raises(ConfigError, match="data.dataset: text needs a text model"):
        data.prepare(exp, str(tmp_path / "p"))


def test_train_input_yields_int_token_batches(corpus_file, tmp_path):
    out = str(tmp_path / "p")
    manifest = data.prepare(text_exp(corpus_file), out)
    batch = next(iter(data.train_input(out, manifest, global_batch=8, seed=0)))
    assert set(batch) == {"tokens"}
    assert batch["tokens"].dtype.name == "int32" and tuple(batch["tokens"].shape) == (8, 17)
    assert int(batch["tokens"].numpy().max()) < len(manifest.extra["vocab"])


def test_limits_cap_windows(corpus_file, tmp_path):
    manifest = data.prepare(text_exp(corpus_file, max_train=5, max_test=2), str(tmp_path / "p"))
    assert manifest.count("train") == 5 and manifest.count("validation") == 2


def test_folder_of_txt_files_in_name_order(tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "b.txt").write_text("second book " * 40)
    (folder / "a.txt").write_text("first book " * 40)
    (folder / "notes.md").write_text("not read")
    corpus, where = text.read_corpus(str(folder))
    assert where == str(folder)
    assert corpus == "first book " * 40 + "\n" + "second book " * 40


def test_fortune_style_folder_skips_indexes_and_links(tmp_path):
    folder = tmp_path / "fortunes"
    folder.mkdir()
    (folder / "cookie").write_text("A fortune.\n%\nAnother one.\n")
    (folder / "cookie.dat").write_bytes(b"\x00\x02\xff\xfe binary index")
    (folder / "cookie.u8").symlink_to(folder / "cookie")
    corpus, _ = text.read_corpus(str(folder))
    assert corpus == "A fortune.\n%\nAnother one.\n"


def test_crlf_is_normalised(tmp_path):
    path = tmp_path / "dos.txt"
    path.write_bytes(b"line one\r\nline two\r\n")
    assert text.read_corpus(str(path))[0] == "line one\nline two\n"


@pytest.mark.parametrize("content", [b"", b"  \n\n\t "])
def test_empty_file_is_a_data_error_naming_it(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"{path}: empty file"):
        data.prepare(text_exp(path), str(tmp_path / "p"))
    assert not (tmp_path / "p").exists()


def test_non_utf8_file_is_a_data_error_naming_it(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème brûlée\n".encode("latin-1") * 50)
    with pytest.raises(DataError, match=f"{path}: not UTF-8 text \\(byte 3"):
        data.prepare(text_exp(path), str(tmp_path / "p"))


def test_non_utf8_file_inside_a_folder_is_named(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("fine text " * 50)
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="bad.txt: not UTF-8 text"):
        text.read_corpus(str(folder))


def test_missing_path_is_a_data_error_naming_it(tmp_path):
    path = tmp_path / "nowhere.txt"
    with pytest.raises(DataError, match=f"data.source: {path} not found"):
        data.prepare(text_exp(path), str(tmp_path / "p"))


def test_folder_without_text_files(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "cat.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match=f"folder {folder} holds no .txt files"):
        text.read_corpus(str(folder))


def test_too_short_for_seq_len(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("only a few characters here\n" * 4)
    with pytest.raises(DataError, match=f"{path}: 108 characters is too short for model.seq_len=16"):
        data.prepare(text_exp(path), str(tmp_path / "p"))


def test_missing_default_corpus_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "DEFAULT_CORPUS", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="install Debian's 'fortunes' package"):
        text.read_corpus("")


def test_default_corpus_is_the_fortunes_package():
    if not Path(text.DEFAULT_CORPUS, "computers").is_file():
        pytest.fail(
            f"{text.DEFAULT_CORPUS} missing: `make test` (make text-corpus) installs Debian's fortunes"
        )
    corpus, where = text.read_corpus("")
    assert where == text.DEFAULT_CORPUS and len(corpus) > 2_000_000
    assert "%\n" in corpus  # fortune separators are kept: the model learns where a fortune ends


def test_https_source_is_downloaded_once_to_the_cache(corpus_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("genlab.data.sources._sleep", lambda s: None)  # the retries' backoff

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(corpus_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/corpus.txt"
    try:
        corpus, where = text.read_corpus(url)
        assert corpus == CORPUS and where == url
        cached = list((tmp_path / "cache" / "text").iterdir())
        assert len(cached) == 1 and cached[0].name.endswith("-corpus.txt")
    finally:
        server.shutdown()
        server.server_close()  # refuse connections (an open socket nobody serves waits out the timeout)
    assert text.read_corpus(url)[0] == CORPUS  # served from the cache now the server is gone
    with pytest.raises(DataError, match="download failed"):
        text.read_corpus(url.replace("corpus.txt", "other.txt"))
