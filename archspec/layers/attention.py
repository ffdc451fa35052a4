"""Multi-head self-attention over a token sequence [N, D] (a transformer's mixing step)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from archspec.codes import Code
from archspec.layers.base import LayerBase, LayerError, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Bool, PosInt, Probability

FLOAT32 = 4


class MultiheadAttention(LayerBase):
    """Multi-head self-attention over N tokens of D features, the batch left out (torch.nn.MultiheadAttention
    with batch_first, called with query = key = value = x): torchvision's ViT weights load by name."""

    type: Literal["multihead_attention"]
    aliases = ("MultiHeadAttention", "MultiheadAttention", "attention", "selfattention", "mha")
    num_heads: PosInt = Field(description="Number of heads; divides the features D (each head has D / num_heads).")
    dropout: Probability = Field(default=0.0, description="Dropout on the attention weights in training.")
    bias: Bool = Field(default=True, description="Learn biases of the input and output projections.")
    family = "dense"
    output_activation = False
    batch_statistics = False
    cancels_bias = False
    affine_map = False  # the attention weights depend on the input: not affine
    learned_linear = False
    random_in_training = False  # its dropout acts on the attention weights, not on the values it passes on
    ranks = (2,)
    saves = ("input",)

    def check_inputs(self, ins: list[Shape]) -> None:
        (shape,) = ins
        if len(shape) != 2:
            raise LayerError(
                f"multihead_attention needs an N×D token sequence (tokens × features), got {fmt_shape(shape)}",
                hint="make tokens of a map first: flatten its positions and transpose (a reshape to [C, -1], then transpose 0↔1)",
            )
        if shape[1] % self.num_heads:
            raise LayerError(
                f"{self.num_heads} heads need features divisible by {self.num_heads}, got {shape[1]} ({fmt_shape(shape)})",
                field="num_heads",
                hint=f"use a divisor of {shape[1]} heads, or project the tokens to a multiple of {self.num_heads} features",
                code=Code.SIZE_CONTRADICTS_INPUT,
            )

    def weights(self, ins: list[Shape]) -> dict[str, Shape]:
        d = ins[0][1]
        tensors: dict[str, Shape] = {"in_proj_weight": (3 * d, d)}
        if self.bias:
            tensors["in_proj_bias"] = (3 * d,)
        tensors["out_proj.weight"] = (d, d)
        if self.bias:
            tensors["out_proj.bias"] = (d,)
        return tensors

    def receptive(self, ins: list[Shape]) -> ReceptiveStep:
        return (Receptive.MIX,)  # every output value depends on every input value

    def mixed_axes(self, ins: list[Shape]) -> frozenset[int] | None:
        return frozenset({0, 1})  # each token sees every token, and the projections mix the features

    def macs(self, ins: list[Shape], out: Shape) -> int:
        # the four projections (Q, K, V and the output: 4·N·D²) and the two products Q·Kᵀ and A·V
        # (N·N·D each, summed over the heads), as FlopCounterMode counts on the meta device
        n, d = ins[0]
        return 4 * n * d * d + 2 * n * n * d

    def extra_saved_bytes(self, ins: list[Shape], out: Shape) -> int:
        # what autograd keeps besides the input, as torch does on the CPU: Q, K and V (one tensor) and the heads'
        # output before the output projection; without dropout the fused path (SDPA) adds only a log-sum-exp
        # per head and token, with dropout the math path keeps the N×N weights of every head three times
        # (the softmax, the dropout's mask and the dropped weights) and copies of K, V and the heads' output
        n, d = ins[0]
        if self.dropout == 0:
            return (3 * n * d + self.num_heads * n + n * d) * FLOAT32
        return (3 * n * d + 3 * n * d + 3 * self.num_heads * n * n) * FLOAT32

    def label(self) -> str:
        return f"attention ×{self.num_heads} heads"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import SelfAttention

        return SelfAttention(ins[0][1], self.num_heads, dropout=self.dropout, bias=self.bias, batch_first=True)
