"""The worker entry point, the same command locally and in a TFJob pod::

    python -m genlab.train.worker --config '<experiment JSON>' --data DATA_URI --model MODEL_URI

It reads ``TF_CONFIG`` for its role. Exit code 2 is a user error (printed as one line),
1 a crash (with its traceback).
"""

from __future__ import annotations

import argparse
import sys

from genlab import config
from genlab.errors import GenlabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genlab.train.worker")
    parser.add_argument("--config", required=True, help="the experiment config as JSON")
    parser.add_argument("--data", required=True, help="prepared dataset folder or gs:// prefix")
    parser.add_argument("--model", required=True, help="where to write checkpoints and the model")
    args = parser.parse_args(argv)
    try:
        from genlab.train import train

        train(config.from_json(args.config), args.data, args.model)
    except GenlabError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
