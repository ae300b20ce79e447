"""Progress lines for long runs: elapsed time, ETA and examples/s, printed by the chief only.

Every worker runs the same loop and would print the same line; the other workers stay quiet
(their errors still reach the log). The ETA extrapolates the latest logged interval's speed, which
follows a machine's load better than the average since the start (that one holds tracing).
"""

from __future__ import annotations

import time


def duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m05s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Tracks one training run from ``start_step`` to ``total_steps``; ``line`` formats a log line."""

    def __init__(self, total_steps: int, global_batch: int, start_step: int = 0, clock=time.monotonic):
        self.total = total_steps
        self.global_batch = global_batch
        self.clock = clock
        self.t0 = clock()
        self.last_t, self.last_step = self.t0, start_step

    def line(self, step: int, losses: dict[str, float]) -> tuple[str, float]:
        """(the line for ``step``, examples/s over the interval since the previous line)."""
        now = self.clock()
        interval = max(now - self.last_t, 1e-9)
        rate = (step - self.last_step) * self.global_batch / interval
        steps_per_s = (step - self.last_step) / interval
        self.last_t, self.last_step = now, step
        eta = (self.total - step) / steps_per_s if steps_per_s > 0 else 0.0
        text = (
            f"step {step}/{self.total} "
            + " ".join(f"{k}={v:.4f}" for k, v in losses.items())
            + f" | {rate:,.0f} examples/s | elapsed {duration(now - self.t0)} | ETA {duration(eta)}"
        )
        return text, rate
