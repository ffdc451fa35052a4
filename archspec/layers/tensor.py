"""A learned tensor with no input: ConvNeXt's layer scale, a transformer's class token and position embedding."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from archspec.layers.base import LayerBase, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Bool, Float, PosInt


class Parameter(LayerBase):
    """A learned tensor of a given shape, the layer's output (torch.nn.Parameter). It takes no input; a ``mul``
    or ``add`` brings it in (its batch axis is 1 and broadcasts). In a built model it is stored under the
    layer's own name, as torchvision stores ``features.1.0.layer_scale`` or ``class_token``."""

    type: Literal["parameter"]
    aliases = ("LayerScale", "Parameter")
    shape: list[PosInt] = Field(min_length=1, description="Its shape without the batch axis: [C, 1, 1] for a layer scale.")
    value: Float = Field(
        default=0.0, description="Every element's initial value (layer scale: 1e-6); `init: {weight: normal}` draws instead."
    )
    batch_axis: Bool = Field(
        default=False,
        description="Store it with a leading axis of 1, as torchvision keeps ViT's `class_token` [1, 1, D] and "
        "`pos_embedding` [1, N, D], so such weights load by name (the output is the same).",
    )

    arity = (0, 0)
    family = "tensor"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = True  # a constant at inference
    learned_linear = False
    random_in_training = False

    def output_shape(self, ins: list[Shape]) -> Shape:
        return tuple(self.shape)

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        return {"weight": self._stored()}

    def _stored(self) -> Shape:
        return (1, *self.shape) if self.batch_axis else tuple(self.shape)

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return Receptive.CONSTANT

    def label(self) -> str:
        return f"parameter {fmt_shape(tuple(self.shape))}"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import LearnedTensor

        return LearnedTensor(self._stored(), self.value, batched=self.batch_axis)
