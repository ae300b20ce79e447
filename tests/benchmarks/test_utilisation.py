"""benchmarks.utilisation: FLOP counts checked by hand, the trace's step breakdown, the tiny run end to end."""

import math

import pytest
import tensorflow as tf

from benchmarks import utilisation


def test_graph_flops_of_a_dense_layer_is_the_hand_count():
    dense = tf.keras.layers.Dense(3)
    x = tf.zeros((2, 4))
    dense(x)
    fn = tf.function(lambda v: dense(v))
    concrete = fn.get_concrete_function(x)
    # x @ W: 2 rows x 3 outputs x 4 multiply-adds x 2 = 48; + bias: 2 x 3 = 6
    assert utilisation.graph_flops(concrete) == 54
    assert utilisation.graph_flops(concrete, utilisation.DENSE_OPS) == 48


def test_graph_flops_of_a_training_step_counts_the_gradients():
    w = tf.Variable(tf.ones((4, 3)))
    x = tf.ones((2, 4))

    @tf.function
    def step(v):
        with tf.GradientTape() as tape:
            y = tf.matmul(v, w)
        return tape.gradient(y, w)  # dL/dW = v^T @ ones(2, 3): 4 x 3 outputs x 2 multiply-adds x 2

    assert utilisation.graph_flops(step.get_concrete_function(x), ("MatMul",)) == 48 + 48


def test_graph_flops_of_a_conv():
    conv = tf.keras.layers.Conv2D(4, 3, use_bias=False)
    x = tf.zeros((1, 5, 5, 2))
    conv(x)
    fn = tf.function(lambda v: utilisation._conv(conv, v))
    # output 3 x 3 x 4, each 3 x 3 x 2 multiply-adds, 2 FLOPs each
    assert utilisation.graph_flops(fn.get_concrete_function(x), utilisation.DENSE_OPS) == 3 * 3 * 4 * 18 * 2


def test_union_of_intervals():
    assert utilisation._union([(0, 4), (2, 6), (10, 11), (5, 6)]) == 7
    assert utilisation._union([]) == 0
    assert utilisation._clip([(0, 4), (5, 9), (10, 12)], 2, 10) == [(2, 4), (5, 9)]


@pytest.mark.slow
def test_utilisation_tiny(tmp_path):
    r = utilisation.run(
        "tiny", tmp_path, allreduce={"allreduce_s_per_step": 0.01, "allreduce_share_of_2w_step": 0.05}
    )
    peaks = r["peaks"]
    assert all(math.isfinite(v) and v > 0 for v in peaks.values())
    assert peaks["conv"] == max(c["flop_per_s"] for c in r["convs"])
    assert {c["network"] for c in r["convs"]} == {"generator", "discriminator"}
    (row,) = r["families"]
    assert row["family"] == "dcgan" and 0 < row["step_dense_flops"] <= row["step_flops"]
    assert row["achieved_flop_per_s"] == pytest.approx(row["step_dense_flops"] * row["steps_per_s"])
    assert r["goal_met"] == (row["of_conv_peak"] >= 0.40)
    b = r["profile"]
    assert b["steps"] == utilisation.SIZES["tiny"][4][1] - 1 + 1 and b["kernels_ms"] > 0
    assert b["input_ops_traced"] > 0 and b["allreduce_ms"] == 0  # one worker: no collective ops
    parts = b["kernels_ms"] + b["input_ms"] + b["allreduce_ms"] + b["python_ms"]
    assert parts == pytest.approx(b["wall_ms"])
    text = "\n".join(utilisation.markdown(r))
    assert "of conv peak" in text and "0.5%" not in text and "5.0% of a 2-worker step" in text
    utilisation.plot(r, tmp_path / "utilisation.png")
    assert (tmp_path / "utilisation.png").read_bytes()[:4] == b"\x89PNG"
