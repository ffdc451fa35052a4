"""Per-layer initialisation (``init:``), applied with torch.nn.init when a spec is lowered.

Without ``init`` a layer keeps PyTorch's default initialisation.
``init: kaiming_normal`` is short for ``init: {weight: kaiming_normal}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from archspec.layers.fields import Float

WeightInit = Literal[
    "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal", "orthogonal", "zeros", "ones"
]
BiasInit = Literal["zeros", "ones", "normal"]


class Init(BaseModel):
    """How to initialise a layer's ``weight`` and ``bias`` (PyTorch defaults where left out)."""

    model_config = ConfigDict(extra="forbid")

    weight: WeightInit | None = Field(default=None, description="Scheme for the weight (PyTorch's default if left out).")
    bias: BiasInit | None = Field(default=None, description="Scheme for the bias (PyTorch's default if left out).")
    mode: Literal["fan_in", "fan_out"] = Field(
        default="fan_in", description="Kaiming: preserve the variance forwards or backwards."
    )
    nonlinearity: Literal["relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu"] = Field(
        default="relu", description="Kaiming gain for the activation that follows."
    )
    gain: Float = Field(default=1.0, gt=0, description="Xavier / orthogonal gain.")
    mean: Float = Field(default=0.0, description="Mean for `normal`.")
    std: Float = Field(default=0.01, gt=0, description="Standard deviation for `normal`.")

    def apply(self, module: Any) -> None:
        """Initialise ``module.weight`` / ``module.bias`` in place (``module``: a torch module)."""
        from torch import Tensor, nn

        weight = getattr(module, "weight", None)
        bias = getattr(module, "bias", None)
        if self.weight is not None and weight is not None:
            init: Callable[[Tensor], Tensor] = {
                "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, mode=self.mode, nonlinearity=self.nonlinearity),
                "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, mode=self.mode, nonlinearity=self.nonlinearity),
                "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain=self.gain),
                "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain=self.gain),
                "normal": lambda w: nn.init.normal_(w, self.mean, self.std),
                "orthogonal": lambda w: nn.init.orthogonal_(w, gain=self.gain),
                "zeros": nn.init.zeros_,
                "ones": nn.init.ones_,
            }[self.weight]
            init(weight)
        if self.bias is not None and bias is not None:
            init_bias: Callable[[Tensor], Tensor] = {
                "zeros": nn.init.zeros_,
                "ones": nn.init.ones_,
                "normal": lambda b: nn.init.normal_(b, self.mean, self.std),
            }[self.bias]
            init_bias(bias)


def _shorthand(value: Any) -> Any:
    return {"weight": value} if isinstance(value, str) else value


#: the field type layers use: a mapping, or just the weight scheme's name
InitField = Annotated[Init, BeforeValidator(_shorthand, json_schema_input_type=Init | WeightInit)]
