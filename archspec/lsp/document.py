"""One spec text as the language server knows it: its diagnostics, its (possibly partial) analysis, and where
each layer, block and block call stands in the text.

Everything here is computed from the text alone and never raises on a user's text: a file that does not
load still has its diagnostics and whatever of its outline the YAML gives.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from archspec.analysis import LayerInfo, Report
from archspec.errors import Diagnostic
from archspec.lint import Linted, lint_state
from archspec.spec import Spec, no_gc
from archspec.spec.load import Mark, YDict, YList, mark_of, parse_yaml

_SPEC_KEY = re.compile(r"^(archspec|layers)\s*:", re.MULTILINE)


@dataclass(frozen=True)
class Item:
    """A mapping of the file's `layers:` (top level or a block's), where it stands and what it names."""

    name: str | None
    type: str | None
    data: YDict
    first: int  # 1-based lines the mapping spans
    last: int
    block: str | None = None  # the block definition it is written in, if any

    @property
    def name_mark(self) -> Mark:
        return mark_of(self.data, "name") or self.data.mark


@dataclass
class Document:
    linted: Linted  # what lint knows of the text: the next version of the text is linted from it
    lines: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = self.text.splitlines()

    @property
    def text(self) -> str:
        return self.linted.text

    @property
    def path(self) -> str:
        return self.linted.path

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.linted.diagnostics

    @property
    def spec(self) -> Spec | None:
        return self.linted.spec

    @property
    def report(self) -> Report | None:
        return self.linted.report

    @cached_property
    def tree(self) -> Any:
        """The YAML as written (before blocks are expanded), or None when it does not parse."""
        if self.spec is not None and self.spec.document is not None:
            return self.spec.document  # parsed once, by the loader
        return parse_yaml(self.text, self.path)[0]

    @property
    def is_spec(self) -> bool:
        """Whether the text is a spec at all: editors start the server for every YAML file, and a workflow or a
        compose file is none of its business. A spec has `archspec:` (or at least `layers:`) at the top level."""
        if isinstance(self.tree, YDict):
            return "archspec" in self.tree or "layers" in self.tree
        return _SPEC_KEY.search(self.text) is not None  # broken YAML: judged on the text

    @cached_property
    def blocks(self) -> dict[str, YDict]:
        """The block definitions by name."""
        raw = self.tree.get("blocks") if isinstance(self.tree, YDict) else None
        return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, YDict)} if isinstance(raw, YDict) else {}

    @cached_property
    def items(self) -> list[Item]:
        """Every layer mapping as written: the top level's, then each block's."""
        out: list[Item] = []
        with no_gc():  # many small objects, none cyclic (as in loading)
            if isinstance(self.tree, YDict):
                out += _items(self.tree.get("layers"), None)
            for block, body in self.blocks.items():
                out += _items(body.get("layers"), block)
        return out

    def items_between(self, first: int, last: int) -> list[Item]:
        """The layer mappings that start on lines first..last (1-based), found without reading the others: a
        view of a long file asks for a few of its thousands."""
        top = self.tree.get("layers") if isinstance(self.tree, YDict) else None
        out: list[Item] = []
        if isinstance(top, YList):
            starts = [mark.line for mark in top.item_marks]  # in file order
            begin, end = bisect.bisect_left(starts, first), bisect.bisect_right(starts, last)
            window = YList(top.mark)
            window.extend(top[begin:end])
            window.item_marks.extend(top.item_marks[begin:end])
            out += _items(window, None)
        for block, body in self.blocks.items():
            out += [item for item in _items(body.get("layers"), block) if first <= item.first <= last]
        return out

    def item_at(self, line: int) -> Item | None:
        """The innermost layer mapping spanning a 1-based line."""
        top = self.tree.get("layers") if isinstance(self.tree, YDict) else None
        starts = [mark.line for mark in top.item_marks] if isinstance(top, YList) else []
        index = bisect.bisect_right(starts, line) - 1  # the last top-level mapping starting on or before it
        near = self.items_between(starts[index], line) if index >= 0 else self.items_between(1, line)
        spanning = [item for item in near if item.first <= line <= item.last]
        return min(spanning, key=lambda item: item.last - item.first) if spanning else None

    @cached_property
    def readers(self) -> dict[str, set[str]]:
        """Layer -> the layers that read it."""
        out: dict[str, set[str]] = {}
        for layer in self.spec.layers if self.spec is not None else ():
            for ref in layer.inputs or ():
                out.setdefault(ref, set()).add(layer.name or "")
        return out

    def info(self, name: str) -> LayerInfo | None:
        return self.report.get(name) if self.report is not None else None

    def instances(self, item: Item) -> tuple[str, ...]:
        """The block instances a top-level call expands into (``layer1`` -> ``layer1.0``, ``layer1.1``)."""
        if self.spec is None or item.block is not None or item.name is None or item.type not in self.blocks:
            return ()
        return self.spec.block_calls.get(item.name, ())

    @cached_property
    def _members(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for layer in self.spec.layers if self.spec is not None else ():
            for instance in self.spec.block_of.get(layer.name or "", ()) if self.spec is not None else ():
                out.setdefault(instance, []).append(layer.name or "")
        return out

    def members(self, instance: str) -> list[str]:
        """The layers of one block instance, in file order."""
        return self._members.get(instance, [])

    def instance_output(self, instance: str) -> str | None:
        """The layer whose output is the instance's: the last one read from outside it (or the spec's output)."""
        members = self.members(instance)
        inside = set(members)
        output = self.spec.output if self.spec is not None else None
        read_outside = [name for name in members if name == output or self.readers.get(name, set()) - inside]
        last = read_outside or members
        return last[-1] if last else None

    @cached_property
    def _by_mark(self) -> dict[Mark, list[str]]:
        out: dict[Mark, list[str]] = {}
        for name, data in self.spec.source.items() if self.spec is not None else ():
            out.setdefault(data.mark, []).append(name)
        return out

    def layers_written_at(self, item: Item) -> list[str]:
        """The analysed layers a mapping of the text stands for: one (or one per part, for a split), or, for a
        layer written in a block, one per instance of that block. Expansion copies a mapping with its marks."""
        source = self.spec.source.get(item.name) if self.spec is not None and item.block is None and item.name else None
        if source is not None and source.mark == item.data.mark:
            return [item.name or ""]  # a top-level layer of one part: found without indexing every layer
        return self._by_mark.get(item.data.mark, [])


def _items(layers: Any, block: str | None) -> Iterator[Item]:
    if not isinstance(layers, YList):
        return
    for data in layers:
        if isinstance(data, YDict) and data.mark.line > 0:
            name, kind = data.get("name"), data.get("type")
            yield Item(
                name if isinstance(name, str) else None,
                kind if isinstance(kind, str) else None,
                data,
                data.mark.line,
                _last_line(data),
                block,
            )


def _last_line(data: Any) -> int:
    """The last line a mapping or list of the file reaches (by the marks of its entries)."""
    last = getattr(data, "mark", Mark(0, 0)).line
    if isinstance(data, YDict):
        for key in data:
            mark = data.value_marks.get(key)
            last = max(last, mark.line if mark else 0, _last_line(data[key]))
    elif isinstance(data, YList):
        last = max([last, *(m.line for m in data.item_marks), *(_last_line(v) for v in data)])
    return last


def analyse(text: str, path: str, previous: Document | None = None) -> Document:
    """The document of one text: lint's diagnostics and the analysis behind them (one load of the text, or,
    for an edit inside one layer of the previous version, a patch of that version's)."""
    return Document(lint_state(text, path, previous=previous.linted if previous is not None else None))
