"""Integer expressions in spec values, written ``${...}``: a small parser and a safe evaluator.

Grammar (nothing else parses, so no expression can reach Python)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/" | "//" | "%") unary)*
    unary   := ("-" | "+") unary | atom
    atom    := NUMBER | NAME | "in" "." FIELD ["[" expr "]"] | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Names are the block's parameters; ``in.channels``, ``in.size`` (all spatial sizes
equal), ``in.height`` / ``in.width`` / ``in.length`` / ``in.depth`` and
``in.shape[i]`` read the shape of the input. Functions: ``min``, ``max`` and
``make_divisible(v, d[, min_value])``.

Numbers behave as in Python: integers are exact, and a decimal such as a width multiplier
``0.75`` or a true division ``/`` gives a floating-point value, so that
``make_divisible(c * 1.4, 8)`` rounds exactly as torchvision's own code does (180 * 1.4
is 251.99999999999997 there, and the channel count 248). The value of the whole
expression must be a whole number. ``make_divisible`` is torchvision's ``_make_divisible``
line for line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from archspec.codes import Code
from archspec.errors import ArchspecError
from archspec.spec.locate import suggest

MAX_LENGTH = 2_000  # characters inside ${...}; real expressions are a few dozen
MAX_DEPTH = 50  # nesting of parentheses and operators
MAX_DIGITS = 40  # in one number literal
FUNCTIONS = {"min": (2, None), "max": (2, None), "make_divisible": (2, 3)}  # name -> (fewest, most) arguments
SIZE_AXES = {"length": -1, "width": -1, "height": -2, "depth": -3}  # counted from the last axis
IN_FIELDS = ("channels", "size", "height", "width", "length", "depth", "shape")

_TOKEN = re.compile(r"\s*(?:([0-9]+(?:\.[0-9]+)?)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*/%(),.\[\]]))")


class ExprError(ArchspecError):
    """A bad expression: ``offset`` is where, in the text inside ``${...}``, the problem starts."""

    def __init__(self, code: Code, message: str, offset: int = 0, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.hint = hint


class NeedsInput(ArchspecError):
    """The expression reads the input's shape (or a parameter that does), which is not known yet."""


# --- the tree ---


@dataclass(frozen=True)
class Num:
    value: int | float
    at: int


@dataclass(frozen=True)
class Name:
    name: str
    at: int


@dataclass(frozen=True)
class InField:
    field: str
    index: Node | None
    at: int


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node
    at: int


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node
    at: int  # of the operator


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    at: int


