from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from genlab.images import trainer_image


@dsl.component(base_image=trainer_image(), install_kfp_package=False)
def evaluate_model(
    config_json: str,
    dataset: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    classes: Output[ClassificationMetrics],
):
    """FID/KID/precision/recall against the test split (with the real-data floor) and likelihoods;
    for the cGAN, requested vs recognised classes as a confusion matrix the dashboard draws."""
    from genlab import steps

    details = {}
    for key, value in steps.evaluate_model(config_json, dataset.path, model.path, details).items():
        metrics.log_metric(key, value)
    if "confusion_matrix" in details:
        classes.log_confusion_matrix(**details["confusion_matrix"])
