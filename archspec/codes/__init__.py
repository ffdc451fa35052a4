"""Every diagnostic code archspec reports, in one table.

Each code has a member of ``Code`` (named after the rule: ``Code.UNKNOWN_FIELD`` is
``E201``) and a row in ``TABLE`` saying what it finds, why that matters, a spec that
triggers it, and how to fix it. The rest of archspec refers to codes only through
``Code``; the README's code tables, ``archspec explain`` and the code page are generated from here.

The first letter is the severity: E error (the spec is unusable; never suppressed),
W warning (valid, but probably not what was meant), I information. The hundreds
say where a code comes from: E1xx reading the YAML, E2xx the fields and values,
E3xx the graph and the shapes, W4xx and I5xx the lint rules.

Regenerate the README's tables and the code page (``page.py``) after editing a row::

    python -m archspec.codes --write-readme README.md --write-page
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass
from enum import Enum

from archspec.errors import Severity

__all__ = ["BEGIN", "END", "TABLE", "Code", "CodeInfo", "lookup", "readme_tables", "suggest_code", "update_readme"]


class Code(str, Enum):
    """A diagnostic code. Compares equal to its text (``Code.UNKNOWN_FIELD == "E201"``) and prints as it."""

    UNREADABLE_FILE = "E100"
    INVALID_YAML = "E101"
    DUPLICATE_KEY = "E102"
    MALFORMED_DOCUMENT = "E103"
    UNSUPPORTED_TAG = "E104"
    TOO_LARGE = "E105"
    UNKNOWN_FIELD = "E201"
    MISSING_FIELD = "E202"
    WRONG_TYPE = "E203"
    INVALID_VALUE = "E204"
    UNKNOWN_LAYER_TYPE = "E205"
    UNSUPPORTED_VERSION = "E206"
    INVALID_BLOCK_USE = "E207"
    EXPRESSION_SYNTAX = "E208"
    UNKNOWN_EXPRESSION_NAME = "E209"
    DIVISION_BY_ZERO = "E210"
    NON_INTEGER_RESULT = "E211"
    UNKNOWN_REFERENCE = "E301"
    CYCLIC_REFERENCE = "E302"
    DUPLICATE_LAYER_NAME = "E303"
    MERGE_SHAPE_MISMATCH = "E304"
    NON_POSITIVE_OUTPUT_SIZE = "E305"
    INCOMPATIBLE_INPUT = "E306"
    SIZE_CONTRADICTS_INPUT = "E307"
    CONV_BIAS_BEFORE_BATCHNORM = "W401"
    WINDOW_DROPS_INPUT = "W402"
    STRIDE_EXCEEDS_KERNEL = "W403"
    SMALL_RECEPTIVE_FIELD = "W404"
    STACKED_LINEAR_LAYERS = "W405"
    DROPOUT_BEFORE_BATCHNORM = "W406"
    MISALIGNED_MERGE = "W407"
    UNUSED_LAYER = "W408"
    OVERSIZED = "W409"
    LINEAR_ON_SPATIAL_MAP = "W410"
    NON_VECTOR_OUTPUT = "W411"
    SOFTMAX_INSIDE_NETWORK = "W412"
    CLASSIFIER_DOMINATES = "I501"
    SOFTMAX_OUTPUT = "I502"
    LOCAL_FEATURES_TO_CLASSIFIER = "I503"
    NO_SINGLE_RECEPTIVE_FIELD = "I504"

    def __str__(self) -> str:
        return str(self.value)

    @property
    def rule(self) -> str:
        """The kebab-case name: ``unknown-field``."""
        return self.name.lower().replace("_", "-")

    @property
    def severity(self) -> Severity:
        return Severity.of_code(self.value)

    @property
    def info(self) -> CodeInfo:
        return TABLE[self]


@dataclass(frozen=True)
class CodeInfo:
    """One row of the table: what a code finds, why it matters, an example and the fix (ruff's rule layout)."""

    code: Code
    summary: str  # one line: the README's "meaning" / "finds" column
    why: str  # why it matters
    fix: str  # what to do instead
    example: str | None  # a complete spec that reports this code (and nothing else) when linted
    fixed: str | None  # the example with the fix applied: it no longer reports the code

    @property
    def name(self) -> str:
        return self.code.rule

    @property
    def severity(self) -> Severity:
        return self.code.severity

    @property
    def lint_rule(self) -> bool:
        """A lint finding (W/I) rather than an error: can be selected, ignored and suppressed."""
        return self.severity is not Severity.ERROR

    @property
    def severity_note(self) -> str:
        """The severity and whether it can be silenced, as ``archspec explain`` and the code page head a row."""
        if self.lint_rule:
            return f"{self.severity.value}; silence with `# noqa: {self.code}` on its line or `--ignore {self.code}`"
        return f"{self.severity.value}; cannot be silenced"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code.value,
            "name": self.name,
            "severity": self.severity.value,
            "summary": self.summary,
            "why": self.why,
            "example": self.example,
            "fix": self.fix,
            "fixed": self.fixed,
        }

    def to_text(self) -> str:
        """The row as ``archspec explain CODE`` prints it."""

        def para(text: str) -> str:
            return textwrap.fill(text, width=100, initial_indent="  ", subsequent_indent="  ")

        def yaml(text: str) -> str:
            return textwrap.indent(text.rstrip("\n"), "    ")

        parts = [f"{self.code} {self.name} ({self.severity_note})", "", para(self.summary), "", "Why it matters:", para(self.why)]
        if self.example is not None:
            parts += ["", "Example:", yaml(self.example)]
        parts += ["", "Fix:", para(self.fix)]
        if self.fixed is not None:
            parts += ["", yaml(self.fixed)]
        return "\n".join(parts) + "\n"