Node: TypeAlias = Num | Name | InField | Unary | Binary | Call


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${")


def body(value: str) -> str:
    """The text between ``${`` and ``}``; a missing ``}`` is a syntax error at the end."""
    if len(value) > MAX_LENGTH + 3:
        raise ExprError(Code.EXPRESSION_SYNTAX, f"expression longer than {MAX_LENGTH:,} characters", 0)
    if not value.endswith("}"):
        raise ExprError(Code.EXPRESSION_SYNTAX, "expression not closed: `${` needs a matching `}` at the end", len(value) - 2)
    return value[2:-1]


# --- parsing ---


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, offset)
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None:
                at = pos + len(text[pos:]) - len(text[pos:].lstrip())
                raise ExprError(Code.EXPRESSION_SYNTAX, f"unexpected character `{text[at]}`", at, _GRAMMAR)
            kind = "num" if match.group(1) else "name" if match.group(2) else "op"
            start = match.start(match.lastindex or 0)
            self.tokens.append((kind, match.group(match.lastindex or 0), start))
            pos = match.end()
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, text: str) -> bool:
        if self.peek()[1] == text and self.peek()[0] == "op":
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            raise self.unexpected(f"expected `{text}`")

    def unexpected(self, wanted: str) -> ExprError:
        kind, text, at = self.peek()
        got = "the end of the expression" if kind == "end" else f"`{text}`"
        return ExprError(Code.EXPRESSION_SYNTAX, f"{wanted}, got {got}", at, _GRAMMAR)

    def parse(self) -> Node:
        if not self.tokens:
            raise ExprError(Code.EXPRESSION_SYNTAX, "empty expression", 0, _GRAMMAR)
        node = self.expr()
        if self.peek()[0] != "end":
            raise self.unexpected("expected an operator")
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(Code.EXPRESSION_SYNTAX, f"expression nested deeper than {MAX_DEPTH} levels", self.peek()[2])
        node = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op, at = self.peek()[1], self.peek()[2]
            self.i += 1
            node = Binary(op, node, self.term(), at)
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek()[1] in ("*", "/", "//", "%") and self.peek()[0] == "op":
            op, at = self.peek()[1], self.peek()[2]
            self.i += 1
            node = Binary(op, node, self.unary(), at)
        return node

    def unary(self) -> Node:
        kind, text, at = self.peek()
        if kind == "op" and text in ("-", "+"):
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprError(Code.EXPRESSION_SYNTAX, f"expression nested deeper than {MAX_DEPTH} levels", at)
            node = Unary(text, self.unary(), at)
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        kind, text, at = self.peek()
        if kind == "num":
            self.i += 1
            if len(text) > MAX_DIGITS:
                raise ExprError(Code.EXPRESSION_SYNTAX, f"number longer than {MAX_DIGITS} digits", at)
            return Num(float(text) if "." in text else int(text), at)
        if kind == "name":
            self.i += 1
            if text == "in":
                return self.in_field(at)
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                return self.call(text, at)
            if self.peek()[1] == ".":
                raise ExprError(
                    Code.EXPRESSION_SYNTAX, f"`{text}` has no fields: only `in.` does", self.peek()[2], "write `in.channels`"
                )
            return Name(text, at)
        if self.take("("):
            node = self.expr()
            self.expect(")")
            return node
        raise self.unexpected("expected a number, a name or `(`")

    def in_field(self, at: int) -> Node:
        self.expect(".")
        kind, field, field_at = self.peek()
        if kind != "name":
            raise self.unexpected("expected a field of `in` (channels, size, height, width, length, depth, shape)")
        self.i += 1
        if field not in IN_FIELDS:
            guess = suggest(field, IN_FIELDS)
            raise ExprError(
                Code.UNKNOWN_EXPRESSION_NAME,
                f"`in` has no field `{field}`" + (f" — did you mean `in.{guess}`?" if guess else ""),
                field_at,
                None if guess else "fields of `in`: " + ", ".join(IN_FIELDS),
            )
        index = None
        if field == "shape":
            self.expect("[")
            index = self.expr()
            self.expect("]")
        return InField(field, index, at)

    def call(self, func: str, at: int) -> Node:
        if func not in FUNCTIONS:
            guess = suggest(func, FUNCTIONS)
            raise ExprError(
                Code.UNKNOWN_EXPRESSION_NAME,
                f"unknown function `{func}`" + (f" — did you mean `{guess}`?" if guess else ""),
                at,
                None if guess else "functions: " + ", ".join(FUNCTIONS),
            )
        self.expect("(")
        args = [self.expr()]
        while self.take(","):
            args.append(self.expr())
        self.expect(")")
        low, high = FUNCTIONS[func]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"{low} or {high}" if high else f"at least {low}"
            raise ExprError(Code.EXPRESSION_SYNTAX, f"`{func}` takes {wanted} arguments, got {len(args)}", at)
        return Call(func, tuple(args), at)


_GRAMMAR = "integers, block parameters, in.channels / in.size / in.shape[i], + - * / // %, min, max, make_divisible, ( )"


def parse(text: str) -> Node:
    """The tree of the text inside ``${...}``; raises ExprError."""
    return _Parser(text).parse()


def names_in(node: Node) -> list[tuple[str, int]]:
    """The parameter names a tree reads, with their offsets."""
    if isinstance(node, Name):
        return [(node.name, node.at)]
    if isinstance(node, InField):
        return names_in(node.index) if node.index is not None else []
    if isinstance(node, Unary):
        return names_in(node.operand)
    if isinstance(node, Binary):
        return names_in(node.left) + names_in(node.right)
    if isinstance(node, Call):
        return [n for arg in node.args for n in names_in(arg)]
    return []


# --- evaluation ---

Number: TypeAlias = int | float
Lookup = Callable[[str, int], Number]  # (name, offset) -> value; raises ExprError or NeedsInput


def evaluate(node: Node, lookup: Lookup, shape: tuple[int, ...] | None) -> Number:
    """The value of a tree, as Python computes it. ``shape`` is the input's (None: not known yet, so reading it
    raises NeedsInput)."""
    try:
        return _evaluate(node, lookup, shape)
    except OverflowError:  # a float beyond its range (integers have none)
        raise ExprError(Code.INVALID_VALUE, "a value too large for floating point", node.at) from None


def _evaluate(node: Node, lookup: Lookup, shape: tuple[int, ...] | None) -> Number:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return lookup(node.name, node.at)
    if isinstance(node, InField):
        return _in_field(node, lookup, shape)
    if isinstance(node, Unary):
        value = _evaluate(node.operand, lookup, shape)
        return -value if node.op == "-" else value
    if isinstance(node, Binary):
        return _binary(node, _evaluate(node.left, lookup, shape), _evaluate(node.right, lookup, shape))
    args = [_evaluate(a, lookup, shape) for a in node.args]
    if node.func == "min":
        return min(args)
    if node.func == "max":
        return max(args)
    return make_divisible(args, node.at)


def _binary(node: Binary, left: Number, right: Number) -> Number:
    if node.op in ("+", "-", "*"):
        return _finite(left + right if node.op == "+" else left - right if node.op == "-" else left * right, node)
    if right == 0:
        raise ExprError(Code.DIVISION_BY_ZERO, f"division by zero (`{node.op}` with a right side of 0)", node.at)
    value = left / right if node.op == "/" else left // right if node.op == "//" else left % right
    return _finite(value, node)


