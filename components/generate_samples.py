from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from genlab.images import trainer_image


@dsl.component(base_image=trainer_image(), install_kfp_package=False)
def generate_samples(
    config_json: str,
    dataset: Input[Dataset],
    model: Input[Model],
    metrics: Input[Metrics],
    samples: Output[Artifact],
    report: Output[HTML],
    report_md: Output[Markdown],
):
    """Sample grid, latent interpolation, and the report the Kubeflow dashboard shows."""
    from genlab import steps

    samples.metadata.update(
        steps.generate_samples(
            config_json,
            dataset.path,
            model.path,
            dict(metrics.metadata),
            samples.path,
            report.path,
            report_md.path,
        )
    )
