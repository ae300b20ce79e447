"""benchmarks.worker_threads' paragraph for RESULTS.md: the ratios and the goal come from the measured rates."""

from benchmarks import report, worker_threads


def result(two_workers_per_call: list[float]) -> dict:
    rates = {
        "1_worker": [500.0, 400.0, 600.0],
        "2_workers_split": [390.0, 300.0, 480.0],
        "2_workers_tf_default": [300.0, 280.0, 400.0],
        "1_worker_per_call": [520.0, 420.0, 630.0],
        "2_workers_split_per_call": two_workers_per_call,
    }
    r = {"preset": "dcgan", "steps": 48, "repeats": 3, "cpu_count": 2, "steps_per_call": 8}
    r.update(examples_per_s=rates, load_average_at_start=[2.0, 1, 1], load_average_at_end=[3.0, 1, 1])
    ratio = lambda a, b: sorted(x / y for x, y in zip(rates[a], rates[b], strict=True))[1]  # noqa: E731
    r.update(
        split_vs_1_worker=ratio("2_workers_split", "1_worker"),
        split_vs_tf_default=ratio("2_workers_split", "2_workers_tf_default"),
        per_call_2_workers_vs_1_worker=ratio("2_workers_split_per_call", "1_worker"),
        per_call_vs_1_step_per_call_2_workers=ratio("2_workers_split_per_call", "2_workers_split"),
        per_call_vs_1_step_per_call_1_worker=ratio("1_worker_per_call", "1_worker"),
        per_call_2_workers_vs_1_worker_per_call=ratio("2_workers_split_per_call", "1_worker_per_call"),
    )
    return r


def test_the_paragraph_states_the_goal_from_the_rates():
    text = "\n".join(worker_threads.markdown(result([440.0, 350.0, 530.0])))
    assert "| 2 workers, split, 8 steps per call | 440, 350, 530 | 440 | 0.88x |" in text
    # like for like: 2 workers at 8 steps per call against 1 worker at 8 steps per call (median of 440/520, 350/420, 530/630)
    assert "**met**: 0.78x with 1 step per call, 0.84x with 8 steps per call" in text
    assert "2 workers at 8 steps per call run 0.88x one worker at 1 step per call" in text
    # faster than 1 worker at 1 step per call (0.82x), not like for like (0.79x): not met
    below = "\n".join(worker_threads.markdown(result([410.0, 330.0, 500.0])))
    assert "**not met**: 0.78x with 1 step per call, 0.79x with 8 steps per call" in below
    assert "worker_threads" in report.WRITERS and "worker_threads" in report.GOALS
