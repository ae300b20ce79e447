"""What every image family shares: evaluation in the dataset's feature space and the image report.

An image family samples images of its dataset (``sample`` -> NHWC in [0, 1]). Subclassing
``ImageModel`` gives it FID/KID/precision/recall next to the real-data floor
(genlab.evaluate.image_quality), the report's sample grid, latent interpolation and attribute
vectors (latent models without labels), the FID-vs-step curve (``train.fid_samples``) and the
TensorBoard sample grid. A family adds to these with ``likelihood_metrics`` (test-set numbers such
as bits/dim) and ``report_sections``, or overrides ``evaluate``/``report`` and calls ``super()``.
"""

from __future__ import annotations

import numpy as np

from genlab.errors import ConfigError
from genlab.models.base import GenerativeModel


def check_multiple_of_4(shape: tuple[int, ...], network: str) -> None:
    """Networks that halve (or double) the size twice, h/4 x w/4 inside (DCGAN's generator,
    CycleGAN's ResNet, the conv VAE), need image sides that divide by 4."""
    h, w = shape[:2]
    if h % 4 or w % 4:
        got = h if h == w else f"{h}x{w}"
        raise ConfigError(f"data.image_size: expected a multiple of 4 for {network}, got {got}")


class ImageModel(GenerativeModel):
    fid_curve = True

    def evaluate(
        self, data_uri: str, manifest, eval_cfg, details: dict | None = None
    ) -> dict[str, float | str]:
        from genlab.evaluate.image_quality import score

        scored = score(self, data_uri, manifest, eval_cfg)
        return {**scored.metrics, **self.likelihood_metrics(scored.test_x, eval_cfg)}

    def likelihood_metrics(self, images: np.ndarray, eval_cfg) -> dict[str, float]:
        """The family's own test metrics (ELBO, bits/dim, ...); none by default."""
        return {}

    def report(
        self, out_dir: str, exp, data_uri: str
    ) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]:
        from genlab.generate.images import sample_pictures
        from genlab.generate.latent import attribute_sections

        pictures = sample_pictures(self, out_dir, exp.generate)
        sections = self.report_sections(out_dir, exp, data_uri)
        if self.latent_dim() and not self.has_labels:
            sections = [*sections, *attribute_sections(self, exp, data_uri, out_dir)]
        return pictures, sections

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        """The family's own report sections after the shared pictures; none by default."""
        return []

    def summary_samples(self, n: int, seed: int) -> np.ndarray:
        return self.sample(n, seed=seed)
