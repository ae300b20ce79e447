"""The VAE presets end to end through kfp.local (prepare -> train -> evaluate -> generate), tiny.

vae_iaf_mnist needs MNIST, which is downloaded for real users and not available offline here:
its smoke test swaps in Fashion-MNIST (same format), and its own config is checked by compiling it.
vae_iaf_cifar10 runs on a tiny archive the test writes in CIFAR-10's binary format
(tests/cifar10_files.py).
"""

import math

import pytest
import yaml

from genlab import config
from pipelines.genlab_pipeline import compile_pipeline, run_local
from tests.cifar10_files import make_cifar10_archive

TINY = {
    "data": {"max_train": 256, "max_test": 128, "shards": 1},
    "train": {"steps": 4, "workers": 1, "batch_size": 32, "log_every": 2, "checkpoint_every": 2},
    "evaluate": {"num_samples": 64, "feature_epochs": 1, "nll_importance_samples": 4},
    "generate": {"rows": 3, "cols": 3, "interpolation_steps": 4},
}
SMALL_MODEL = {
    "vae_mlp_fashion_mnist": {"hidden": 32, "latent_dim": 4},
    "vae_iaf_fashion_mnist": {"width": 8, "latent_dim": 4, "flow_hidden": 16, "context_dim": 8},
    "vae_iaf_mnist": {"width": 8, "latent_dim": 4, "flow_hidden": 16, "context_dim": 8},
    "vae_iaf_fashion_mnist_8bit": {"width": 8, "latent_dim": 4, "flow_hidden": 16, "context_dim": 8},
}


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("genlab-cache")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL_MODEL))
def test_preset_runs_end_to_end(name, tmp_path, feature_cache, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(feature_cache))  # the subprocesses inherit it
    overrides = config.merge(TINY, {"model": SMALL_MODEL[name]})
    if name == "vae_iaf_mnist":
        overrides = config.merge(overrides, {"data": {"dataset": "fashion_mnist"}})
    exp = config.load(name, overrides)
    run = run_local(exp, tmp_path / "runs", workers=1)
    assert run.report_html.is_file()
    page = run.report_html.read_text()
    assert "<img" in page and "Attribute vector: " in page
    for key in ("elbo", "nll", "bits_per_dim", "fid", "kid"):
        assert key in run.metrics and math.isfinite(run.metrics[key]), key
    assert run.metrics["nll"] > 0 and run.metrics["elbo"] < 0
    assert run.metrics["bits_per_dim"] == pytest.approx(run.metrics["nll"] / (784 * math.log(2)), rel=1e-4)


@pytest.mark.slow
def test_vae_iaf_mnist_compiles_with_mnist(tmp_path):
    exp = config.load("vae_iaf_mnist")
    path = compile_pipeline(exp, tmp_path / "vae_iaf_mnist.yaml")
    ir = next(yaml.safe_load_all(path.read_text()))  # the pipeline spec; a platform spec may follow
    baked = ir["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"]
    assert config.from_json(baked) == exp
    assert exp.data.dataset == "mnist" and exp.model.flow_steps == 2 and exp.data.binarize


@pytest.mark.slow
def test_vae_iaf_cifar10_runs_end_to_end(tmp_path, feature_cache, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(feature_cache))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    make_cifar10_archive(archive, per_batch=40, n_test=40)
    overrides = config.merge(
        TINY,
        {
            "data": {"source": str(archive), "max_train": 160, "max_test": 40},
            "model": {"width": 8, "latent_dim": 4, "flow_hidden": 16, "context_dim": 8},
            "evaluate": {"num_samples": 40},
        },
    )
    exp = config.load("vae_iaf_cifar10", overrides)
    run = run_local(exp, tmp_path / "runs", workers=1)
    assert run.report_html.is_file()
    for key in ("elbo", "nll", "bits_per_dim", "fid", "kid"):
        assert key in run.metrics and math.isfinite(run.metrics[key]), key
    # 8-bit colour: bits per sub-pixel over 32 * 32 * 3 dimensions
    assert run.metrics["bits_per_dim"] == pytest.approx(run.metrics["nll"] / (3072 * math.log(2)), rel=1e-4)
    assert run.metrics["nll"] > 0 and run.metrics["elbo"] < 0
