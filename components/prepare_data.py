from kfp import dsl
from kfp.dsl import Dataset, Output

from genlab.images import trainer_image


@dsl.component(base_image=trainer_image(), install_kfp_package=False)
def prepare_data(config_json: str, dataset: Output[Dataset]):
    """Read the raw dataset, validate it, write sharded TFRecords and a manifest."""
    from genlab import steps

    dataset.metadata.update(steps.prepare_data(config_json, dataset.path))
