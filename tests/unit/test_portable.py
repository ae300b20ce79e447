"""Portable models: genlab.load without the dataset, .keras files, and the SavedModel a server loads."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import genlab
from genlab import config, data
from genlab.errors import ConfigError, DataError
from genlab.train import train

TINY_MODELS = {
    "dcgan": {"family": "dcgan", "latent_dim": 8, "width": 8},
    "cgan": {"family": "cgan", "latent_dim": 8, "width": 8},
    "vae": {"family": "vae", "latent_dim": 4, "width": 8},
}


def trained(family_model: dict, data_uri: str, run_dir, steps: int = 2, dataset: dict | None = None):
    """A model trained for ``steps`` steps, saved where kfp.local puts it: <run>/train-model/model."""
    exp = config.experiment_from_dict(
        {
            "name": "portable",
            "model": family_model,
            "data": dataset or {},
            "train": {"steps": steps, "batch_size": 16, "log_every": 1, "checkpoint_every": steps},
        }
    )
    model_dir = run_dir / "train-model" / "model"
    train(exp, data_uri, str(model_dir))
    return model_dir


def plain_tensorflow(script: str) -> dict:
    """Run ``script`` in a fresh interpreter that imports TensorFlow and numpy only (no genlab,
    no Keras custom objects), as TF Serving or KServe would; it prints one JSON line."""
    code = "import json, sys\nimport numpy as np\nimport tensorflow as tf\n" + textwrap.dedent(script)
    code += "\nassert not any(m == 'genlab' or m.startswith('genlab.') for m in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(TINY_MODELS))
def test_load_a_run_folder_and_serve_the_export(family, tiny_fashion, tmp_path):
    model_dir = trained(TINY_MODELS[family], str(tiny_fashion), tmp_path / "run")

    m = genlab.load(str(tmp_path / "run"))  # the run folder, and no dataset
    assert m.family == family and m.steps == 2 and m.path == str(model_dir)
    images = m.sample(6, seed=3)
    assert images.shape == (6, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    z = m.latents(6, seed=3)
    labels = np.array([0, 1, 2, 3, 4, 5], np.int32)
    if family == "cgan":
        images = m.sample(6, seed=3, labels=labels)
    walk = m.interpolate(z[0], z[1], steps=5, labels=0 if family == "cgan" else None)
    assert walk.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(walk[0], images[0], atol=1e-5)  # the walk starts at sample 0

    # Each sampling network as a .keras file: Keras alone rebuilds it, same outputs.
    generator = keras.saving.load_model(
        model_dir / ("decoder.keras" if family == "vae" else "generator.keras")
    )
    inputs = [z, labels.reshape(-1, 1)] if family == "cgan" else z
    out = np.asarray(generator(inputs, training=False))
    if family == "vae":
        out = 1 / (1 + np.exp(-out))  # the decoder gives logits; sample() shows probabilities
    np.testing.assert_allclose(out, images, atol=1e-5)

    # The SavedModel, loaded the way a model server does it.
    np.save(tmp_path / "z.npy", z)
    feeds = "z=tf.constant(np.load(sys.argv[2]))" + (
        ", label=tf.constant(np.arange(6, dtype=np.int32))" * (family == "cgan")
    )
    served = plain_tensorflow(
        f"""
        serving = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
        image = serving({feeds})["image"].numpy()
        print(json.dumps({{"image": image.tolist(), "inputs": sorted(serving.structured_input_signature[1])}}))
        """.replace("sys.argv[1]", repr(str(model_dir / "serving" / "1"))).replace(
            "sys.argv[2]", repr(str(tmp_path / "z.npy"))
        )
    )
    np.testing.assert_allclose(np.array(served["image"]), images, atol=1e-5)
    assert served["inputs"] == (["label", "z"] if family == "cgan" else ["z"])

    if family == "vae":
        codes = m.encode(images[:2])
        assert codes.shape == (2, 4) and np.isfinite(codes).all()
        assert m.interpolate(images[0], images[1], steps=3).shape == (3, 28, 28, 1)
    else:
        with pytest.raises(ConfigError, match=f"{family} has no encoder"):
            m.encode(images[:2])
    with pytest.raises(ConfigError, match="not a text model"):
        m.generate_text("a")

    if family == "dcgan":  # a bucket: gs:// goes through tf.io.gfile as TF's in-memory ram:// does
        from genlab import export

        export.copy_tree(str(model_dir), "ram://bucket/run/train-model/model")
        remote = genlab.load("ram://bucket/run")
        assert remote.path == "ram://bucket/run/train-model/model"
        np.testing.assert_allclose(remote.sample(6, seed=3), images, atol=1e-6)


@pytest.mark.slow
def test_text_model_export_continues_a_prompt_like_generate_text(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat.\nthe dog ate the hat.\n" * 60)
    model = {"family": "char_lstm", "seq_len": 12, "embed_dim": 8, "units": 16}
    dataset = {"dataset": "text", "source": str(corpus)}
    prep = config.experiment_from_dict({"name": "portable", "model": model, "data": dataset})
    data.prepare(prep, str(tmp_path / "data"))
    model_dir = trained(model, str(tmp_path / "data"), tmp_path / "run", steps=3, dataset=dataset)

    m = genlab.load(str(model_dir))
    greedy = m.generate_text("the ", num_chars=20, temperature=0)
    assert len(greedy) == 20 and set(greedy) <= set(m.model.vocab)
    assert isinstance(m.sample(2, seed=0)[0], str)
    with pytest.raises(DataError, match="'Z' is not in the vocabulary"):
        m.generate_text("Z")
    with pytest.raises(ConfigError, match="char_lstm has no latent space"):
        m.decode(np.zeros((1, 4)))

    served = plain_tensorflow(
        f"""
        serving = tf.saved_model.load({str(model_dir / "serving" / "1")!r}).signatures["serving_default"]
        args = dict(prompt=tf.constant("the "), num_chars=tf.constant(20), seed=tf.constant(7, tf.int64))
        greedy = serving(temperature=tf.constant(0.0), **args)["text"].numpy().decode()
        warm = serving(temperature=tf.constant(1.0), **args)["text"].numpy().decode()
        print(json.dumps({{"greedy": greedy, "warm": warm}}))
        """
    )
    assert served["greedy"] == greedy
    assert len(served["warm"]) == 20 and set(served["warm"]) <= set(m.model.vocab)


def test_find_model_names_what_it_found(tmp_path):
    with pytest.raises(DataError, match="no such model or run folder"):
        genlab.load(str(tmp_path / "nope"))
    (tmp_path / "run" / "train-model" / "model").mkdir(parents=True)
    with pytest.raises(DataError, match="no trained model here"):
        genlab.load(str(tmp_path / "run"))
    for run in ("a", "b"):
        (tmp_path / "runs" / run / "model").mkdir(parents=True)
        (tmp_path / "runs" / run / "model" / "model.json").write_text("{}")
    with pytest.raises(DataError, match="holds 2 trained models; pass one of: .*a/model, .*b/model"):
        genlab.load(str(tmp_path / "runs"))


@pytest.mark.parametrize(
    "model, spec",
    [
        ({"family": "pixelcnn", "filters": 8, "residual_blocks": 1}, {"shape": (8, 8, 1)}),
        ({"family": "pixelcnn", "filters": 8, "residual_blocks": 1}, {"shape": (6, 6, 3)}),
        (
            {"family": "transformer", "seq_len": 12, "embed_dim": 16, "num_heads": 2, "ff_dim": 32},
            {"shape": (13,), "vocab": tuple("\n abc")},
        ),
        (
            {"family": "vae", "latent_dim": 4, "width": 8, "flow_steps": 2},
            {"shape": (28, 28, 1), "binarize": True},
        ),
    ],
    ids=["pixelcnn", "pixelcnn_colour", "transformer", "vae_iaf"],
)
def test_custom_layers_survive_a_keras_file(model, spec, tmp_path):
    """Networks with genlab's own layers (masked convolutions, position embeddings) reload with
    their weights from the .keras files, in a fresh Keras that only imported genlab's models."""
    from genlab import export, models
    from genlab.models.base import DataSpec

    data_cfg = {"dataset": "text"} if "vocab" in spec else {"binarize": spec.get("binarize", False)}
    exp = config.experiment_from_dict({"name": "k", "model": model, "data": data_cfg})
    keras.utils.set_random_seed(1)
    built = models.build(exp, DataSpec(**spec))
    written = export.save_portable(built, str(tmp_path))
    assert {f"{n}.keras" for n in built.sampling_networks} <= set(written)
    for name in built.sampling_networks:
        net = built.networks[name]
        x = [
            np.random.default_rng(0).random((2, *[d or 5 for d in i.shape[1:]])).astype(i.dtype)
            for i in net.inputs
        ]
        if "vocab" in spec:
            x = [np.array([[0, 1, 2, 3, 4]] * 2, np.int32)]
        x = x[0] if len(x) == 1 else x
        reloaded = keras.saving.load_model(tmp_path / f"{name}.keras")
        for a, b in zip(keras.tree.flatten(reloaded(x)), keras.tree.flatten(net(x)), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