def _finite(value: Number, node: Binary) -> Number:
    if isinstance(value, float) and not math.isfinite(value):  # float products overflow to inf silently
        raise ExprError(Code.INVALID_VALUE, "a value too large for floating point", node.at)
    return value


def _in_field(node: InField, lookup: Lookup, shape: tuple[int, ...] | None) -> int:
    if shape is None:
        raise NeedsInput
    if node.field == "channels":
        return shape[0]
    spatial = shape[1:]
    if node.field == "shape":
        assert node.index is not None
        index = _evaluate(node.index, lookup, shape)
        if index != int(index) or not -len(shape) <= index < len(shape):
            raise ExprError(
                Code.UNKNOWN_EXPRESSION_NAME,
                f"`in.shape[{index}]`: the input {list(shape)} has axes 0 to {len(shape) - 1} (or -1 to -{len(shape)})",
                node.at,
            )
        return shape[int(index)]
    if node.field == "size":
        if not spatial or len(set(spatial)) != 1:
            what = "no spatial axes" if not spatial else "unequal spatial sizes"
            raise ExprError(
                Code.UNKNOWN_EXPRESSION_NAME,
                f"`in.size`: the input {list(shape)} has {what}",
                node.at,
                "read one axis: in.height, in.width, in.shape[i]",
            )
        return spatial[0]
    offset = SIZE_AXES[node.field]
    if len(spatial) < -offset or (node.field == "length" and len(spatial) != 1):
        raise ExprError(Code.UNKNOWN_EXPRESSION_NAME, f"`in.{node.field}`: the input {list(shape)} has no {node.field}", node.at)
    return spatial[offset]


def make_divisible(args: list[Number], at: int = 0) -> int:
    """torchvision's ``_make_divisible(v, divisor, min_value=None)``, line for line.

    >>> make_divisible([32 * 0.25, 8]), make_divisible([24 * 4 // 4, 8]), make_divisible([10, 8])
    (8, 24, 16)
    """
    v, divisor = args[0], args[1]
    min_value = args[2] if len(args) > 2 else None
    if divisor == 0:
        raise ExprError(Code.DIVISION_BY_ZERO, "make_divisible: division by zero (a divisor of 0)", at)
    for what, value in (("divisor", divisor), ("min_value", min_value)):
        if value is not None and (value != int(value) or value < 1):
            raise ExprError(Code.NON_INTEGER_RESULT, f"make_divisible: the {what} must be a positive integer, got {value}", at)
    d = int(divisor)
    low = d if min_value is None else int(min_value)
    new_v = max(low, int(v + d / 2) // d * d)
    if new_v < 0.9 * v:  # do not round down by more than 10%
        new_v += d
    return new_v


def integer(value: Number, text: str) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ExprError(
            Code.NON_INTEGER_RESULT,
            f"`${{{text}}}` is {value}, not an integer",
            0,
            "round with `//` (floor division) or make_divisible(v, d)",
        )
    return int(value)


# --- values in a spec ---


@dataclass(eq=False)
class Deferred:
    """An expression that reads the input's shape: evaluated once the shapes before it are known.

    ``names`` are the parameter values it may read (some of them Deferred too); ``anchor`` is
    (reference, scope) of the layer whose output ``in`` means, resolved by the expander.
    """

    text: str
    tree: Node
    names: dict[str, Any]
    anchor: tuple[str, Any] | None
    line: int  # where the text inside ${...} starts in the file
    column: int
    result: int | None = None
    failed: bool = False

    def __repr__(self) -> str:
        return f"${{{self.text}}}"


class Reported(ArchspecError):
    """An expression this one reads failed; that failure is already reported where it was written."""


def compute(
    tree: Node,
    text: str,
    names: dict[str, Any],
    shape: tuple[int, ...] | None,
    resolve: Callable[[Deferred], int] | None = None,
) -> int:
    """The integer value of an expression. ``resolve`` gives a Deferred parameter its value
    (None: not possible yet, which raises NeedsInput)."""

    def lookup(name: str, at: int) -> Number:
        if name not in names:
            guess = suggest(name, [*names, "in"])
            raise ExprError(
                Code.UNKNOWN_EXPRESSION_NAME,
                f"unknown name `{name}`" + (f" — did you mean `{guess}`?" if guess else ""),
                at,
                None if guess else f"parameters here: {', '.join(names) or 'none'}; and in.channels, in.size, in.shape[i]",
            )
        value = names[name]
        if isinstance(value, Deferred):
            if resolve is None:
                raise NeedsInput
            value = resolve(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ExprError(Code.WRONG_TYPE, f"parameter `{name}` is {value!r}, not a number", at)
        return value

    return integer(evaluate(tree, lookup, shape), text)
