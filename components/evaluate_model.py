from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from genlab.images import trainer_image


@dsl.component(base_image=trainer_image(), install_kfp_package=False)
def evaluate_model(config_json: str, dataset: Input[Dataset], model: Input[Model], metrics: Output[Metrics]):
    """FID/KID/precision/recall against the test split (with the real-data floor) and likelihoods."""
    from genlab import steps

    for key, value in steps.evaluate_model(config_json, dataset.path, model.path).items():
        metrics.log_metric(key, value)