def _spec(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


_ROWS = [
    CodeInfo(
        Code.UNREADABLE_FILE,
        "the file cannot be read (missing, a folder, no permission) — exit 2",
        "Nothing can be checked. It is a problem with the path, not with a spec, so the command exits 2 "
        "(usage or IO error) rather than 1 (findings) when it is the only problem.",
        "Check the path and the file's permissions.",
        None,
        None,
    ),
    CodeInfo(
        Code.INVALID_YAML,
        "YAML syntax error, or text that is not UTF-8",
        "A file that does not parse says nothing about the network; every other check needs the data. "
        "The position is where the YAML parser gave up, which may be after the real mistake.",
        "Fix the YAML at (or just before) the reported position; quote values that contain `: ` or `#`.",
        _spec(
            """
            archspec: 1
            name: resnet: small
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            name: "resnet: small"
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        ),
    ),
    CodeInfo(
        Code.DUPLICATE_KEY,
        "duplicate key",
        "YAML parsers silently keep the last of two equal keys, so one of the values you wrote is thrown away "
        "without a word; archspec refuses to guess which one you meant.",
        "Remove one of the two keys.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - type: conv2d
                out_channels: 16
                kernel_size: 3
                out_channels: 32
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - type: conv2d
                out_channels: 32
                kernel_size: 3
            """
        ),
    ),
    CodeInfo(
        Code.MALFORMED_DOCUMENT,
        "empty file, top level not a mapping, a key that is not a plain scalar, bad merge key",
        "A spec is a mapping of `archspec:`, `input:`, `layers:` and the optional sections; a document of any "
        "other shape has nothing archspec can read.",
        "Write the top level as a mapping (no leading `- `), starting with `archspec: 1`.",
        _spec(
            """
            - archspec: 1
            - input: [3, 32, 32]
            - layers: [{type: relu}]
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers: [{type: relu}]
            """
        ),
    ),
    CodeInfo(
        Code.UNSUPPORTED_TAG,
        "unsupported YAML tag (only plain data is read; nothing is ever executed)",
        "Tags such as `!!python/object` make some YAML loaders construct objects or run code. archspec reads "
        "plain data only and never executes anything, so a tagged value is dropped and reported.",
        "Remove the tag and write the value as plain YAML.",
        _spec(
            """
            archspec: 1
            name: !!python/name:os.system
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            name: system
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        ),
    ),
    CodeInfo(
        Code.TOO_LARGE,
        "file too large, too deeply nested, an alias bomb, or too many layers after expanding blocks",
        "A spec is a few kilobytes. Anything far beyond that (4 MiB of text, 64 levels of nesting, a million "
        "values after expanding YAML aliases, 200,000 layers after expanding blocks) is refused before it can "
        "exhaust memory or time.",
        "Check that the file is a spec; flatten the nesting, or use fewer or smaller `repeat`s.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        )
        + "description: "
        + "[" * 66
        + "]" * 66
        + "\n",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: relu}
            description: a ReLU
            """
        ),
    ),
    CodeInfo(
        Code.UNKNOWN_FIELD,
        'unknown field (with "did you mean")',
        "A misspelt field would otherwise be ignored and its default used instead of the value you wrote "
        "(`kernal_size: 3` leaves the kernel unset). Every mapping in a spec is strict.",
        "Correct the field name (the message suggests the closest one), or remove the field.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernal_size: 3}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.MISSING_FIELD,
        "missing required field or block parameter",
        "Some fields have no sensible default (a convolution's `out_channels` and `kernel_size`, every "
        "layer's `type`, a block parameter declared `null`); the layer cannot be built without them.",
        "Add the field (or pass the block parameter on the block's call).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.WRONG_TYPE,
        "wrong type",
        'Numbers are strict: `"3"` is a string, not 3, and `yes` is not a count. Converting silently would '
        "hide quoting mistakes and values meant for another field.",
        "Write the value with the expected type (an integer, a `[h, w]` pair, true/false, a list of names).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: "3"}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.INVALID_VALUE,
        "invalid value (out of range, `padding: same` with stride > 1, bad name, bad `repeat`)",
        "The value has the right type but no layer can have it: PyTorch would refuse it when the model is "
        "built, or the network would not be the one described.",
        "Use a value in the range the message gives (for `padding: same` with a stride, give the padding as a number).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: same}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
            """
        ),
    ),
    CodeInfo(
        Code.UNKNOWN_LAYER_TYPE,
        'unknown layer type (with "did you mean")',
        "The layer's `type` is neither a built-in layer kind nor a block of this file, so nothing is known "
        "about what it does to its input.",
        "Use one of the layer kinds (`archspec schema` lists them) or define the block under `blocks:`.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2, out_channels: 16, kernel_size: 3}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.UNSUPPORTED_VERSION,
        "unsupported format version",
        "`archspec:` names the version of the spec format the file is written in; a version this archspec "
        "does not know may mean fields it would misread.",
        "Write `archspec: 1`, or use the archspec release that reads the file's version.",
        _spec(
            """
            archspec: 2
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: relu}
            """
        ),
    ),
    CodeInfo(
        Code.INVALID_BLOCK_USE,
        "unknown block parameter, `$param` outside a block, a block using itself",
        "A block call's keys set the block's declared parameters; one it does not declare would be ignored. "
        "A `$param` needs a block to give it a value, and a block that contains itself never ends.",
        "Pass only the parameters declared under `blocks.NAME.params` (the message suggests the closest), and "
        "use `$param` only inside a block's layers.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            blocks:
              conv_relu:
                params: {width: 16}
                layers:
                  - {type: conv2d, out_channels: $width, kernel_size: 3, padding: 1}
                  - {type: relu}
            layers:
              - {type: conv_relu, widht: 32}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            blocks:
              conv_relu:
                params: {width: 16}
                layers:
                  - {type: conv2d, out_channels: $width, kernel_size: 3, padding: 1}
                  - {type: relu}
            layers:
              - {type: conv_relu, width: 32}
            """
        ),
    ),
    CodeInfo(
        Code.EXPRESSION_SYNTAX,
        "a `${...}` expression that does not parse",
        "An expression computes a value from the block's parameters and the input's shape; one that cannot be "
        "read has no value, and guessing one would build a different network.",
        "Write integers, parameter names, `in.channels` / `in.size` / `in.shape[i]`, `+ - * / // %`, parentheses, "
        "`min`, `max` and `make_divisible(v, d)`; the message points at the first character that does not fit.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: "${(3 // 2}"}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: "${3 // 2}"}
            """
        ),
    ),
    CodeInfo(
        Code.UNKNOWN_EXPRESSION_NAME,
        "a `${...}` expression names an unknown parameter, function or field of `in`",
        "A name that the block does not declare has no value; it is most often a misspelt parameter.",
        "Use the block's parameters (without the `$`), `in.channels`, `in.size`, `in.height`, `in.width`, "
        "`in.length`, `in.depth` or `in.shape[i]`; the message suggests the closest name.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            blocks:
              expand:
                params: {ratio: 4}
                layers:
                  - {type: conv2d, out_channels: "${ratoi * in.channels}", kernel_size: 1}
            layers:
              - {type: expand}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            blocks:
              expand:
                params: {ratio: 4}
                layers:
                  - {type: conv2d, out_channels: "${ratio * in.channels}", kernel_size: 1}
            layers:
              - {type: expand}
            """
        ),
    ),
    CodeInfo(
        Code.DIVISION_BY_ZERO,
        "a `${...}` expression divides by zero",
        "`/`, `//`, `%` and make_divisible have no value for a divisor of 0.",
        "Change the divisor, or the parameter it comes from, to a non-zero value.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            blocks:
              squeeze:
                params: {reduction: 0}
                layers:
                  - {type: conv2d, out_channels: "${in.channels // reduction}", kernel_size: 1}
            layers:
              - {type: squeeze}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            blocks:
              squeeze:
                params: {reduction: 3}
                layers:
                  - {type: conv2d, out_channels: "${in.channels // reduction}", kernel_size: 1}
            layers:
              - {type: squeeze}
            """
        ),
    ),
    CodeInfo(
        Code.NON_INTEGER_RESULT,
        "a `${...}` expression whose value is not an integer",
        "`/` and decimal multipliers may leave a fraction (numbers behave as in Python); a channel count or a "
        "size must be a whole number, and rounding it silently could change the network.",
        "Round explicitly: `//` floors, and make_divisible(v, d) rounds to a multiple of d as torchvision does.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: "${24 * 0.3}", kernel_size: 3}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: "${make_divisible(24 * 0.3, 8)}", kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.UNKNOWN_REFERENCE,
        "unknown layer reference in `inputs` or `output`",
        "A layer reading from a layer that does not exist has no input; the graph cannot be built and no "
        "shape after it can be known.",
        "Name a layer of the same list (or block), or `input` for the network input; the message suggests the closest name.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: conv1, out_channels: 3, kernel_size: 3, padding: 1}
              - {type: add, inputs: [input, conv_1]}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: conv1, out_channels: 3, kernel_size: 3, padding: 1}
              - {type: add, inputs: [input, conv1]}
            """
        ),
    ),
    CodeInfo(
        Code.CYCLIC_REFERENCE,
        "cyclic reference",
        "A feed-forward network is a directed acyclic graph: a layer that depends on its own output can never be computed.",
        "Check the `inputs` of the layers named in the cycle.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: relu, name: a, inputs: b}
              - {type: relu, name: b, inputs: a}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: relu, name: a, inputs: input}
              - {type: relu, name: b, inputs: a}
            """
        ),
    ),
    CodeInfo(
        Code.DUPLICATE_LAYER_NAME,
        "duplicate layer name",
        "References by name (`inputs`, `output`), the report and the torch module names all need each layer's name to be unique.",
        "Rename one of the layers.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: conv1, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: conv2d, name: conv2, out_channels: 16, kernel_size: 3, padding: 1}
            """
        ),
    ),
    CodeInfo(
        Code.MERGE_SHAPE_MISMATCH,
        "add/concat inputs disagree — names both inputs and the layer on each path that changed the shape",
        "`add` needs equal shapes and `concat` equal sizes on every other axis; PyTorch would fail on the first "
        "batch. The mistake is usually upstream, where one path changed the shape and the other did not.",
        "Make both paths change the shape the same way (e.g. a strided 1×1 convolution on the shortcut).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: add, inputs: [input, conv]}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: conv, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: conv2d, name: shortcut, inputs: input, out_channels: 16, kernel_size: 1}
              - {type: add, inputs: [shortcut, conv]}
            """
        ),
    ),
    CodeInfo(
        Code.NON_POSITIVE_OUTPUT_SIZE,
        "an output size reaches zero or below",
        "A window larger than its (padded) input leaves nothing to slide over: the layer has no output, and "
        "neither does anything after it. Usually the network downsamples too much for its input size.",
        "Use a smaller kernel or stride, add padding, or downsample less before this layer.",
        _spec(
            """
            archspec: 1
            input: [3, 4, 4]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 5}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 4, 4]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.INCOMPATIBLE_INPUT,
        "an input the layer cannot take (rank, arity, groups not dividing channels, axis or index out of range)",
        "The layer is valid on its own, but not on what it receives: a convolution on a flat vector, a merge "
        "with one input, `groups` that do not divide the channels. PyTorch would fail on the first batch.",
        "Fix the layers before it (e.g. a flatten before a linear layer), or the layer's own fields.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, groups: 2}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 15, kernel_size: 3, groups: 3}
            """
        ),
    ),
    CodeInfo(
        Code.SIZE_CONTRADICTS_INPUT,
        "a stated `in_channels` / `in_features` / `num_features` that the input contradicts",
        "Input widths are inferred from the layer before; a stated one that differs means the spec and the "
        "network it describes disagree (often a layer added or removed upstream).",
        "Remove the stated width (it is inferred) or fix the layer before.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, in_channels: 1, out_channels: 16, kernel_size: 3}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3}
            """
        ),
    ),
    CodeInfo(
        Code.CONV_BIAS_BEFORE_BATCHNORM,
        "a convolution or linear layer with a bias feeding only a batchnorm, which cancels it",
        "Batchnorm subtracts the per-channel mean of its input, which removes any constant added before it: "
        "the layer's bias is parameters and work that cannot change the output.",
        "Set `bias: false` on the convolution (or linear layer).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: batchnorm2d}
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu}
            """
        ),
    ),
    CodeInfo(
        Code.WINDOW_DROPS_INPUT,
        "a convolution or pooling window that never reads the last rows/columns of its input",
        "When (size + 2·padding − kernel) is not a multiple of the stride, the last window stops short and the "
        "bottom rows or right columns are computed upstream but never used.",
        "Add padding, use `ceil_mode: true` (pooling), or change the input size.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
            """
        ),
    ),
    CodeInfo(
        Code.STRIDE_EXCEEDS_KERNEL,
        "a stride larger than the window: input positions no window reads",
        "Windows that step further than they reach leave gaps: some input positions never influence the "
        "output, so the layers before them compute features nobody reads.",
        "Use a stride no larger than the kernel.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: maxpool2d, kernel_size: 1, stride: 2}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: maxpool2d, kernel_size: 2, stride: 2}
            """
        ),
    ),
    CodeInfo(
        Code.SMALL_RECEPTIVE_FIELD,
        "global pooling over features that each see less than the whole input",
        "Each feature before the global pooling looks at a patch of the image; if no patch covers the image, "
        "the network can only average local evidence and never relate distant parts of the input. The pooling "
        "judged is the one on the path to the output (the classifier's), found by walking back from the output "
        "along the input that carries the most values; a global pooling inside the network, such as a "
        "squeeze-and-excitation gate multiplied back onto its map, is not it (and makes every unit after the "
        "multiply depend on the whole input).",
        "Add layers or downsample more (strided convolutions, pooling) before the global pooling.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: globalavgpool2d}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: maxpool2d, kernel_size: 4}
              - {type: conv2d, out_channels: 16, kernel_size: 5, padding: 2}
              - {type: relu}
              - {type: maxpool2d, kernel_size: 4}
              - {type: globalavgpool2d}
            """
        ),
    ),
    CodeInfo(
        Code.STACKED_LINEAR_LAYERS,
        "two convolutions/linear layers with only affine layers between them, which one layer could replace "
        "with no more parameters",
        "A composition of linear maps is a linear map: without a non-linearity between them, two layers "
        "express nothing one layer could not. That one layer mixes every input channel into every output "
        "channel over the composed window (r + (r' - 1)·S on each axis: a 3×3 then a 1×1 is a 3×3, two 3×3 "
        "are a 5×5), or, where the layout changes between them, maps every input value to every output value; "
        "with a bias per output. The rule fires only when that layer needs no more parameters than the two "
        "maps and the affine layers between them together, and when nothing else reads the layers before the "
        "second map (a map that also feeds the trunk stays either way). A factorisation that saves parameters is a design, "
        "not redundancy: depthwise → pointwise, a linear bottleneck → its expansion, a downsampling 1×1 → a "
        "depthwise conv, two 3×3 convs of one width, a low-rank pair of linear layers.",
        "Add an activation (`relu`, ...) between them, or replace them by the one layer the message sizes.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: conv2d, out_channels: 16, kernel_size: 1}
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: conv2d, out_channels: 16, kernel_size: 1}
              - {type: relu}
            """
        ),
    ),
    CodeInfo(
        Code.DROPOUT_BEFORE_BATCHNORM,
        "dropout feeding batchnorm (its statistics differ between training and evaluation)",
        "Dropout changes the variance of its output in training but not in evaluation, so the running "
        "statistics batchnorm learns in training do not match what it sees at test time (the 'variance shift').",
        "Move the dropout after the batchnorm (or after the block).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
              - {type: dropout2d, p: 0.2}
              - {type: batchnorm2d}
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu}
              - {type: dropout2d, p: 0.2}
            """
        ),
    ),
    CodeInfo(
        Code.MISALIGNED_MERGE,
        "merged paths whose receptive fields are centred on different input positions",
        "An add or concat combines units at the same output position; if the paths' windows are centred on "
        "different input positions, each output unit mixes features of shifted patches of the image.",
        "Pad the paths alike (e.g. padding k//2 on each convolution) so that their windows stay centred.",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: a, out_channels: 16, kernel_size: 2, stride: 2}
              - {type: conv2d, name: b, inputs: input, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
              - {type: add, inputs: [a, b]}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, name: a, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
              - {type: conv2d, name: b, inputs: input, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
              - {type: add, inputs: [a, b]}
            """
        ),
    ),
    CodeInfo(
        Code.UNUSED_LAYER,
        "a layer whose output never reaches the network output",
        "A layer off the path to the output costs parameters, memory and time in training and changes "
        "nothing; it is often a branch whose merge was forgotten or an `output:` naming the wrong layer.",
        "Remove the layer, or connect it (e.g. merge the branch back with `add`/`concat`).",
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu, name: act}
              - {type: conv2d, name: side, out_channels: 16, kernel_size: 1}
              - {type: maxpool2d, inputs: act, kernel_size: 2}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 32, 32]
            layers:
              - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
              - {type: relu, name: act}
              - {type: maxpool2d, inputs: act, kernel_size: 2}
            """
        ),
    ),
    CodeInfo(
        Code.OVERSIZED,
        "parameters (> 64 GiB) or one sample's activations (> 16 GiB) beyond any device: a units mistake?",
        "No accelerator holds that much; such sizes usually come from a mistake in the units (an input given "
        "in pixels of a full photograph, a width with three zeros too many). `archspec build` and `train` "
        "refuse such a model unless forced.",
        "Check the input size and the layer widths.",
        _spec(
            """
            archspec: 1
            input: [3, 4096, 4096]
            layers:
              - {type: conv2d, out_channels: 256, kernel_size: 3, padding: 1}
              - {type: relu}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 256, 256]
            layers:
              - {type: conv2d, out_channels: 256, kernel_size: 3, padding: 1}
              - {type: relu}
            """
        ),
    ),
    CodeInfo(
        Code.LINEAR_ON_SPATIAL_MAP,
        "a linear layer on a spatial map: it acts on the last axis only (a flatten forgotten?)",
        "`linear` transforms the last axis, as PyTorch's Linear does: on an 8×32×32 map it mixes the 32 columns "
        "of each row and gives 8×32×10, not 10 class scores. Without a flatten or global pooling first, this "
        "is almost always a mistake, and training a classifier on it fails.",
        "Add a flatten (or global pooling) before the linear layer.",
        _spec(
            """
            archspec: 1
            input: [3, 3, 3]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: linear, out_features: 10}  # noqa: W411
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 3, 3]
            layers:
              - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: globalavgpool2d}
              - {type: linear, out_features: 10}
            """
        ),
    ),
    CodeInfo(
        Code.NON_VECTOR_OUTPUT,
        "a classifier's output (before a final softmax) is not a vector of class scores, or a segmentation "
        "network's not class scores per pixel",
        "`archspec train` trains classifiers: cross-entropy wants one score per class for each image. A network "
        "that ends in a fully-connected layer, or has a `training:` section, but whose output keeps spatial axes "
        "(C×H×W) cannot be trained that way; a flatten or pooling is usually missing. A network for dense "
        "prediction has such outputs on purpose: `training: {task: segmentation}` trains it with per-pixel "
        "cross-entropy, and then wants class scores per pixel, K×H×W at the input's H×W.",
        "End a classifier in a vector: flatten or pool globally before it. End a segmentation network in a 1×1 "
        "convolution with one channel per class, at the input's size.",
        _spec(
            """
            archspec: 1
            input: [3, 3, 3]
            layers:
              - {type: conv2d, out_channels: 10, kernel_size: 3, padding: 1}
            training: {epochs: 1}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 3, 3]
            layers:
              - {type: conv2d, out_channels: 10, kernel_size: 3, padding: 1}
              - {type: globalavgpool2d}
            training: {epochs: 1}
            """
        ),
    ),
    CodeInfo(
        Code.SOFTMAX_INSIDE_NETWORK,
        "a softmax or log-softmax in the middle of the network",
        "Softmax turns scores into probabilities that sum to one; inside a network it squashes the features "
        "(their gradients vanish as it saturates) and, over the channels, makes them depend on each other. "
        "It belongs at the output, where training replaces it by cross-entropy on the logits.",
        "Remove it, or move it to the output.",
        _spec(
            """
            archspec: 1
            input: [8]
            layers:
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
              - {type: softmax}
              - {type: linear, out_features: 8}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [8]
            layers:
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
            """
        ),
    ),
    CodeInfo(
        Code.CLASSIFIER_DOMINATES,
        "a fully-connected layer holds most of the parameters, as in the text's CNN",
        "A linear layer on flattened feature maps has a weight for every position of every channel: it holds "
        "most of the parameters, overfits easily, and ties the network to one input size.",
        "Global average pooling before the classifier shrinks it to one weight per channel and class.",
        _spec(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: maxpool2d, kernel_size: 2}
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: flatten}
              - {type: linear, out_features: 10}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 8, 8]
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: maxpool2d, kernel_size: 2}
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: globalavgpool2d}
              - {type: linear, out_features: 10}
            """
        ),
    ),
    CodeInfo(
        Code.SOFTMAX_OUTPUT,
        "the network ends in softmax or log-softmax; training feeds the logits before it to the loss",
        "Cross-entropy applies log-softmax itself, so `archspec train` trains on the logits before the final "
        "softmax (or log-softmax) and keeps it for inference. Nothing is wrong; the note says what is trained.",
        "Nothing to do; or end the network at the logits and apply softmax when predicting.",
        _spec(
            """
            archspec: 1
            input: [8]
            layers:
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
              - {type: softmax}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [8]
            layers:
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
              - {type: relu}
              - {type: linear, out_features: 8}
            """
        ),
    ),
    CodeInfo(
        Code.LOCAL_FEATURES_TO_CLASSIFIER,
        "the last spatial features see less than the input; only the flattened head combines them",
        "The convolutional part never relates distant parts of the image: only the fully-connected head, "
        "which has a weight per position, can. The network then depends on where things are in the image.",
        "Downsample more or add layers so that the last spatial features see the whole input.",
        _spec(
            """
            archspec: 1
            input: [3, 16, 16]
            layers:
              - {type: conv2d, out_channels: 32, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: maxpool2d, kernel_size: 4}
              - {type: flatten}
              - {type: linear, out_features: 1}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [3, 16, 16]
            layers:
              - {type: conv2d, out_channels: 32, kernel_size: 3, padding: 1}
              - {type: relu}
              - {type: maxpool2d, kernel_size: 4}
              - {type: conv2d, out_channels: 32, kernel_size: 5, padding: 2}
              - {type: relu}
              - {type: flatten}
              - {type: linear, out_features: 1}
            """
        ),
    ),
    CodeInfo(
        Code.NO_SINGLE_RECEPTIVE_FIELD,
        "from this layer on no single receptive field (r, S, P) describes every unit, so none is given",
        "The receptive field is given as one size r, step S and padding P per axis. A concat along a spatial "
        "axis puts units of different inputs side by side, an adaptive pooling with unequal windows "
        "gives units of different sizes, and an upsampling or a transposed convolution with stride above 1 "
        "steps over its input by a fraction, its neighbouring units seeing different numbers of positions: "
        "no one (r, S, P) is true of all of them, so the field is left out (null) from there on rather than "
        "shown wrong.",
        "Nothing to do; or join along the channels, or choose an output size that divides the input.",
        _spec(
            """
            archspec: 1
            input: [2, 6, 6]
            layers:
              - {type: conv2d, name: a, out_channels: 2, kernel_size: 3, padding: 1}
              - {type: concat, axis: 2, inputs: [a, input]}
            """
        ),
        _spec(
            """
            archspec: 1
            input: [2, 6, 6]
            layers:
              - {type: conv2d, name: a, out_channels: 2, kernel_size: 3, padding: 1}
              - {type: concat, inputs: [a, input]}
            """
        ),
    ),
]

#: every code's row, in the order of ``Code`` (errors, warnings, infos)
TABLE: dict[Code, CodeInfo] = {row.code: row for row in sorted(_ROWS, key=lambda r: list(Code).index(r.code))}


def lookup(word: str) -> CodeInfo | None:
    """The row of a code (``E201``, any case) or a name (``unknown-field``); None if there is none."""
    key = word.strip()
    for code, row in TABLE.items():
        if key.upper() == code.value or key.lower() == row.name:
            return row
    return None


def suggest_code(word: str) -> CodeInfo | None:
    """The row whose code or name is closest to ``word``, for "did you mean"."""
    by_word = {code.value: row for code, row in TABLE.items()} | {row.name: row for row in TABLE.values()}
    key = word.strip()
    if key[:1].upper() in "EWI":  # a code typed with letters for digits: W4O1, E2l1
        key = key[:1] + key[1:].upper().replace("O", "0").replace("I", "1").replace("L", "1")
        if key.upper() in by_word:
            return by_word[key.upper()]
    matches = difflib.get_close_matches(key.upper(), [c.value for c in TABLE], n=1, cutoff=0.5) or difflib.get_close_matches(
        key.lower(), [row.name for row in TABLE.values()], n=1, cutoff=0.6
    )
    return by_word[matches[0]] if matches else None


# --------------------------------------------------------------------------- README

BEGIN = "<!-- codes:begin -- generated from archspec.codes.TABLE; run `python -m archspec.codes --write-readme README.md` -->"
END = "<!-- codes:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_tables() -> str:
    """The README's "Diagnostic codes" and "Lint rules" sections, markers included."""
    errors = [row for row in TABLE.values() if not row.lint_rule]
    rules = [row for row in TABLE.values() if row.lint_rule]
    lines = [BEGIN, "### Diagnostic codes", "", "| code | name | meaning |", "|---|---|---|"]
    lines += [f"| {row.code} | {row.name} | {_cell(row.summary)} |" for row in errors]
    lines += ["", "### Lint rules", "", "| code | rule | finds |", "|---|---|---|"]
    lines += [f"| {row.code} | {row.name} | {_cell(row.summary)} |" for row in rules]
    note = (
        "`archspec explain CODE` (a code or a name: `archspec explain unknown-field`) prints why a code matters, "
        "a spec that triggers it and the fix; `archspec explain` lists them all. The same for every code is on one "
        "page, [archspec/codes/CODES.md](archspec/codes/CODES.md), installed with archspec: diagnostics link to it. "
        "These tables and the page are generated from the table in `archspec/codes/`: "
        "`python -m archspec.codes --write-readme README.md --write-page` rewrites them."
    )
    lines += ["", textwrap.fill(note, width=104, break_on_hyphens=False, break_long_words=False), END]
    return "\n".join(lines) + "\n"


def update_readme(text: str) -> str:
    """``text`` with the part between the markers (inclusive) replaced by ``readme_tables()``."""
    start = text.find("<!-- codes:begin")
    end = text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no `<!-- codes:begin` ... `{END}` markers in the text")
    return text[:start] + readme_tables() + text[end + len(END) :].removeprefix("\n")
