"""``log``: how the steps and workers print a line of their log."""


def log(msg: str) -> None:
    """Print one line now: a step's stdout is a pipe (to the launcher or kfp) that would buffer it."""
    print(msg, flush=True)
