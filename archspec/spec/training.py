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
Task = Literal["classification", "segmentation"]


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
    """Mirror images left to right (the text's mirror symmetry)."""

    type: Literal["hflip"]
    p: Probability = 0.5
    """Probability of flipping an image left to right."""


class VFlip(_Strict):
    """Flip images upside down."""

    type: Literal["vflip"]
    p: Probability = 0.5
    """Probability of flipping an image upside down."""


class Affine(_Strict):
    """Translation, rotation and scaling (the text's camera position and orientation)."""

    type: Literal["affine"]
    degrees: Annotated[float, Field(ge=0, le=180)] = 0.0
    """Largest rotation, in degrees either way."""
    translate: tuple[Probability, Probability] | None = Field(
        default=None, description="Max shift as a fraction of width, height."
    )
    scale: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] | None = None
    """Range of the scale factor, [min, max]."""


class ColorJitter(_Strict):
    """Brightness, contrast, saturation and hue (the text's scene lighting)."""

    type: Literal["color_jitter"]
    brightness: Annotated[float, Field(ge=0)] = 0.0
    """How far brightness may vary (0 = not at all)."""
    contrast: Annotated[float, Field(ge=0)] = 0.0
    """How far contrast may vary."""
    saturation: Annotated[float, Field(ge=0)] = 0.0
    """How far saturation may vary."""
    hue: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    """How far hue may shift, at most 0.5."""


class Elastic(_Strict):
    """Small elastic deformations (the text's intraclass variation in shape)."""

    type: Literal["elastic"]
    alpha: Annotated[float, Field(ge=0)] = 20.0
    """Strength of the displacement, in pixels."""
    sigma: Annotated[float, Field(gt=0)] = 5.0
    """Smoothness of the displacement field."""
    p: Probability = 0.5
    """Probability of deforming an image."""


class RandomResizedCrop(_Strict):
    """Crop a random part of the image and resize it back (the text's scale and framing)."""

    type: Literal["random_resized_crop"]
    scale: tuple[Probability, Probability] = (0.6, 1.0)
    """Range of the cropped area, as a fraction of the image."""
    ratio: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (3 / 4, 4 / 3)
    """Range of the crop's aspect ratio."""


Augment = Annotated[HFlip | VFlip | Affine | ColorJitter | Elastic | RandomResizedCrop, Field(discriminator="type")]


class Optimizer(_Strict):
    name: OptimizerName = "adam"
    """sgd, adam or adamw."""
    lr: Annotated[float, Field(gt=0)] = 1e-3
    """Learning rate (scaled by the schedule)."""
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    """SGD momentum."""
    nesterov: Bool = False
    """Nesterov momentum (SGD)."""
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    """L2 weight decay (decoupled for adamw)."""


class Schedule(_Strict):
    name: ScheduleName = "constant"
    """constant, step, cosine or onecycle."""
    warmup_epochs: NonNegInt = 0
    """Epochs of linear warm-up before the schedule."""
    step_size: PosInt = Field(default=10, description="step: epochs between decays.")
    gamma: Annotated[float, Field(gt=0, le=1)] = Field(default=0.1, description="step: decay factor.")


class Training(_Strict):
    """How ``archspec train`` trains this network (every value can be overridden by a flag)."""

    task: Task = Field(
        default="classification",
        description="classification: one class per image, from a vector of class scores; segmentation: one class "
        "per pixel (the synthetic data's masks), from class scores per pixel (K×H×W at the input's H×W).",
    )
    epochs: PosInt = 5
    """Passes over the training data."""
    batch_size: PosInt = 64
    """Images per step (split across processes under DDP)."""
    data: Data = Field(default_factory=Data)
    """The source of the training and test images."""
    augment: list[Augment] = Field(default_factory=list, description="Applied in order to each training image.")
    optimizer: Optimizer = Field(default_factory=Optimizer)
    """The optimiser and its settings."""
    schedule: Schedule = Field(default_factory=Schedule)
    """How the learning rate changes over training."""
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Cross-entropy label smoothing."""
    precision: Precision = "fp32"
    """fp32, or autocast to bf16 or fp16."""
    channels_last: Bool = False
    """Use the channels-last memory format."""
    compile: Bool = False
    """Compile the model with torch.compile."""
    early_stopping: PosInt | None = Field(
        default=None, description="Stop after this many epochs of rising test loss while training loss falls."
    )
    seed: NonNegInt = 0
    """Seed of initialisation, shuffling and augmentation."""
    device: str = Field(default="auto", description="auto (cuda, then mps, then cpu), or a torch device name.")
    in_memory: Literal["auto", "yes", "no"] = Field(
        default="auto", description="Keep the data as tensors on the device (no DataLoader)."
    )
