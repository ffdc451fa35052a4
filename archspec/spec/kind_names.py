"""What a user most likely meant by a layer `type` archspec does not know.

People arrive with the names of Keras (``Dense``, ``BatchNormalization``), PyTorch
(``ReLU``, ``Conv2d``) or habit (``fc``, ``bn``). A name is matched ignoring case,
``_`` and ``-`` against the kinds, the aliases the kinds declare and the spec's blocks;
then by spelling. Operations archspec does not have yet are said to be so, rather than
"corrected" into something else.
"""

from __future__ import annotations

import difflib

from archspec.layers import KIND_BY_TYPE

#: known operations without a kind yet (normalised name -> how to say it)
NOT_YET = {
    **dict.fromkeys(["lstm", "gru", "rnn", "simplernn", "lstmcell", "grucell"], "recurrent layers"),
    **dict.fromkeys(["embedding"], "embeddings"),
    **dict.fromkeys(["transformer", "transformerencoderlayer"], "whole transformer layers (write them from multihead_attention)"),
    **dict.fromkeys(["pixelshuffle", "pixelunshuffle"], "pixel shuffling"),
    **dict.fromkeys(["matmul", "einsum"], "multiplication of matrices"),
    **dict.fromkeys(["prelu", "selu", "mish", "softplus", "softsign", "celu", "glu"], "this activation"),
}

#: operations archspec writes another way
ANOTHER_WAY = {
    "depthwiseconv2d": "conv2d with `groups: depthwise`",
    "depthwiseconv1d": "conv1d with `groups: depthwise`",
    "separableconv2d": "a conv2d with `groups: depthwise`, then a 1×1 conv2d",
    "separableconv1d": "a conv1d with `groups: depthwise`, then a conv1d of kernel 1",
    "activation": "the activation's own type (relu, gelu, ...)",
    "inputlayer": "the top-level `input:` shape",
    "input": "the top-level `input:` shape",
    "sequential": "`layers:` (a chain), or a block",
    "squeeze": "a `reshape` to the shape without the size-1 axis",
    "unsqueeze": "a `reshape` with a size-1 axis added",
}


KINDS_HINT = 'the layer kinds are listed in the README\'s "Layer kinds" table; blocks are declared under `blocks:`'


def normalise(name: str) -> str:
    """``Global_Average-Pooling2D`` -> ``globalaveragepooling2d``."""
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def meaning(word: str, blocks: list[str]) -> tuple[str | None, str | None]:
    """(the type or block most likely meant, or None; a note when the operation exists elsewhere but not here)."""
    key = normalise(word)
    names: dict[str, str] = {}
    for tag, cls in KIND_BY_TYPE.items():
        for alias in (tag, *cls.aliases):
            names.setdefault(normalise(alias), tag)
    for block in blocks:
        names.setdefault(normalise(block), block)
    if key in names:
        return names[key], None
    if key in ANOTHER_WAY:
        return None, f"archspec writes it as {ANOTHER_WAY[key]}"
    if key in NOT_YET:
        return None, f"archspec does not support {NOT_YET[key]} yet"
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.75)
    return (names[close[0]] if close else None), None
