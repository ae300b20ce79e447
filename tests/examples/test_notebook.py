"""examples/explore.ipynb runs top to bottom on a tiny trained model (nbclient, a real kernel)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_explore_notebook_runs_on_a_tiny_model(tiny_fashion, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    from genlab import config
    from genlab.train import train

    exp = config.experiment_from_dict(
        {
            "name": "notebook",
            "model": {"family": "vae", "latent_dim": 4, "width": 8},
            "train": {"steps": 4, "batch_size": 32, "log_every": 2, "checkpoint_every": 4},
        }
    )
    run = tmp_path / "run"
    train(exp, str(tiny_fashion), str(run / "train-model" / "model"))
    monkeypatch.setenv("GENLAB_MODEL", str(run))  # the kernel inherits the environment
    monkeypatch.setenv("GENLAB_DATA", str(tiny_fashion))

    nb = nbformat.read(ROOT / "examples" / "explore.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "TrainedModel(vae, 4 steps" in text and "attribute vectors: set" not in text
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 4  # samples, interpolation, attribute vector, training curves
