"""The PixelCNN family's config dataclasses: validated when a config is loaded,
without importing TensorFlow (``genlab run`` fails fast). The networks are in ``pixelcnn.py``."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.config_checks import check_min
from genlab.errors import ConfigError


@dataclass(frozen=True)
class PixelCNNConfig:
    family: str = "pixelcnn"
    levels: int = 4  # values per subpixel (2..256)
    filters: int = 64  # width of the residual stream; blocks work at half of it
    residual_blocks: int = 5
    first_kernel: int = 7  # the type-A masked convolution
    kernel: int = 3  # the type-B masked convolution inside each residual block
    head_layers: int = 2  # 1x1 layers between the residual stack and the logits
    sample_batch: int = 500  # images sampled at once (memory bound, not a result)

    def __post_init__(self):
        check_min(
            self,
            "model",
            levels=2,
            filters=2,
            residual_blocks=0,
            first_kernel=1,
            kernel=1,
            head_layers=0,
            sample_batch=1,
        )
        if self.levels > 256:
            raise ConfigError(f"model.levels: expected an integer in 2..256, got {self.levels}")
        for key in ("first_kernel", "kernel"):
            if getattr(self, key) % 2 == 0:
                raise ConfigError(f"model.{key}: expected an odd kernel size, got {getattr(self, key)}")


CONFIGS = {"pixelcnn": PixelCNNConfig}
