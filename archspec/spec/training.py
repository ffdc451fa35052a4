"""The optional ``training:`` section of a spec: data, augmentation, optimiser, schedule, run settings.

It is validated like the rest of the file (positions, did-you-mean) and every
value can be overridden from the command line. Only torch code reads it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from archspec.layers.fields import Bool, NonNegInt, PosInt, Probability

Pair = tuple[float, float]

# the choices of the training section, also offered by `archspec train`'s flags
DataSource = Literal["synthetic", "folder", "cifar10"]
OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["constant", "step", "cosine", "onecycle"]
Precision = Literal["fp32", "bf16", "fp16"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Data(_Strict):
    """Where the images come from."""

    source: DataSource = Field(
        default="synthetic",
        description="synthetic: built-in shapes (no download); folder: an ImageFolder tree; cifar10: a local copy",
    )
    root: str | None = Field(default=None, description="Folder of the images (folder, cifar10).")
    train_size: PosInt = Field(default=40000, description="Synthetic images for training.")
    test_size: PosInt = Field(default=4000, description="Synthetic images for testing.")
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.2, description="Folder data without test/: share held out."
    )
    seed: NonNegInt = Field(default=0, description="Seed of the synthetic images and of any split.")


class HFlip(_Strict):
    type: Literal["hflip"]
    p: Probability = 0.5


class VFlip(_Strict):
    type: Literal["vflip"]
    p: Probability = 0.5


class Affine(_Strict):
    """Translation, rotation and scaling (the text's camera position and orientation)."""

    type: Literal["affine"]
    degrees: Annotated[float, Field(ge=0, le=180)] = 0.0
    translate: tuple[Probability, Probability] | None = Field(
        default=None, description="Max shift as a fraction of width, height."
    )
    scale: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] | None = None


class ColorJitter(_Strict):
    """Brightness, contrast, saturation and hue (the text's scene lighting)."""

    type: Literal["color_jitter"]
    brightness: Annotated[float, Field(ge=0)] = 0.0
    contrast: Annotated[float, Field(ge=0)] = 0.0
    saturation: Annotated[float, Field(ge=0)] = 0.0
    hue: Annotated[float, Field(ge=0, le=0.5)] = 0.0


class Elastic(_Strict):
    """Small elastic deformations (the text's intraclass variation in shape)."""

    type: Literal["elastic"]
    alpha: Annotated[float, Field(ge=0)] = 20.0
    sigma: Annotated[float, Field(gt=0)] = 5.0
    p: Probability = 0.5


class RandomResizedCrop(_Strict):
    type: Literal["random_resized_crop"]
    scale: tuple[Probability, Probability] = (0.6, 1.0)
    ratio: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (3 / 4, 4 / 3)


Augment = Annotated[HFlip | VFlip | Affine | ColorJitter | Elastic | RandomResizedCrop, Field(discriminator="type")]


class Optimizer(_Strict):
    name: OptimizerName = "adam"
    lr: Annotated[float, Field(gt=0)] = 1e-3
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: Bool = False
    weight_decay: Annotated[float, Field(ge=0)] = 0.0


class Schedule(_Strict):
    name: ScheduleName = "constant"
    warmup_epochs: NonNegInt = 0
    step_size: PosInt = Field(default=10, description="step: epochs between decays.")
    gamma: Annotated[float, Field(gt=0, le=1)] = Field(default=0.1, description="step: decay factor.")


class Training(_Strict):
    """How ``archspec train`` trains this network (every value can be overridden by a flag)."""

    epochs: PosInt = 5
    batch_size: PosInt = 64
    data: Data = Field(default_factory=Data)
    augment: list[Augment] = Field(default_factory=list, description="Applied in order to each training image.")
    optimizer: Optimizer = Field(default_factory=Optimizer)
    schedule: Schedule = Field(default_factory=Schedule)
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    precision: Precision = "fp32"
    channels_last: Bool = False
    compile: Bool = False
    early_stopping: PosInt | None = Field(
        default=None, description="Stop after this many epochs of rising test loss while training loss falls."
    )
    seed: NonNegInt = 0
    device: str = Field(default="auto", description="auto (cuda, then mps, then cpu), or a torch device name.")
    in_memory: Literal["auto", "yes", "no"] = Field(
        default="auto", description="Keep the data as tensors on the device (no DataLoader)."
    )
