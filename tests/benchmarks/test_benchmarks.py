"""The benchmark code runs at its tiniest size and returns what RESULTS.md needs. No timing assertions:
speed is measured by ``make bench``, not tested."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import report, run


def _finite_positive(x) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


@pytest.mark.slow
def test_throughput_tiny(tmp_path):
    from benchmarks import throughput

    r = throughput.run("tiny", tmp_path, presets=["dcgan_tiny"])
    assert r["skipped"] == []
    (row,) = r["families"]
    assert row["preset"] == "dcgan_tiny" and row["family"] == "dcgan"
    for key in ("genlab_examples_per_s", "baseline_examples_per_s", "speedup", "speedup_bf16"):
        assert _finite_positive(row[key]), key
    from genlab import config
    from genlab.train import precision

    bf16 = precision.resolve(config.load("dcgan_tiny"))  # the default configuration on this machine
    assert row["default_precision"] == ("bfloat16" if bf16 else "float32")
    assert row["speedup_default"] == row["speedup_bf16" if bf16 else "speedup"]
    (variant,) = r["variants"]
    assert variant["xla"] is False and variant["ratio_vs_plain"] == 1.0


def test_throughput_default_presets_cover_families():
    from benchmarks import throughput

    chosen = throughput.presets_for_run()
    assert chosen["dcgan"] == "dcgan_fashion_mnist" and chosen["vae"] == "vae_fashion_mnist"
    assert chosen["vae_iaf"] == "vae_iaf_fashion_mnist"


def test_every_registered_family_has_a_benchmark_row():
    """No family is silently left out: each has a preset whose model.family it is, or a stated reason."""
    from benchmarks import families, quality
    from genlab import config, models

    chosen = families.presets()
    assert set(models.names()) <= set(chosen) | set(families.WITHOUT_PRESET)
    for family in models.names():
        if family in chosen:
            assert config.load(chosen[family]).model.family == family
    assert quality.SIZES["full"][0] is None  # the full quality run takes the same rows


def test_a_family_without_a_preset_fails_loudly(monkeypatch):
    from benchmarks import families

    options = {**families.by_family(), "newgan": []}
    monkeypatch.setattr(families, "by_family", lambda: options)
    with pytest.raises(RuntimeError, match="no preset in pipelines/configs for model.family newgan"):
        families.presets()
    monkeypatch.setattr(families, "WITHOUT_PRESET", {"newgan": "measured elsewhere"})
    assert "newgan" not in families.presets()


@pytest.mark.slow
def test_distributed_tiny(tmp_path):
    from benchmarks import distributed

    r = distributed.run("tiny", tmp_path)
    assert r["workers_2_tf_threads"] is None  # left out at the tiny size
    for key in ("workers_1", "workers_2"):
        assert _finite_positive(r[key]["examples_per_s"]), key
        assert set(r[key]["final_losses"]) == {"d_loss", "g_loss"}
    assert r["max_rel_loss_diff"] < 1e-3  # 1 and 2 workers see the same data and noise
    assert r["agree"] and [x["step"] for x in r["per_step"]] == [2, 4]
    assert _finite_positive(r["rounding_reference"]["examples_per_s"])
    assert _finite_positive(r["allreduce_s_per_step"])
    assert set(r["gradient_floats"]) == {"generator", "discriminator"}


@pytest.mark.slow
def test_pipeline_overhead_tiny(tmp_path):
    from benchmarks import pipeline_overhead

    r = pipeline_overhead.run("tiny", tmp_path)
    assert set(r["direct_steps_s"]) == {"prepare_data", "train_model", "evaluate_model", "generate_samples"}
    assert _finite_positive(r["pipeline_s"]) and _finite_positive(r["direct_s"])
    assert math.isfinite(r["overhead"])

    # The recorder of preset runs reads a real kfp.local run folder (benchmarks/preset_runs.md).
    from benchmarks import record_runs

    (run_dir,) = [p for p in tmp_path.glob("runs-*/*") if (p / "evaluate-model").is_dir()][:1]
    entry = record_runs.read_run(run_dir)
    assert entry["family"] == "dcgan" and entry["steps"] > 0 and entry["workers"] >= 1
    assert entry["metrics"]["fid"] > 0 and "fid_floor" in entry["metrics"]
    assert "| fid |" in record_runs.render([entry])


@pytest.mark.slow
def test_run_cli_tiny_writes_results(tmp_path):
    """The CLI on two sections: input pipeline (delivery + streaming memory) and quality."""
    out = tmp_path / "RESULTS.md"
    assert run.main(["--tiny", "--only", "input_pipeline,quality", "--out", str(out)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ip = results["sections"]["input_pipeline"]["result"]
    assert _finite_positive(ip["delivered_examples_per_s"]) and _finite_positive(ip["headroom"])
    assert [m["max_train"] for m in ip["prepare_memory"]] == [256, 1024]
    assert all(_finite_positive(m["peak_rss_mb"]) for m in ip["prepare_memory"])
    q = results["sections"]["quality"]["result"]
    (row,) = q["rows"]
    assert {"fid", "fid_floor", "kid", "kid_floor"} <= set(row["metrics"])
    assert all(math.isfinite(v) for v in row["metrics"].values())
    text = out.read_text()
    assert "TensorFlow" in text and "## 5. Input pipeline" in text and "fid_floor" in text
    assert "## 1. Training throughput\n\nNot run." in text


def test_cli_rejects_unknown_section(capsys):
    with pytest.raises(SystemExit):
        run.main(["--tiny", "--only", "nonsense"])
    assert "unknown section 'nonsense'" in capsys.readouterr().err


def test_report_renders_every_section(tmp_path):
    """Markdown and PNG from a results dict shaped like the benchmarks' output (incl. a missing module)."""
    from benchmarks.bf16_parity import within_spread

    fam = {
        "label": "dcgan",
        "preset": "dcgan_fashion_mnist",
        "family": "dcgan",
        "batch": 64,
        "steps_timed": 6,
        "genlab_examples_per_s": 900.0,
        "baseline_examples_per_s": 600.0,
        "speedup": 1.5,
        "genlab_bf16_examples_per_s": 1200.0,
        "speedup_bf16": 2.0,
        "default_precision": "bfloat16",
        "default_examples_per_s": 1200.0,
        "speedup_default": 2.0,
    }
    fid = {"float32": {"fid": [100.0, 104.0, 98.0]}, "bfloat16": {"fid": [99.0, 101.0, 103.0]}}
    worker = {
        "examples_per_s": 500.0,
        "wall_s": 20.0,
        "final_losses": {"d_loss": 1.2, "g_loss": 0.9},
        "weights_sha256": "ab",
    }
    sections = {
        "throughput": {
            "families": [fam],
            "skipped": [],
            "steps": 8,
            "log_every": 2,
            "max_train": 4096,
            "baseline": "textbook loop",
            "variants": [
                {
                    "preset": "dcgan_fashion_mnist",
                    "device": "CPU",
                    "xla": False,
                    "mixed_precision": False,
                    "genlab_examples_per_s": 900.0,
                    "ratio_vs_plain": 1.0,
                }
            ],
        },
        "distributed": {
            "preset": "dcgan_fashion_mnist",
            "global_batch": 64,
            "steps": 24,
            "cpu_count": 2,
            "workers_1": worker,
            "workers_2": worker,
            "workers_2_tf_threads": worker,
            "speedup_2_vs_1": 1.0,
            "step_s_1": 0.1,
            "step_s_2": 0.1,
            "gradient_floats": {"generator": 10, "discriminator": 20},
            "allreduce_s_per_step": 0.002,
            "allreduce_share_of_2w_step": 0.02,
            "same_weights": False,
            "max_abs_loss_diff": 1e-6,
            "max_rel_loss_diff": 1e-6,
            "max_rel_rounding_diff": 1e-7,
            "per_step": [{"step": 2, "rel_2_vs_1_workers": 1e-6, "rel_rounding_reference": 1e-7}],
            "agree": True,
            "method": "all-reduce",
        },
        "pixelcnn_sampling": {"not_available": "benchmarks.pixelcnn_sampling cannot be imported: x"},
        "bf16_parity": {
            "rows": [
                {
                    "family": "dcgan",
                    "preset": "dcgan_fashion_mnist",
                    "steps": 300,
                    "seeds": [0, 1, 2],
                    "values": fid,
                    "checks": {"fid": within_spread(fid["float32"]["fid"], fid["bfloat16"]["fid"])},
                    "within": True,
                    "train_s_median": {"float32": 50.0, "bfloat16": 40.0},
                }
            ],
            "not_measured": {"pix2pix": "not measured"},
            "criterion": "c",
            "evaluate_num_samples": 1000,
        },
    }
    results = {
        "machine": report.machine_info(),
        "scale": "tiny",
        "sections": {
            k: {"result": v, "scale": "tiny", "seconds": 1.0, "date": "today"} for k, v in sections.items()
        },
    }
    results["sections"]["quality"] = {
        "error": "RuntimeError: boom",
        "scale": "tiny",
        "seconds": 1.0,
        "date": "today",
    }
    report.write_all(results, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| dcgan | dcgan_fashion_mnist | 64 | 900 | 600 | 1.50 | – |" in text
    assert "Goal (>= 1.25x on every family, by examples/s): **met**" in text
    assert "| 1,200 | 2.00 | bfloat16 | 2.00 |" in text  # the default configuration's columns
    assert "rows that allow bfloat16): **met** (lowest 2.00x, dcgan in bfloat16; dcgan 2.00x)" in text
    assert "## 8. bfloat16 parity" in text and "| dcgan | dcgan_fashion_mnist (300 steps) | fid |" in text
    assert (tmp_path / "bf16_parity.png").stat().st_size > 1000
    assert "Not available: benchmarks.pixelcnn_sampling" in text
    assert "Failed: `RuntimeError: boom`" in text
    assert "## 4. Pipeline overhead\n\nNot run." in text
    assert Path(tmp_path / "results.png").stat().st_size > 1000
    assert json.loads((tmp_path / "results.json").read_text())["scale"] == "tiny"


def test_throughput_merge_replaces_only_the_remeasured_families():
    from benchmarks import throughput

    old = {
        "families": [{"label": "dcgan", "speedup": 1.0}, {"label": "vae", "speedup": 1.1}],
        "skipped": [{"label": "vae_iaf", "preset": "vae_iaf_fashion_mnist", "reason": "boom"}],
        "variants": ["old"],
    }
    new = {"families": [{"label": "vae_iaf", "speedup": 0.9}], "skipped": [], "variants": ["new"]}
    merged = throughput.merge(old, new)
    assert [r["label"] for r in merged["families"]] == ["dcgan", "vae", "vae_iaf"]  # families.presets() order
    assert merged["skipped"] == [] and merged["variants"] == ["new"]
    assert throughput.presets_for_run(["vae_iaf_fashion_mnist"]) == {"vae_iaf": "vae_iaf_fashion_mnist"}


@pytest.mark.slow
def test_gpu_script_dry_run_writes_the_gpu_results(tmp_path):
    """benchmarks/gpu.sh --dry-run for real: the GPU run's code on the CPU at the tiny scale."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "GPU_VENV": str(Path(sys.executable).parents[1]), "GPU_OUT_DIR": str(tmp_path)}
    proc = subprocess.run(
        [str(root / "benchmarks" / "gpu.sh"), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads((tmp_path / "gpu_results.json").read_text())
    assert r["device"] == "CPU" and r["scale"] == "tiny"
    combos = {(row["preset"], row["xla"], row["mixed_precision"]) for row in r["throughput"]}
    every = {
        (p, x, m) for p in ("dcgan_tiny", "vae_fashion_mnist") for x in (False, True) for m in (False, True)
    }
    assert combos == every
    assert all(_finite_positive(row["genlab_examples_per_s"]) for row in r["throughput"])
    q = r["time_to_quality"]
    assert [p["step"] for p in q["curve"]] == [1, 2]
    assert all(math.isfinite(p["fid"]) for p in q["curve"]) and _finite_positive(q["fid_floor"])
    text = (tmp_path / "gpu_results.md").read_text()
    assert "| dcgan_tiny | True | True |" in text and "Time to quality: dcgan_tiny, 2 steps" in text


def test_time_to_quality_compare_times_and_ratios():
    """Times are the first checkpoint at or below a level; a curve that never gets there says so."""
    from benchmarks.time_to_quality import compare, markdown

    genlab = [{"train_s": 10.0, "fid": 9.0}, {"train_s": 20.0, "fid": 2.5}, {"train_s": 30.0, "fid": 2.0}]
    textbook = [{"train_s": 10.0, "fid": 12.0}, {"train_s": 20.0, "fid": 8.0}, {"train_s": 30.0, "fid": 5.0}]
    c = compare(genlab, textbook, floor=1.0)
    assert c["target"] == 3.0 and c["genlab_s_to_target"] == 20.0 and c["textbook_s_to_target"] is None
    assert c["ratio_to_target"] is None
    # the common level is the worse of the two best FIDs: 5.0, which genlab reaches at 20 s, textbook at 30 s
    assert c["common_fid"] == 5.0 and c["genlab_s_to_common"] == 20.0 and c["textbook_s_to_common"] == 30.0
    assert c["ratio_to_common"] == 1.5
    row = {
        "preset": "p",
        "workers": 2,
        "steps": 3,
        "batch": 64,
        "fid_samples": 500,
        "genlab": {"points": genlab, "wall_s": 50.0},
        "textbook": {"points": textbook, "steps": 9, "batch": 64},
        **c,
    }
    text = "\n".join(markdown({"rows": [row], "skipped": [], "target_x_floor": 3.0}))
    assert (
        "| p | 2 | 3 | 500 | 1 | 3 | 20 s | never | genlab only | 5 | 20 s | 30 s | 1.50x | 2 / 5 |" in text
    )
    # reached at a curve's first checkpoint: only a bound (it may have got there sooner)
    early = [{"train_s": 10.0, "fid": 4.0}, *genlab[1:]]
    row.update(genlab={"points": early, "wall_s": 50.0}, **compare(early, textbook, floor=1.0))
    text = "\n".join(markdown({"rows": [row], "skipped": [], "target_x_floor": 3.0}))
    assert "| <= 10 s (1st point) | 30 s | >= 3.00x |" in text
    stuck = [{"train_s": 10.0, "fid": 4.0}, {"train_s": 20.0, "fid": 9.0}]
    row.update(textbook={"points": stuck, "steps": 2, "batch": 64}, **compare(early, stuck, floor=1.0))
    text = "\n".join(markdown({"rows": [row], "skipped": [], "target_x_floor": 3.0}))
    assert "– (both at 1st point)" in text and "The textbook curve never improved on its first point" in text
    assert "Goal (>= 2x sooner to the target): not shown for p: a curve did not reach" in text


@pytest.mark.slow
def test_time_to_quality_tiny_writes_curves_table_and_plot(tmp_path, monkeypatch):
    """Both curves from real training (genlab through the launcher, the keras.io baseline with fit),
    scored in one feature space, and the section's table and PNG beside RESULTS.md."""
    monkeypatch.setenv("GENLAB_FEATURE_STORE", str(tmp_path / "features"))
    out = tmp_path / "RESULTS.md"
    assert run.main(["--tiny", "--only", "time_to_quality", "--out", str(out)]) == 0
    r = json.loads((tmp_path / "results.json").read_text())["sections"]["time_to_quality"]["result"]
    assert r["skipped"] == []
    (row,) = r["rows"]
    g, t = row["genlab"]["points"], row["textbook"]["points"]
    assert [p["step"] for p in g] == [2, 4] and len(t) >= 1
    for points in (g, t):
        assert all(p["samples"] == 64 and _finite_positive(p["fid"]) for p in points)
        assert all(a["train_s"] < b["train_s"] for a, b in zip(points, points[1:], strict=False))
    # the baseline trains as many seconds as genlab (it stops at the first step past the budget)
    assert t[-1]["train_s"] >= g[-1]["train_s"] > 0
    assert _finite_positive(row["floor"]) and row["target"] == pytest.approx(3 * row["floor"])
    assert row["common_fid"] == max(min(p["fid"] for p in g), min(p["fid"] for p in t))
    assert (tmp_path / "time_to_quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## 7. Time to quality" in out.read_text() and "| dcgan_tiny | 1 | 4 | 64 |" in out.read_text()


def test_bf16_within_spread_criterion():
    from benchmarks.bf16_parity import within_spread

    # float32 seeds span 2, bf16 seeds 1: a mean difference of 2 is within, 3 is not
    assert within_spread([10.0, 11.0, 12.0], [12.5, 13.0, 13.5])["within"]
    check = within_spread([10.0, 11.0, 12.0], [13.5, 14.0, 14.5])
    assert not check["within"] and check["diff"] == 3.0 and check["allowed"] == 2.0
    assert within_spread([10.0, 10.0], [9.0, 13.0])["allowed"] == 4.0  # the wider range counts


@pytest.mark.slow
def test_bf16_parity_tiny(tmp_path):
    from benchmarks import bf16_parity
    from genlab import models

    r = bf16_parity.run("tiny", tmp_path)
    (row,) = r["rows"]
    assert row["family"] == "dcgan" and row["seeds"] == [0, 1]
    for precision in ("float32", "bfloat16"):
        assert len(row["values"][precision]["fid"]) == 2
        assert all(_finite_positive(v) for v in row["values"][precision]["fid"])
    assert row["values"]["float32"]["fid"] != row["values"]["bfloat16"]["fid"]  # two precisions really ran
    assert set(r["not_measured"]) == set(models.mixed_precision_families()) - {"dcgan"}
    text = "\n".join(bf16_parity.markdown(r))
    assert "| dcgan | dcgan_tiny (2 steps) | fid |" in text and "![bf16 parity](bf16_parity.png)" in text
    bf16_parity.plot(r, tmp_path / "bf16_parity.png")
    assert (tmp_path / "bf16_parity.png").stat().st_size > 1000
