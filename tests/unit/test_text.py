"""Character LSTM and Transformer decoder: sampling, causality, training, metrics, report."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config, data, models
from genlab.data.text import load_tokens
from genlab.errors import ConfigError
from genlab.models.base import DataSpec, StepContext
from genlab.models.text import sample_next, temperature_probs, top_k_filter

VOCAB = tuple("\n %<>&abcdefghijklmnopqrstuvwxyz")
TINY = {
    "char_lstm": {"family": "char_lstm", "seq_len": 12, "embed_dim": 8, "units": 16},
    "transformer": {"family": "transformer", "seq_len": 12, "embed_dim": 16, "num_heads": 2, "ff_dim": 32},
}


def tiny_exp(family, **model):
    return config.experiment_from_dict(
        {
            "name": "t",
            "model": {**TINY[family], **model},
            "data": {"dataset": "text"},
            "train": {"learning_rate": 0.01},
        }
    )


def tiny_model(family, seed=0, **model):
    keras.utils.set_random_seed(seed)
    exp = tiny_exp(family, **model)
    return models.build(exp, DataSpec(shape=(exp.model.seq_len + 1,), vocab=VOCAB))


# --- sampling -------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.2, 0.5, 1.0, 1.2])
def test_temperature_is_the_books_reweighting(t):
    logits = np.random.default_rng(0).normal(size=(4, 30)) * 3
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    reweighted = p ** (1 / t) / (p ** (1 / t)).sum(-1, keepdims=True)  # Chollet's reweight_distribution
    np.testing.assert_allclose(temperature_probs(logits, t), reweighted, rtol=1e-9)


@pytest.mark.parametrize("t", [0.0, 1e-6])
def test_temperature_to_zero_is_argmax(t):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 40))
    picks = sample_next(logits, [t] * 200, [0] * 200, rng)
    np.testing.assert_array_equal(picks, logits.argmax(-1))


def test_high_temperature_spreads_the_samples():
    rng = np.random.default_rng(2)
    logits = np.tile(np.linspace(0, 2, 10), (3000, 1))
    picks = sample_next(logits, [1.2] * 3000, [0] * 3000, rng)
    assert len(set(picks.tolist())) == 10  # every token reachable at T > 0
    assert np.bincount(picks).argmax() == 9


def test_top_k_never_leaves_the_top_k():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2000, 50))
    logits[:, :5] = logits[:, 5:6]  # ties at several values: still exactly k candidates
    for k in (1, 3, 10):
        picks = sample_next(logits, [1.2] * 2000, [k] * 2000, rng)
        ranks = (logits > logits[np.arange(2000), picks][:, None]).sum(-1)  # strictly larger logits
        assert ranks.max() < k
        kept = np.isfinite(top_k_filter(logits, k)).sum(-1)
        np.testing.assert_array_equal(kept, k)
    assert len(set(sample_next(logits[:1].repeat(500, 0), [1.0] * 500, [3] * 500, rng).tolist())) == 3


@pytest.mark.parametrize("family", ["char_lstm", "transformer"])
def test_generate_at_zero_temperature_is_greedy_decoding(family):
    model = tiny_model(family)
    prompt = model.encode_text("a <b> & c\n")
    ids = model.generate_ids(prompt, 20, [0.0, 1e-6], seed=0)
    # reference: argmax of the network's last logits on the growing, unpadded context
    context = list(prompt)
    for _ in range(20):
        last = model.networks["lm"](np.array([context[-model.seq_len :]], np.int32), training=False)[0, -1]
        context.append(int(np.argmax(last)))
    np.testing.assert_array_equal(ids[0], context[len(prompt) :])
    np.testing.assert_array_equal(ids[1], ids[0])


@pytest.mark.parametrize("family", ["char_lstm", "transformer"])
def test_generate_with_top_k_stays_in_the_models_top_k(family):
    model = tiny_model(family)
    prompt = model.encode_text("hello")
    ids = model.generate_ids(prompt, 30, [2.0, 2.0], top_ks=[2, 2], seed=4)
    for row in ids:
        context = list(prompt)
        for token in row:
            window = np.array([context[-model.seq_len :]], np.int32)
            last = model.networks["lm"](window, training=False)[0, -1]
            assert token in np.argsort(last)[-2:]
            context.append(int(token))


# --- networks -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["char_lstm", "transformer"])
def test_causal_changing_a_later_token_leaves_earlier_outputs(family):
    model = tiny_model(family)
    rng = np.random.default_rng(5)
    x = rng.integers(0, len(VOCAB), (3, model.seq_len)).astype(np.int32)
    before = model.logits(x)
    assert before.shape == (3, model.seq_len, len(VOCAB))
    j = 7
    y = x.copy()
    y[:, j:] = (y[:, j:] + 1 + rng.integers(0, len(VOCAB) - 1, y[:, j:].shape)) % len(VOCAB)
    after = model.logits(y)
    np.testing.assert_allclose(after[:, :j], before[:, :j], atol=1e-5)
    assert np.abs(after[:, j:] - before[:, j:]).max() > 1e-3  # the change is seen from position j on


def test_transformer_attention_mask_hides_the_future():
    model = tiny_model("transformer", layers=1)
    net = model.networks["lm"]
    attention = net.get_layer("block0_attention")
    probe = keras.Model(net.input, attention.output)
    x = np.random.default_rng(6).integers(0, len(VOCAB), (2, model.seq_len)).astype(np.int32)
    y = x.copy()
    y[:, -1] = (y[:, -1] + 1) % len(VOCAB)
    a, b = probe(x), probe(y)
    np.testing.assert_allclose(np.asarray(a)[:, :-1], np.asarray(b)[:, :-1], atol=1e-6)


def test_parameter_counts():
    lstm = tiny_model("char_lstm").networks["lm"]
    v, e, u = len(VOCAB), 8, 16
    assert lstm.count_params() == v * e + 4 * (e * u + u * u + u) + u * v + v
    tr = tiny_model("transformer").networks["lm"]
    e, f, s = 16, 32, 12
    block = 4 * (e * e + e) + 2 * 2 * e + (e * f + f) + (f * e + e)
    assert tr.count_params() == v * e + s * e + 2 * block + 2 * e + e * v + v


def test_config_checks():
    with pytest.raises(ConfigError, match="model.embed_dim: 10 must be a multiple of model.num_heads"):
        tiny_exp("transformer", embed_dim=10, num_heads=4)
    with pytest.raises(ConfigError, match="model.seq_len: expected an integer >= 2"):
        tiny_exp("char_lstm", seq_len=1)
    with pytest.raises(ConfigError, match="unknown key 'model.num_heads'"):
        tiny_exp("char_lstm", num_heads=2)
    exp = tiny_exp("char_lstm")
    with pytest.raises(ConfigError, match="char_lstm is a text model and needs data.dataset: text"):
        models.build(exp, DataSpec(shape=(28, 28, 1), num_classes=10))


# --- training, metrics, report ---------------------------------------------------------------


CORPUS = "".join(f"the cat sat on the mat <{'abcde'[i % 5]}> & the dog ran.\n%\n" for i in range(80))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    (root / "corpus.txt").write_text(CORPUS)
    out = {}
    for family in TINY:
        exp = config.experiment_from_dict(
            {
                "name": "t",
                "model": TINY[family],
                "data": {"dataset": "text", "source": str(root / "corpus.txt")},
                "train": {"learning_rate": 0.01},
            }
        )
        uri = str(root / family)
        out[family] = (exp, uri, data.prepare(exp, uri))
    return out


@pytest.mark.parametrize("family", ["char_lstm", "transformer"])
def test_perplexity_finite_and_falling(prepared, family):
    exp, uri, manifest = prepared[family]
    keras.utils.set_random_seed(0)
    model = models.build(exp, data.data_spec(manifest, exp))
    model.build_optimizers()
    val = load_tokens(uri, "validation", manifest=manifest)
    before = model.likelihood_metrics(val, exp.evaluate)
    assert set(before) == {"val_loss", "bits_per_char", "perplexity"}
    assert before["perplexity"] == pytest.approx(math.exp(before["val_loss"]))
    assert before["bits_per_char"] == pytest.approx(before["val_loss"] / math.log(2))
    batches = iter(data.train_input(uri, manifest, global_batch=16, seed=0))
    step = tf.Variable(0, dtype=tf.int64)
    train_step = tf.function(lambda b: model.train_step(b, StepContext(16, step, 0)))
    losses = [float(train_step(next(batches))["loss"]) for _ in range(30)]
    after = model.likelihood_metrics(val, exp.evaluate)
    assert all(math.isfinite(v) for v in (*before.values(), *after.values(), *losses))
    assert before["perplexity"] > len(manifest.extra["vocab"]) / 3  # untrained: near uniform
    assert after["perplexity"] < 0.6 * before["perplexity"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_report_sections_show_each_temperature_escaped(prepared, tmp_path):
    exp, uri, manifest = prepared["transformer"]
    exp = exp.replace(
        model=exp.model.__class__(**{**TINY["transformer"], "sample_chars": 30, "prompt_chars": 8})
    )
    keras.utils.set_random_seed(0)
    model = models.build(exp, data.data_spec(manifest, exp))
    sections = model.report_sections(str(tmp_path), exp, uri)
    titles = [t for t, _ in sections]
    assert titles == ["Samples by temperature", "Top-10 samples"]
    body = sections[0][1]
    for t in exp.generate.temperatures:
        assert f"<h3>temperature {t:g}</h3>" in body
    assert body.count("<pre") == len(exp.generate.temperatures)
    text_only = body
    tags = ("<h3>", "</h3>", "<pre style='white-space:pre-wrap'>", "</pre>", "<b>", "</b>", "<p>", "</p>")
    for tag in tags:
        text_only = text_only.replace(tag, "")
    assert "<" not in text_only and ">" not in text_only  # the corpus' < > & are escaped
    assert "<b>" in body and sections[1][1].count("<pre") == 2
    saved = (tmp_path / "samples.txt").read_text()
    assert saved.count("== ") == len(exp.generate.temperatures) + 2


def test_sample_returns_strings_over_the_vocabulary():
    model = tiny_model("char_lstm", sample_chars=25)
    out = model.sample(3, seed=7)
    assert out.shape == (3,) and all(isinstance(s, str) and len(s) == 25 for s in out)
    assert set("".join(out)) <= set(VOCAB)
    np.testing.assert_array_equal(out, model.sample(3, seed=7))  # seeded
