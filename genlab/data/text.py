"""Text corpora for character-level language models (Chollet, *Deep Learning with Python*, ch. 12).

``data.source`` is a UTF-8 text file, a folder of them, an ``https://`` URL or a ``gs://`` object;
"" means the default corpus, the fortune cookies of Debian's ``fortunes`` package
(``/usr/share/games/fortunes``, installed by ``make text-corpus``). In a folder, ``*.txt`` files are
read, or, when there are none, every file without a suffix (fortune databases), in name order;
symlinks and the ``.dat`` indexes beside fortune files are skipped.

Every file must be non-empty, strict UTF-8. The vocabulary is the sorted set of characters; the
last ``VALIDATION_FRACTION`` of the text (by position) is the validation split. Each split is cut
into non-overlapping windows of ``model.seq_len + 1`` token ids (inputs and next-character
targets), written as TFRecords with the manifest's ``extra = {"kind": "text", "vocab", "seq_len"}``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from genlab.data.records import DatasetManifest, is_text, load_manifest, split_dataset, write_dataset
from genlab.errors import ConfigError, DataError

DEFAULT_CORPUS = "/usr/share/games/fortunes"  # Debian: fortunes (+ fortunes-min)
DEFAULT_PACKAGE = "fortunes"
VALIDATION_FRACTION = 0.1
SOURCE_HINT = "expected a UTF-8 text file, a folder of .txt files, an https:// URL or a gs:// object"


def read_file(path: Path) -> str:
    """One corpus file as text; an empty or non-UTF-8 file is a DataError naming it."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); convert it first, "
            f"e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise DataError(f"{path}: empty file (no text to train on)")
    return text


def corpus_files(folder: Path) -> list[Path]:
    """The files of a folder corpus, in name order (see the module docstring)."""
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
    )
    txt = [p for p in files if p.suffix == ".txt"]
    return txt or [p for p in files if not p.suffix]


def _fetch(uri: str) -> Path:
    """Download an https:// or gs:// corpus into the cache once (keyed by the URI)."""
    from genlab.data.sources import _download_gcs, _download_https, cache_dir

    name = uri.rstrip("/").rsplit("/", 1)[-1] or "corpus"
    dest = cache_dir() / "text" / f"{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{name}"
    if not dest.is_file():
        if uri.startswith("gs://"):
            _download_gcs(uri, dest, None)
        else:
            _download_https(uri, dest, None)
    return dest


def read_corpus(source: str) -> tuple[str, str]:
    """(text, where it came from) for ``data.source``."""
    if not source:
        folder = Path(DEFAULT_CORPUS)
        if not folder.is_dir() or not corpus_files(folder):
            raise DataError(
                f"{folder}: default text corpus not found; install Debian's '{DEFAULT_PACKAGE}' package "
                f"(`make text-corpus` or `apt-get install {DEFAULT_PACKAGE}`) or set data.source ({SOURCE_HINT})"
            )
        source = str(folder)
    if source.startswith(("https://", "http://", "gs://")):
        return read_file(_fetch(source)), source
    path = Path(source)
    if path.is_file():
        return read_file(path), str(path)
    if path.is_dir():
        files = corpus_files(path)
        if not files:
            raise DataError(f"data.source: folder {path} holds no .txt files (nor suffix-less text files)")
        return "\n".join(read_file(f) for f in files), str(path)
    raise DataError(f"data.source: {path} not found ({SOURCE_HINT})")


def build_vocab(text: str) -> list[str]:
    return sorted(set(text))


def encode(text: str, vocab: list[str] | tuple[str, ...]) -> np.ndarray:
    index = {c: i for i, c in enumerate(vocab)}
    try:
        return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))
    except KeyError as e:
        raise DataError(f"character {e.args[0]!r} is not in the vocabulary") from None


def decode(ids, vocab: list[str] | tuple[str, ...]) -> str:
    return "".join(vocab[int(i)] for i in ids)


def windows(ids: np.ndarray, seq_len: int, limit: int = 0) -> np.ndarray:
    """Non-overlapping windows of seq_len + 1 ids: (n, seq_len + 1); each id after the first is a
    target exactly once."""
    n = (len(ids) - 1) // seq_len
    if limit:
        n = min(n, limit)
    starts = np.arange(n) * seq_len
    return ids[starts[:, None] + np.arange(seq_len + 1)[None, :]].astype("<i4")


def prepare_text(exp, out_uri: str) -> DatasetManifest:
    """Read and check the corpus, split it by position, write windows of token ids."""
    cfg = exp.data
    seq_len = getattr(exp.model, "seq_len", None)
    if seq_len is None:
        raise ConfigError(
            f"data.dataset: text needs a text model (model.family char_lstm or transformer), "
            f"got model.family {exp.model.family!r}"
        )
    text, where = read_corpus(cfg.source)
    n_val = int(len(text) * VALIDATION_FRACTION)
    need = (seq_len + 1) / VALIDATION_FRACTION
    if n_val < seq_len + 1:
        raise DataError(
            f"{where}: {len(text)} characters is too short for model.seq_len={seq_len}: "
            f"the validation split (the last {VALIDATION_FRACTION:.0%}) needs at least one window "
            f"of {seq_len + 1} characters, so at least {int(need)} characters in all"
        )
    vocab = build_vocab(text)
    ids = encode(text, vocab)
    train_ids, val_ids = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    splits = {}
    for split, part, limit in (("train", train_ids, cfg.max_train), ("validation", val_ids, cfg.max_test)):
        w = windows(part, seq_len, limit)
        splits[split] = iter([(w, np.zeros(len(w), np.int64))])
    return write_dataset(
        out_uri,
        dataset="text",
        source=where,
        shape=(seq_len + 1,),
        class_names=(),
        splits=splits,
        shards=cfg.shards,
        extra={
            "kind": "text",
            "vocab": vocab,
            "seq_len": seq_len,
            "characters": {"train": len(train_ids), "validation": len(val_ids)},
        },
    )


def text_spec(manifest: DatasetManifest, exp):
    """The DataSpec of a text dataset; model.seq_len must match the prepared windows."""
    from genlab.models.base import DataSpec

    seq_len = manifest.extra["seq_len"]
    model_len = getattr(exp.model, "seq_len", None)
    if model_len is None:
        raise ConfigError(
            f"model.family: {exp.model.family} cannot train on a text dataset "
            f"(text models: char_lstm, transformer)"
        )
    if model_len != seq_len:
        raise ConfigError(
            f"model.seq_len: {model_len}, but the dataset was prepared with windows of "
            f"seq_len={seq_len}; prepare the data again with this config"
        )
    return DataSpec(shape=tuple(manifest.shape), vocab=tuple(manifest.extra["vocab"]))


def load_tokens(uri: str, split: str, limit: int = 0, manifest: DatasetManifest | None = None) -> np.ndarray:
    """Token windows of a split, int32 (n, seq_len + 1), in corpus order; the first ``limit`` (0 = all)."""
    manifest = manifest or load_manifest(uri)
    if not is_text(manifest):
        raise DataError(f"{uri}: not a text dataset (dataset {manifest.dataset!r})")
    ds = split_dataset(uri, manifest, split)
    if limit:
        ds = ds.take(limit)
    parts = [batch["tokens"].numpy() for batch in ds.batch(4096)]
    if not parts:
        raise DataError(f"{uri}: split '{split}' is empty")
    return np.concatenate(parts)
