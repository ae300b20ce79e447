"""The image-optimisation families' (style_transfer, deepdream) config dataclasses: validated when a
config is loaded, without importing TensorFlow (``genlab run`` fails fast). The models are in
``style_transfer.py`` and ``deepdream.py`` (``model_module``), their feature network in
``feature_network.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from genlab.config_checks import check_min
from genlab.errors import ConfigError


def _check_image_size(cfg, section: str = "model"):
    if cfg.image_size and cfg.image_size < 8:
        raise ConfigError(
            f"{section}.image_size: expected 0 (the dataset's size) or an integer >= 8, got {cfg.image_size}"
        )


@dataclass(frozen=True)
class StyleTransferConfig:
    family: str = "style_transfer"
    model_module: ClassVar[str] = "style_transfer"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    weights_file: str = ""  # Keras VGG19 weights without the top (.h5); "" = train the small convnet
    width: int = 32  # the small convnet's first block; later blocks have 2x and 4x (unused with weights)
    content_layer: str = ""  # "" = conv3 (small convnet) / block5_conv2 (VGG19)
    style_layers: tuple[str, ...] = ()  # () = conv1..conv3 / block1_conv1..block5_conv1
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.05
    iterations: int = 300  # Adam steps on the pixels
    step_size: float = 0.02  # Adam learning rate on pixels in [0, 1]
    image_size: int = 0  # working resolution (square); 0 = the dataset's
    content_image: str = ""  # PNG/JPEG path; "" = the first test image of content_class
    style_image: str = ""  # PNG/JPEG path; "" = the most textured test image of style_class
    content_class: int = 0  # Fashion-MNIST: T-shirt/top
    style_class: int = 8  # Fashion-MNIST: bag

    def __post_init__(self):
        check_min(self, "model", width=1, iterations=1, content_class=0, style_class=0)
        _check_image_size(self)
        for key in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"model.{key}: expected a number >= 0, got {getattr(self, key)}")
        if self.step_size <= 0:
            raise ConfigError(f"model.step_size: expected a number > 0, got {self.step_size}")
        if self.content_class == self.style_class:
            raise ConfigError(
                f"model.style_class: expected a class other than model.content_class "
                f"({self.content_class}), so content and style differ"
            )


@dataclass(frozen=True)
class DeepDreamConfig:
    family: str = "deepdream"
    model_module: ClassVar[str] = "deepdream"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    weights_file: str = ""  # Keras InceptionV3 weights without the top (.h5); "" = train the small convnet
    width: int = 32
    dream_layers: tuple[str, ...] = ()  # () = conv2, conv3 (small convnet) / mixed4..mixed7 (InceptionV3)
    layer_weights: tuple[float, ...] = ()  # one per dream layer; () = 1.0, 1.5, 2.0, ... (Chollet's)
    iterations: int = 20  # gradient-ascent steps per octave
    step_size: float = 0.01  # mean absolute change of a pixel (in [0, 1]) per step
    octaves: int = 3
    octave_scale: float = 1.4
    image_size: int = 0  # the largest octave (square); 0 = the dataset's size
    input_image: str = ""  # PNG/JPEG path; "" = test images
    num_images: int = 4  # test images dreamed: the first of classes 0, 1, ... (with input_image: 1)
    detail_reinjection: bool = True

    def __post_init__(self):
        check_min(self, "model", width=1, iterations=1, octaves=1, num_images=1)
        _check_image_size(self)
        if self.step_size <= 0:
            raise ConfigError(f"model.step_size: expected a number > 0, got {self.step_size}")
        if self.octave_scale <= 1:
            raise ConfigError(f"model.octave_scale: expected a number > 1, got {self.octave_scale}")
        if self.layer_weights and len(self.layer_weights) != len(self.dream_layers):
            raise ConfigError(
                f"model.layer_weights: expected one weight per model.dream_layers entry "
                f"({len(self.dream_layers)}), got {len(self.layer_weights)}"
            )


CONFIGS = {"style_transfer": StyleTransferConfig, "deepdream": DeepDreamConfig}
