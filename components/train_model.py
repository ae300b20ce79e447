from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from genlab.images import trainer_image


@dsl.component(base_image=trainer_image(), install_kfp_package=False)
def train_model(
    config_json: str,
    dataset: Input[Dataset],
    model: Output[Model],
    workers: int,
    gpus_per_worker: int,
    steps: int,
    launcher: str,
    trainer_image: str,
    trainer_gpu_image: str,
):
    """Distributed training: N workers with TF_CONFIG, locally or as a TFJob (launcher=local|tfjob|auto).

    A TFJob's replicas all run ``trainer_gpu_image`` when they get GPUs, else ``trainer_image``
    (the pipeline's parameters, fixed to the registry chosen when it was compiled).
    """
    from genlab import steps as genlab_steps

    model.metadata.update(
        genlab_steps.train_model(
            config_json,
            dataset.path,
            model.path,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            steps=steps,
            launcher=launcher,
            trainer_image=trainer_image,
            trainer_gpu_image=trainer_gpu_image,
        )
    )
