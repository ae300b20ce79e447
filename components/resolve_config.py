from typing import NamedTuple

from kfp import dsl

from genlab.images import trainer_image


@dsl.component(base_image=trainer_image(), install_kfp_package=False)
def resolve_config(
    config_json: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    mixed_precision: str,
    workers: int,
    gpus_per_worker: int,
    overrides: list,
) -> NamedTuple("Resolved", [("config_json", str), ("data_json", str)]):
    """The Run form's knobs and overrides on the compiled-in config, validated before any work;
    data_json is what data preparation reads (its cache key)."""
    from collections import namedtuple

    from genlab import steps as genlab_steps

    config_json, data_json = genlab_steps.resolve_config(
        config_json,
        overrides,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        mixed_precision=mixed_precision,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
    )
    return namedtuple("Resolved", ["config_json", "data_json"])(config_json, data_json)
