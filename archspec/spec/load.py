"""Safe YAML loading that keeps the position of every key and value.

PyYAML composes a node tree (safe loader only: no Python object tags); we turn it
into plain dicts/lists whose containers remember where each child stood in the
file. Duplicate keys, unknown tags, alias bombs and absurd nesting become
diagnostics instead of silent overwrites or crashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple

import yaml

from archspec.codes import Code
from archspec.errors import ArchspecError, Diagnostic

try:  # the C composer is much faster and keeps the same marks
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]  # same interface, pure Python


class _Loader(_BaseLoader):
    """Safe loading with the tag resolution of repeated scalars ("conv2d", "3", "true") memoised.

    Resolving a plain scalar runs YAML's implicit-type regexes in Python; specs repeat the
    same few words thousands of times, so caching the answer makes big specs linear and fast.
    """

    _resolved: ClassVar[dict[tuple[str, bool | tuple[bool, bool]], str]] = {}

    def resolve(self, kind: type[yaml.Node], value: str | None, implicit: bool | tuple[bool, bool]) -> str:
        resolve: Callable[..., str] = super().resolve  # unannotated in types-PyYAML; it returns the tag
        if kind is not yaml.ScalarNode or not isinstance(value, str) or len(value) > 64:
            return resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = self._resolved[key] = resolve(kind, value, implicit)
            if len(self._resolved) > 10_000:  # bounded: hostile files cannot grow it without end
                self._resolved.clear()
        return tag


MAX_BYTES = 4 * 1024 * 1024  # a spec is a few KiB; anything this large is not one
MAX_NODES = 1_000_000  # values produced after alias expansion (stops "billion laughs")
MAX_DEPTH = 64


class Mark(NamedTuple):
    line: int  # 1-based
    column: int  # 1-based


NO_MARK = Mark(0, 0)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class YDict(dict[Any, Any]):
    """A mapping from the file; ``key_marks[k]`` / ``value_marks[k]`` say where each entry stood."""

    __slots__ = ("key_marks", "mark", "repeated", "value_marks")

    def __init__(self, mark: Mark = NO_MARK):
        super().__init__()
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}
        self.repeated = False  # written as `*anchor`: a whole copy of a mapping anchored before

    def set(self, key: Any, value: Any, key_mark: Mark, value_mark: Mark) -> None:
        self[key] = value
        self.key_marks[key] = key_mark
        self.value_marks[key] = value_mark


class YList(list[Any]):
    """A sequence from the file; ``item_marks[i]`` says where item i stood."""

    __slots__ = ("item_marks", "mark")

    def __init__(self, mark: Mark = NO_MARK):
        super().__init__()
        self.mark = mark
        self.item_marks: list[Mark] = []


def mark_of(container: Any, key: Any = None, *, key_side: bool = False) -> Mark | None:
    """Position of ``container[key]`` (or of the container when key is None), if known."""
    if key is None:
        return getattr(container, "mark", None)
    if isinstance(container, YDict):
        marks = container.key_marks if key_side else container.value_marks
        return marks.get(key)
    if isinstance(container, YList) and isinstance(key, int) and 0 <= key < len(container.item_marks):
        return container.item_marks[key]
    return None


_PLAIN_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _Builder:
    """Turns composed nodes into YDict/YList/scalars, collecting diagnostics."""

    def __init__(self, path: str, text: str = ""):
        self.path = path
        self.text = text
        self.diagnostics: list[Diagnostic] = []
        self.nodes = 0
        self.mappings: set[int] = set()  # mapping nodes built so far: meeting one again means an alias
        self.scalars = yaml.constructor.SafeConstructor()

    def error(self, code: Code, message: str, mark: Mark, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.path, mark.line, mark.column, hint))

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(_mark(node))
        if depth > MAX_DEPTH:
            raise _TooDeep(_mark(node))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_COLLECTIONS:
            self.error(
                Code.UNSUPPORTED_TAG,
                f"unsupported YAML tag `{node.tag}`",
                _mark(node),
                "archspec reads plain YAML data only; remove the tag",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = YList(_mark(node))
            after = node.start_mark.index
            for item in node.value:
                repeated = isinstance(item, yaml.MappingNode) and id(item) in self.mappings
                built = self.build(item, depth + 1)
                mark = self._alias_mark(after) if repeated else None
                if mark is not None and isinstance(built, YDict):
                    built = _placed(built, mark)  # report it where the alias is written, not at its anchor
                out.append(built)
                out.item_marks.append(mark or _mark(item))
                after = max(after, item.end_mark.index) if not repeated else self._alias_end(after)
            return out
        try:
            return self.scalars.construct_object(node)
        except yaml.constructor.ConstructorError:
            self.error(
                Code.UNSUPPORTED_TAG,
                f"unsupported YAML tag `{node.tag}`",
                _mark(node),
                "archspec reads plain YAML data only; remove the tag",
            )
            return None

    def _alias_mark(self, after: int) -> Mark | None:
        """Where the next `*alias` after text offset ``after`` is written (the composer keeps no position for aliases)."""
        star = self.text.find("*", after)
        if star < 0:
            return None
        line = self.text.count("\n", 0, star)
        return Mark(line + 1, star - (self.text.rfind("\n", 0, star) + 1) + 1)

    def _alias_end(self, after: int) -> int:
        star = self.text.find("*", after)
        return star + 1 if star >= 0 else after

    def _mapping(self, node: yaml.MappingNode, depth: int) -> YDict:
        self.mappings.add(id(node))
        out = YDict(_mark(node))
        merged: list[tuple[Any, Any, Mark, Mark]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.extend(self._merge_entries(value_node, depth))
                continue
            key = self.build(key_node, depth + 1)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                self.error(Code.MALFORMED_DOCUMENT, "a mapping key must be a plain scalar", _mark(key_node))
                continue
            if key in out:
                first = out.key_marks[key]
                self.error(
                    Code.DUPLICATE_KEY,
                    f"duplicate key `{key}` (first defined at line {first.line})",
                    _mark(key_node),
                    "remove one of them; YAML would silently keep only the last",
                )
                continue
            out.set(key, self.build(value_node, depth + 1), _mark(key_node), _mark(value_node))
        # YAML merge keys (<<: *base): explicit keys win over merged ones
        for key, value, key_mark, value_mark in merged:
            if key not in out:
                out.set(key, value, key_mark, value_mark)
        return out

    def _merge_entries(self, node: yaml.Node, depth: int) -> Iterator[tuple[Any, Any, Mark, Mark]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.error(Code.MALFORMED_DOCUMENT, "a merge key (<<) needs a mapping or a list of mappings", _mark(source))
                continue
            built = self._mapping(source, depth + 1)
            for key, value in built.items():
                yield key, value, built.key_marks[key], built.value_marks[key]


def _placed(item: YDict, mark: Mark) -> YDict:
    """A copy of a repeated (aliased) mapping whose every position is where the alias is written."""
    out = YDict(mark)
    for k, v in item.items():
        out.set(k, v, mark, mark)
    out.repeated = True
    return out


class _TooBig(ArchspecError):
    def __init__(self, mark: Mark):
        self.mark = mark


class _TooDeep(_TooBig):
    pass


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, path: str) -> Diagnostic:
    """A YAML syntax error in words a person can act on: tabs and indentation are the usual causes."""
    lines = text.splitlines()
    for number, text_line in enumerate(lines, 1):  # a tab in the indentation: YAML forbids it outright
        indent = text_line[: len(text_line) - len(text_line.lstrip(" \t"))]
        if "\t" in indent:
            return Diagnostic(
                Code.INVALID_YAML,
                "tab characters are not allowed in YAML indentation; use spaces",
                path,
                number,
                indent.index("\t") + 1,
                "indent with spaces (most editors can convert tabs to spaces)",
            )
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = _explained(exc, lines, line, column)
    if message is not None:
        return Diagnostic(Code.INVALID_YAML, message[0], path, line, column, message[1])
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        problem = f"{problem} ({exc.context})"
    return Diagnostic(Code.INVALID_YAML, f"YAML syntax error: {problem}", path, line, column)


def _explained(exc: yaml.MarkedYAMLError, lines: list[str], line: int, column: int) -> tuple[str, str] | None:
    """(message, hint) for the syntax errors that mis-indentation and unclosed brackets cause; None for others."""
    context, problem, where = exc.context_mark, exc.problem or "", exc.context or ""
    if context is not None and "while parsing a block collection" in where and "'-'" in problem:
        entries, keys = context.column + 1, context.column + 3
        if column == entries:
            said = f"line {line} starts where the list's entries start (column {entries}) but has no `- `"
        else:
            said = f"line {line} is indented to column {column}: the list's entries start at column {entries}"
        return (
            f"bad indentation: {said}",
            f"start a new entry with `- ` at column {entries}, or indent a key of the entry above to column {keys}",
        )
    if "mapping values are not allowed" in problem and _indented_deeper(lines, line):
        return (
            f"bad indentation: line {line} is indented further than the key above it, so YAML reads it as part of "
            "that key's value",
            "indent every key of one mapping by the same number of spaces",
        )
    if context is not None and "while parsing a flow" in where:
        bracket = "{" if "mapping" in where else "["
        return (
            f"the `{bracket}` at line {context.line + 1}, column {context.column + 1} is not closed where expected",
            f"close it with `{'}' if bracket == '{' else ']'}` and separate its entries with commas",
        )
    return None


def _indented_deeper(lines: list[str], line: int) -> bool:
    """Is 1-based ``line`` indented further than the non-blank line before it?"""
    if not 1 < line <= len(lines):
        return False
    before = [s for s in lines[: line - 1] if s.strip()]

    def indent(s: str) -> int:
        return len(s) - len(s.lstrip(" "))

    return bool(before) and indent(lines[line - 1]) > indent(before[-1]) and ":" in before[-1]


def parse_yaml(text: str, path: str = "<string>") -> tuple[Any, list[Diagnostic]]:
    """Parse one YAML document. Returns (data, diagnostics); data is None when unusable."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None, [Diagnostic(Code.TOO_LARGE, f"file larger than {MAX_BYTES // (1024 * 1024)} MiB; not a spec", path, 1, 1)]
    text = text.lstrip("\ufeff")
    builder = _Builder(path, text)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:
            return None, [Diagnostic(Code.MALFORMED_DOCUMENT, "the file is empty", path, 1, 1, "start with `archspec: 1`")]
        data = builder.build(node)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_error(exc, text, path)]
    except yaml.YAMLError as exc:  # reader errors (bad bytes) carry no mark
        return None, [Diagnostic(Code.INVALID_YAML, f"YAML error: {exc}", path, 1, 1)]
    except UnicodeError as exc:  # e.g. a lone surrogate the parser cannot encode
        return None, [Diagnostic(Code.INVALID_YAML, f"invalid character in the text ({getattr(exc, 'reason', exc)})", path, 1, 1)]
    except _TooDeep as exc:
        return None, [Diagnostic(Code.TOO_LARGE, f"nesting deeper than {MAX_DEPTH} levels; not a spec", path, *exc.mark)]
    except _TooBig as exc:
        return None, [
            Diagnostic(
                Code.TOO_LARGE,
                f"more than {MAX_NODES:,} values after expanding aliases; refusing (alias bomb?)",
                path,
                *exc.mark,
            )
        ]
    except RecursionError:
        return None, [Diagnostic(Code.TOO_LARGE, "nesting too deep to parse; not a spec", path, 1, 1)]
    return data, builder.diagnostics
