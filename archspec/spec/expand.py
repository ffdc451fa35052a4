"""Blocks expanded, names given, references resolved: raw layer mappings -> a flat list.

Scoping: a block instance is a scope. Inside it, names refer to the instance's
own layers and ``input`` to the instance's input; the instance's output is its
last layer. Instance ``layer1`` of a block repeated 3 times holds
``layer1.0 ... layer1.2`` and its layers are named ``layer1.0.conv1`` and so on,
the way torchvision names modules. A layer with ``when: false`` is left out
and references to it resolve to its first input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from archspec.codes import Code
from archspec.errors import ArchspecError, Diagnostic
from archspec.layers import KIND_BY_TYPE
from archspec.spec.expr import Deferred, ExprError, NeedsInput, Node, body, compute, is_expression, names_in, parse
from archspec.spec.kind_names import KINDS_HINT, meaning
from archspec.spec.load import Mark, YDict, YList, mark_of
from archspec.spec.locate import suggest

CALL_KEYS = {"type", "name", "inputs", "when", "repeat", "first"}
MAX_REPEAT = 10_000
MAX_LAYERS = 200_000  # after expansion; far beyond any real network, short of exhausting memory


def unknown_type(kind: str, blocks: list[str], path: str, mark: Mark) -> Diagnostic:
    """E205 for a `type` that names neither a layer kind nor a block, with the likeliest meaning."""
    guess, note = meaning(kind, blocks)
    message = f"unknown layer type `{kind}`" + (f" — did you mean `{guess}`?" if guess else f": {note}" if note else "")
    return Diagnostic(Code.UNKNOWN_LAYER_TYPE, message, path, mark.line, mark.column, None if guess else KINDS_HINT)


def valid_name(name: object) -> bool:
    """A layer name: a dotted path (``downsample.0``, torchvision's module paths) of non-empty parts, without ``:``."""
    return isinstance(name, str) and name != "input" and ":" not in name and all(name.split("."))


class TooManyLayers(ArchspecError):
    """Expansion passed MAX_LAYERS; the spec is refused as a whole."""


@dataclass
class Scope:
    prefix: str  # "" at the top, "layer1.0." inside an instance
    parent: Scope | None = None
    input_ref: str | None = None  # reference, in the parent scope, to this instance's input
    entries: dict[str, Entry] = field(default_factory=dict)
    output: str = "input"  # local reference to the scope's output


# what a local name means: a layer (its full name), a block instance (its scope), a left-out layer (an alias)
# or a layer of several outputs (split, chunk), which a reference must pick one of (NAME:INDEX)
Entry = tuple[Literal["layer", "alias", "parts"], str] | tuple[Literal["block"], Scope]
Params = dict[str, tuple[Any, Mark | None]]  # a block's parameters: value and where it was given


@dataclass
class RawLayer:
    """One layer mapping with its final name, before validation."""

    data: YDict
    name: str
    refs: list[str]
    scope: Scope
    blocks: tuple[str, ...]  # enclosing block instances, outermost first
    kept: bool = True  # False for `when: false` layers (validated, then left out)
    inputs: list[str] | None = None  # resolved names; None if a reference could not be resolved


Anchor = tuple[str, Scope] | None  # what `in` means in an expression: (reference, scope)


def _part_count(kind: str, item: YDict) -> int:
    """How many outputs (NAME:0, NAME:1, ...) a layer of this kind has; 0 when it has one."""
    return (KIND_BY_TYPE[kind].part_count(item) or 0) if kind in KIND_BY_TYPE else 0


def _leave_out(scope: Scope, name: str, parts: int, first_input: str) -> None:
    """A `when: false` layer means its first input, and so does each of its parts (NAME:INDEX) if it is a split."""
    for ref in (name, *(f"{name}:{index}" for index in range(parts))):
        scope.entries[ref] = ("alias", first_input)


def _did_you_mean(name: str, names: list[str]) -> str:
    guess = suggest(name, names)
    return f" — did you mean `{guess}`?" if guess else ""


def _first_ref(item: YDict, prev: str) -> str:
    refs = item.get("inputs")
    if isinstance(refs, list) and refs:
        refs = refs[0]
    return refs if isinstance(refs, str) else prev


def with_defaults(item: YDict, defaults: YDict) -> YDict:
    """A copy of a layer mapping with the spec's defaults for its kind added (its own values win)."""
    out = _without(item, "")
    for key, value in defaults.items():
        if key not in out:
            out.set(key, value, defaults.key_marks[key], defaults.value_marks[key])
    return out


def has_params(data: Any) -> bool:
    """Does any value in ``data`` look like a `$param`? (Then it needs substituting, or an error.)"""
    if isinstance(data, str):
        return data.startswith("$") and len(data) > 1
    if isinstance(data, dict):
        return any(has_params(v) for v in data.values())
    if isinstance(data, list):
        return any(has_params(v) for v in data)
    return False


def _with_index(item: YDict, index: int) -> YDict:
    """A copy of a several-output layer's mapping as its part ``index`` (marks point at the layer)."""
    out = _without(item, "index")
    out.set("index", index, item.mark, item.mark)
    return out


def _without(item: YDict, key: str) -> YDict:
    """A copy of a layer mapping without ``key`` (the file's own mapping is never changed)."""
    out = YDict(item.mark)
    for k, v in item.items():
        if k != key:
            out.set(k, v, item.key_marks[k], item.value_marks[k])
    return out


class Expander:
    def __init__(self, path: str, blocks: YDict | None, text: str = "", defaults: dict[str, YDict] | None = None):
        self.path = path
        self.lines = text.splitlines()
        self.defaults = defaults or {}  # kind or block -> field defaults (the spec's `defaults:`)
        self._trees: dict[str, Node] = {}  # parsed expressions by text
        self.blocks: YDict = blocks if isinstance(blocks, YDict) else YDict()
        self.diagnostics: list[Diagnostic] = []
        self.raws: list[RawLayer] = []
        self.names: dict[str, Mark] = {}  # every full layer name -> where it was declared
        self.block_types: dict[str, str] = {}  # instance -> block name
        self.block_calls: dict[str, tuple[str, ...]] = {}  # call (e.g. layer1) -> its instances in order
        self._checks: list[tuple[str, Scope, Mark]] = []  # references to verify once all names exist

    # --- diagnostics ---

    def error(self, code: Code, message: str, mark: Mark | None, hint: str | None = None) -> None:
        mark = mark or Mark(1, 1)
        self.diagnostics.append(Diagnostic(code, message, self.path, mark.line, mark.column, hint))

    # --- expansion ---

    def expand(
        self, items: YList, scope: Scope, params: Params | None = None, stack: tuple[str, ...] = (), blocks: tuple[str, ...] = ()
    ) -> None:
        given = {i.get("name") for i in items if isinstance(i, YDict) and isinstance(i.get("name"), str)}
        counters: Counter[str] = Counter()
        prev = "input"
        for index, item in enumerate(items):
            item_mark = mark_of(items, index)
            if not isinstance(item, YDict):
                self.error(Code.WRONG_TYPE, f"a layer must be a mapping with a `type`, got {item!r}", item_mark)
                continue
            item = self._prepared(item, scope, params, stack, prev)
            kind = item.get("type")
            if kind is None:
                self.error(
                    Code.MISSING_FIELD,
                    "missing required field `type`",
                    item.mark,
                    "every layer needs `type:` (conv2d, relu, ...)",
                )
                continue
            if not isinstance(kind, str):
                self.error(Code.WRONG_TYPE, f"`type` must be a string, got {kind!r}", mark_of(item, "type"))
                continue
            name = self._name(item, kind, given, counters, scope)
            refs = self._refs(item, prev, kind)
            if refs is None:
                item, refs = _without(item, "inputs"), [prev]  # reported; validation must not repeat it
            when = item.get("when", True)
            if not isinstance(when, bool):
                self.error(Code.WRONG_TYPE, f"`when` must be true or false, got {when!r}", mark_of(item, "when"))
                item = _without(item, "when")  # reported here; the layer's validation must not repeat it
                when = True
            refs_given = item.get("inputs")
            for n, ref in enumerate(refs):
                mark = mark_of(refs_given, n) if isinstance(refs_given, YList) else mark_of(item, "inputs")
                self._checks.append((ref, scope, mark or item.mark))
            if kind not in KIND_BY_TYPE and kind not in self.blocks:
                self.diagnostics.append(unknown_type(kind, list(self.blocks), self.path, mark_of(item, "type") or item.mark))
            if not when:
                if not refs:  # a learned tensor: nothing could stand in for it (its users would read the layer before)
                    self.error(
                        Code.INVALID_VALUE,
                        f"`{name}` takes no input, so `when: false` has nothing to pass through in its place",
                        mark_of(item, "when") or item.mark,
                        "switch off the layers that use it instead",
                    )
                _leave_out(scope, name, _part_count(kind, item), refs[0] if refs else prev)
                if kind in KIND_BY_TYPE:  # still validated, so a switched-off layer cannot hide a typo
                    self.raws.append(RawLayer(item, scope.prefix + name, refs, scope, blocks, kept=False))
            elif kind in self.blocks:
                self._instantiate(item, kind, name, refs, scope, params, stack, blocks)
            else:
                self._add_layer(item, kind, name, refs, scope, blocks)
            prev = name
        scope.output = prev

    def _prepared(self, item: YDict, scope: Scope, params: Params | None, stack: tuple[str, ...], prev: str) -> YDict:
        """The layer mapping with `$params` and `${...}` substituted and the spec's defaults for its kind added."""
        if params is not None or has_params(item):  # `in` means the block's input, or at the top the layer's first
            anchor = ("input", scope) if scope.parent is not None else (_first_ref(item, prev), scope)
            item = self.substitute(item, params, stack[-1] if stack else None, anchor)
        kind = item.get("type")
        if isinstance(kind, str) and isinstance(self.defaults.get(kind), YDict):
            item = with_defaults(item, self.defaults[kind])
        return item

    def _add_layer(self, item: YDict, kind: str, name: str, refs: list[str], scope: Scope, blocks: tuple[str, ...]) -> None:
        """One layer, or for a layer of several outputs (split, chunk) one layer per part: NAME:0, NAME:1, ..."""
        full = scope.prefix + name
        parts = KIND_BY_TYPE[kind].part_count(item) if kind in KIND_BY_TYPE else None
        if parts is None:
            scope.entries[name] = ("layer", full)
            self.raws.append(RawLayer(item, full, refs, scope, blocks))
        else:
            scope.entries[name] = ("parts", full)
            for index in range(parts):
                scope.entries[f"{name}:{index}"] = ("layer", f"{full}:{index}")
                self.names[f"{full}:{index}"] = self.names[full]
                self.raws.append(RawLayer(_with_index(item, index), f"{full}:{index}", refs, scope, blocks))
                if len(self.raws) > MAX_LAYERS:  # `chunks: 10**9` must not exhaust memory first
                    raise TooManyLayers(item.mark)
        if len(self.raws) > MAX_LAYERS:
            raise TooManyLayers(item.mark)

    def _name(self, item: YDict, kind: str, given: set[Any], counters: Counter[str], scope: Scope) -> str:
        name = item.get("name")
        if name is None:
            while True:  # generated: conv2d_1, conv2d_2, ... skipping names the user gave
                counters[kind] += 1
                name = f"{kind}_{counters[kind]}"
                if name not in given:
                    break
        elif not valid_name(name):
            self.error(
                Code.INVALID_VALUE,
                f"invalid layer name {name!r}",
                mark_of(item, "name"),
                "dotted paths such as `downsample.0` are fine, but every part must be non-empty and no name may "
                "hold `:` (`NAME:INDEX` refers to a part of a split layer); `input` is reserved for the network input",
            )
            name = f"{kind}@{item.mark.line}"
        full = scope.prefix + name
        if name in scope.entries or full in self.names:
            first = self.names.get(full)
            where = f" (first at line {first.line})" if first and first.line else ""
            hint = (
                "`- *anchor` repeats the anchored layer whole, name included; rename the copy with a merge key: "
                f"`- {{<<: *anchor, name: {name}_2}}`"
                if item.repeated
                else None
            )
            self.error(
                Code.DUPLICATE_LAYER_NAME, f"duplicate layer name `{full}`{where}", mark_of(item, "name") or item.mark, hint
            )
            name = f"{name}@{item.mark.line}"
            full = scope.prefix + name
        self.names[full] = mark_of(item, "name") or item.mark
        return name

    def _refs(self, item: YDict, prev: str, kind: str) -> list[str] | None:
        refs = item.get("inputs")
        if refs is None:
            takes_none = kind in KIND_BY_TYPE and KIND_BY_TYPE[kind].arity[1] == 0  # a learned tensor
            return [] if takes_none else [prev]
        if isinstance(refs, str):
            return [refs]
        if isinstance(refs, list) and refs and all(isinstance(r, str) for r in refs):
            return list(refs)
        self.error(Code.WRONG_TYPE, f"`inputs` must be a layer name or a list of names, got {refs!r}", mark_of(item, "inputs"))
        return None

    def _instantiate(
        self,
        call: YDict,
        kind: str,
        name: str,
        refs: list[str],
        scope: Scope,
        outer_params: Params | None,
        stack: tuple[str, ...],
        blocks: tuple[str, ...],
    ) -> None:
        if kind in stack:
            self.error(Code.INVALID_BLOCK_USE, f"block `{kind}` uses itself (via {' → '.join(stack)})", mark_of(call, "type"))
            scope.entries[name] = ("alias", refs[0])
            return
        body = self.blocks[kind]
        defaults: YDict = body.get("params") or YDict()
        repeat = call.get("repeat", None)
        if repeat is not None and (not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT):
            self.error(
                Code.INVALID_VALUE,
                f"`repeat` must be an integer from 1 to {MAX_REPEAT:,}, got {repeat!r}",
                mark_of(call, "repeat"),
            )
            repeat = 1
        first = call.get("first")
        if first is not None and not isinstance(first, YDict):
            self.error(Code.WRONG_TYPE, "`first` must be a mapping of parameter overrides", mark_of(call, "first"))
            first = None
        if len(refs) != 1:
            self.error(Code.INVALID_VALUE, f"block `{kind}` takes one input, got {len(refs)}", mark_of(call, "inputs"))
        args = {k: (v, mark_of(call, k)) for k, v in call.items() if k not in CALL_KEYS}
        preset = self.defaults.get(kind)  # the spec's `defaults:` for this block: below the call's own arguments
        if isinstance(preset, YDict):
            args = {**{k: (v, mark_of(preset, k)) for k, v in preset.items() if k in defaults}, **args}
        firsts = {k: (v, mark_of(first, k)) for k, v in (first or {}).items()}
        unknown = [(k, call) for k in args if k not in defaults] + [(k, first) for k in firsts if k not in defaults]
        for key, where in unknown:
            guess = suggest(key, list(defaults))
            self.error(
                Code.INVALID_BLOCK_USE,
                f"block `{kind}` has no parameter `{key}`" + (f" — did you mean `{guess}`?" if guess else ""),
                mark_of(where, key, key_side=True),
                None if guess else f"its parameters: {', '.join(map(str, defaults)) or 'none'}",
            )
        count = repeat or 1
        previous = refs[0] if refs else "input"
        for j in range(count):
            values = {k: (v, mark_of(defaults, k)) for k, v in defaults.items()}
            values.update((k, v) for k, v in args.items() if k in defaults)
            if j == 0:
                values.update((k, v) for k, v in firsts.items() if k in defaults)
            if j == 0:
                for key, (value, _) in values.items():
                    if value is None:
                        self.error(Code.MISSING_FIELD, f"block `{kind}` needs parameter `{key}`", call.mark)
            local = f"{name}.{j}" if repeat is not None else name
            child = Scope(f"{scope.prefix}{local}.", scope, previous)
            self._evaluate_defaults(values, defaults, ("input", child))
            instance = scope.prefix + local
            self.block_types[instance] = kind
            self.block_calls.setdefault(scope.prefix + name, ())
            self.block_calls[scope.prefix + name] += (instance,)
            self.expand(body["layers"], child, values, (*stack, kind), (*blocks, instance))
            scope.entries[local] = ("block", child)
            previous = local
        if repeat is not None:
            scope.entries[name] = ("alias", previous)

    def substitute(self, data: Any, params: Params | None, block: str | None, anchor: Anchor = None) -> Any:
        """A copy of ``data`` with every ``$param`` string replaced (and its mark pointing at the value given)
        and every ``${...}`` evaluated (or Deferred, when it reads the input's shape)."""
        if isinstance(data, YDict):
            out = YDict(data.mark)
            out.repeated = data.repeated
            for key, value in data.items():
                new, mark = self._sub_value(value, data.value_marks[key], params, block, anchor)  # set() marks every entry
                out.set(key, new, data.key_marks.get(key, data.mark), mark)
            return out
        if isinstance(data, YList):
            out_list = YList(data.mark)
            for value, mark in zip(data, data.item_marks):
                new, new_mark = self._sub_value(value, mark, params, block, anchor)
                out_list.append(new)
                out_list.item_marks.append(new_mark)
            return out_list
        return data

    def _sub_value(self, value: Any, mark: Mark, params: Params | None, block: str | None, anchor: Anchor) -> tuple[Any, Mark]:
        if is_expression(value):
            return self.expression(value, mark, {k: v for k, (v, _) in (params or {}).items()}, anchor), mark
        if isinstance(value, str) and value.startswith("$") and len(value) > 1:
            key = value[1:]
            if params is None:
                self.error(Code.INVALID_BLOCK_USE, f"`{value}` is a block parameter, but this layer is not inside a block", mark)
                return value, mark
            if key not in params:
                guess = suggest(key, list(params))
                self.error(
                    Code.INVALID_BLOCK_USE,
                    f"block `{block}` has no parameter `{key}`" + (f" — did you mean `${guess}`?" if guess else ""),
                    mark,
                    f"declare it under blocks.{block}.params",
                )
                return value, mark
            new, new_mark = params[key]
            return new, new_mark or mark
        return self.substitute(value, params, block, anchor), mark

    def expression(self, value: str, mark: Mark, names: dict[str, Any], anchor: Anchor) -> Any:
        """The value of ``${...}``: an int, a Deferred (it reads the input's shape), or on error the text unchanged."""
        start = self.body_mark(mark)
        try:
            text = body(value)
            tree = self._trees.get(text)
            if tree is None:
                tree = self._trees[text] = parse(text)
            try:
                return compute(tree, text, names, None)
            except NeedsInput:
                return Deferred(text, tree, names, anchor, *start)
        except ExprError as exc:
            self.error(exc.code, exc.message, Mark(start.line, start.column + exc.offset), exc.hint)
            return value  # validation skips `$` strings: reported once, here

    def check_expressions(self, data: Any, mark: Mark, names: list[str]) -> None:
        """Report what can be known of the expressions in ``data`` without values (a block no layer uses):
        syntax, and names that are not among ``names``."""
        if isinstance(data, (YDict, YList)):
            marks = data.value_marks if isinstance(data, YDict) else dict(enumerate(data.item_marks))
            for key, value in data.items() if isinstance(data, YDict) else enumerate(data):
                self.check_expressions(value, marks.get(key, mark), names)
            return
        if not is_expression(data):
            return
        start = self.body_mark(mark)
        try:
            text = body(data)
            for name, at in names_in(parse(text)):
                if name not in names:
                    raise ExprError(Code.UNKNOWN_EXPRESSION_NAME, f"unknown name `{name}`" + _did_you_mean(name, names), at)
        except ExprError as exc:
            self.error(exc.code, exc.message, Mark(start.line, start.column + exc.offset), exc.hint)

    def body_mark(self, mark: Mark) -> Mark:
        """Where the text inside ``${`` starts, for a scalar written at ``mark`` (plain or quoted)."""
        line = self.lines[mark.line - 1] if 0 < mark.line <= len(self.lines) else ""
        quoted = line[mark.column - 1 : mark.column] in ("'", '"')
        return Mark(mark.line, mark.column + 2 + quoted)

    def _evaluate_defaults(self, values: Params, defaults: YDict, anchor: Anchor) -> None:
        """Give parameter defaults written as ``${...}`` their value; each reads the parameters declared before it."""
        before: dict[str, Any] = {}
        for key in defaults:
            value, mark = values[key]
            if is_expression(value) and mark is not None and value is defaults[key]:
                values[key] = (self.expression(value, mark, dict(before), anchor), mark)
            before[key] = values[key][0]

    # --- references ---

    def resolve_all(self, top: Scope) -> None:
        for ref, scope, mark in self._checks:
            parts = self.parts_of(ref, scope)
            if parts:
                self.error(
                    Code.UNKNOWN_REFERENCE,
                    f"`{ref}` has {len(parts)} outputs: name one of them ({', '.join(f'`{p}`' for p in parts)})",
                    mark,
                    f"`{ref}:0` is its first part, `{ref}:1` the second, ...",
                )
                continue
            if self.resolve(ref, scope) is None and not self._unresolved_upstream(ref, scope):
                choices = [*scope.entries, "input"]
                guess = suggest(ref, choices)
                self.error(
                    Code.UNKNOWN_REFERENCE,
                    f"unknown layer `{ref}`" + (f" — did you mean `{guess}`?" if guess else ""),
                    mark,
                    None if guess else "inputs name layers of the same list (or block), or `input`",
                )
        for raw in self.raws:
            resolved = [self.resolve(ref, raw.scope) for ref in raw.refs]
            raw.inputs = None if None in resolved else resolved  # type: ignore[assignment]
        self._check_nesting()

    def _check_nesting(self) -> None:
        """A layer's name may not be a dotted prefix of another's: lowered, `a` would be a module and hold `a.0`."""
        layers = {raw.name for raw in self.raws if raw.kept and "@" not in raw.name}
        inner: dict[str, list[str]] = {}
        for name in sorted(layers):
            parts = name.split(".")
            outer = next((p for p in (".".join(parts[:k]) for k in range(1, len(parts))) if p in layers), None)
            if outer is not None:
                inner.setdefault(outer, []).append(name)
        for outer, names in inner.items():
            more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
            self.error(
                Code.DUPLICATE_LAYER_NAME,
                f"layer `{outer}` is also the container of layer `{names[0]}`{more}: a layer cannot hold other layers",
                self.names[outer],
                f"rename `{outer}` (or the layers inside it) so that no layer name is a dotted prefix of another",
            )

    def parts_of(self, ref: str, scope: Scope) -> list[str]:
        """The part names (``NAME:0``, ...) when ``ref`` names a layer of several outputs, else none."""
        entry = scope.entries.get(ref)
        if entry is None or entry[0] != "parts":
            return []
        return sorted((k for k in scope.entries if k.startswith(f"{ref}:")), key=lambda k: int(k.rsplit(":", 1)[1]))

    def resolve(self, ref: str, scope: Scope, seen: frozenset[tuple[int, str]] = frozenset()) -> str | None:
        """Full name of the layer a reference means (``input`` for the network input), or None."""
        if ref == "input":
            if scope.parent is None:
                return "input"
            return self.resolve(scope.input_ref or "input", scope.parent, seen)
        entry = scope.entries.get(ref)
        if entry is None:
            if scope.parent is None and ref in self.names:
                return ref  # a qualified name such as layer1.0.conv1
            return None
        key = (id(scope), ref)
        if key in seen:
            return None
        seen = seen | {key}
        if entry[0] == "layer":
            return entry[1]
        if entry[0] == "parts":
            return None  # which part? (reported by resolve_all)
        if entry[0] == "block":
            child: Scope = entry[1]
            return self.resolve(child.output, child, seen)
        return self.resolve(entry[1], scope, seen)  # alias of a left-out layer

    def _unresolved_upstream(self, ref: str, scope: Scope) -> bool:
        """True when ``ref`` exists but leads through another, already reported, broken reference."""
        if ref == "input":
            return scope.parent is not None
        return ref in scope.entries or (scope.parent is None and ref in self.names)
