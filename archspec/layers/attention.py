"""Multi-head self-attention over a token sequence [N, D] (a transformer's mixing step)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from archspec.codes import Code
from archspec.layers.base import LayerBase, LayerError, Receptive, ReceptiveStep, Shape, fmt_shape
from archspec.layers.fields import Bool, PosInt, Probability

FLOAT32 = 4


# What torch keeps for the backward pass of nn.MultiheadAttention in training on the CPU (torch 2.x), besides the
# input (kept as the in-projection's input), for one sample: N tokens of D features, H heads. Two paths:
#
# - fused (scaled_dot_product_attention's flash kernel: dropout 0 and need_weights=False, as the layer is
#   lowered): Q, K and V (one 3·N·D tensor), the heads' output (N·D, shared with the output projection's input)
#   and a log-sum-exp per head and token (H·N). No N×N tensor is ever stored.
# - math (dropout > 0, or need_weights=True): each head's N×N weights are kept: the softmax's output, and with
#   dropout the mask (float32 on the CPU) and the dropped weights, read by the product with V. With
#   need_weights=False (SDPA's math kernel) Q and K are kept scaled (2·N·D) beside Q, K and V, and the heads'
#   output is copied (N·D); with need_weights=True (nn.MultiheadAttention's own code) only Q is kept scaled, and
#   the head-averaged weights (N·N) are returned to the caller besides.


def attention_saved_floats(n: int, d: int, heads: int, dropout: float, need_weights: bool = False) -> int:
    """float32 values autograd keeps for one sample's self-attention besides its input (see above)."""
    weights = heads * n * n  # one N×N matrix per head
    if dropout == 0 and not need_weights:  # fused
        return 3 * n * d + n * d + heads * n
    kept_weights = 3 * weights if dropout > 0 else weights  # softmax output (+ mask and dropped weights)
    scaled = n * d if need_weights else 2 * n * d
    return 3 * n * d + scaled + n * d + kept_weights


def attention_backward_floats(n: int, d: int, heads: int, dropout: float) -> int:
    """The most one sample's attention backward (need_weights=False, as lowered) adds at once to what is alive
    when it begins, its output's gradient included, in float32 values; measured on the CPU (torch 2.x) at
    several N, D, H as the peak of the allocator's bytes in use.

    Fused path: after the kernel's backward, the gradients of Q, K and V are packed back into the in-projection's
    [N, 3·D] gradient through two zero-filled 3·N·D copies and their sum, while Q, K, V and the heads' output
    have been freed: about 7·N·D. Math path: the gradient of the dropped weights (N×N per head) is made while the
    three stored N×N tensors are still alive, beside the output's and the heads' gradients; where N×N per head
    is small the gradient packing (3·N·D at that point) dominates instead.
    """
    if dropout == 0:
        return 7 * n * d - heads * n
    return 2 * n * d + max(heads * n * n, n * d)


def heads_divide(heads: int, shape: Shape, axis: int, words: str) -> None:
    """Each of ``heads`` heads takes an equal share of the ``words`` on ``axis`` (attention of any layout)."""
    size = shape[axis]
    if size % heads:
        raise LayerError(
            f"{heads} heads need {words} divisible by {heads}, got {size} ({fmt_shape(shape)})",
            field="num_heads",
            hint=f"use a divisor of {size} heads, or project to a multiple of {heads} {words}",
            code=Code.SIZE_CONTRADICTS_INPUT,
        )


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
        heads_divide(self.num_heads, shape, axis=1, words="features")

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
        n, d = ins[0]
        return attention_saved_floats(n, d, self.num_heads, self.dropout) * FLOAT32

    def backward_workspace_bytes(self, ins: list[Shape], out: Shape) -> int:
        n, d = ins[0]
        return attention_backward_floats(n, d, self.num_heads, self.dropout) * FLOAT32

    def label(self) -> str:
        return f"attention ×{self.num_heads} heads"

    def lower(self, ins: list[Shape]) -> Any:
        from archspec.layers.torch_modules import SelfAttention

        return SelfAttention(ins[0][1], self.num_heads, dropout=self.dropout, bias=self.bias, batch_first=True)
