"""`archspec lsp` end to end: a real client (pytest-lsp) starts the server as a subprocess and speaks the
protocol to it. Expected figures are worked out by hand for a tiny spec (a conv on 3×8×8: 3·4·9 + 4 = 112
parameters, 4·8·8 outputs × 27 MACs = 6,912) and positions are read off the text itself."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))

import mutate
from test_code_page import linked_section

TINY = """\
archspec: 1
name: tiny
input: [3, 8, 8]
blocks:
  pair:
    params: {width: null}
    layers:
      - {type: conv2d, name: conv, out_channels: $width, kernel_size: 3, padding: 1}
      - {type: relu, name: act}
layers:
  - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: relu, name: act}
  - {type: pair, name: stage, repeat: 2, width: 6}
  - {type: flatten, name: flat, inputs: stage}
  - {type: linear, name: fc, out_features: 10}
"""
LINES = TINY.splitlines()
# a misspelt field (E201) and a misspelt reference (E301)
BROKEN = TINY.replace("out_channels: 4", "out_chanels: 4").replace("inputs: stage", "inputs: stag")
on_server = pytest.mark.asyncio(loop_scope="module")  # the tests that speak to the module's one server


def row(text: str) -> int:
    """The 0-based line of the first line holding ``text``."""
    return next(n for n, line in enumerate(LINES) if text in line)


def at(text: str, word: str) -> types.Position:
    """Where ``word`` starts on the first line holding ``text``."""
    n = row(text)
    return types.Position(n, LINES[n].index(word))


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "archspec", "lsp"]))
async def client(lsp_client: LanguageClient):
    # every publishDiagnostics, kept in order: waiting for "the next one" would miss one that arrives in the same
    # read as another (a close's empty diagnostics, then the next open's)
    published: list[types.PublishDiagnosticsParams] = []

    def record(params: types.PublishDiagnosticsParams) -> None:
        published.append(params)
        lsp_client.protocol.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, record)

    lsp_client.protocol.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, record)
    lsp_client.published = published  # type: ignore[attr-defined]
    capabilities = pytest_lsp.client_capabilities("visual-studio-code")
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities))
    yield
    await lsp_client.shutdown_session()


class Session:
    """One open document of the module's server: each test opens its own uri."""

    def __init__(self, client: LanguageClient, name: str):
        self.client = client
        self.uri = (ROOT / "specs" / f"{name}.yaml").as_uri()  # never written: the text lives in the editor
        self.version = 0

    async def diagnostics(self) -> list[types.Diagnostic]:
        """The diagnostics published for this document's current version (waited for; a hang guard, not a
        timing assertion, ends the wait after a minute)."""
        for _ in range(6000):
            for params in self.client.published:  # type: ignore[attr-defined]
                if params.uri == self.uri and params.version == self.version:
                    return list(params.diagnostics)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no diagnostics for {self.uri} version {self.version}")

    async def open(self, text: str) -> list[types.Diagnostic]:
        item = types.TextDocumentItem(uri=self.uri, language_id="yaml", version=self.version, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        return await self.diagnostics()

    async def change(self, text: str) -> list[types.Diagnostic]:
        self.version += 1
        document = types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version)
        change = types.TextDocumentContentChangeWholeDocument(text=text)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(document, [change]))
        return await self.diagnostics()

    def doc(self) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=self.uri)

    async def hints(self) -> dict[int, tuple[int, str]]:
        whole = types.Range(types.Position(0, 0), types.Position(100_000, 0))  # past the end of any text sent
        found = await self.client.text_document_inlay_hint_async(types.InlayHintParams(self.doc(), whole))
        out = {}
        for h in found or []:
            assert isinstance(h.label, str)
            out[h.position.line] = (h.position.character, h.label)
        return out

    async def hover(self, pos: types.Position) -> str | None:
        found = await self.client.text_document_hover_async(types.HoverParams(self.doc(), pos))
        if found is None:
            return None
        assert isinstance(found.contents, types.MarkupContent)
        return found.contents.value

    def close(self) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(self.doc()))


def summary(diagnostics: list[types.Diagnostic]) -> list[tuple[object, int, int, int, object]]:
    return sorted((d.code, d.range.start.line, d.range.start.character, d.range.end.character, d.severity) for d in diagnostics)


@on_server
async def test_diagnostics_on_open_and_after_each_change(client: LanguageClient):
    s = Session(client, "diagnostics")
    found = await s.open(TINY)
    info = types.DiagnosticSeverity.Information
    # the receptive field stops short of the 8×8 input at the last relu of the block (written on the block's line);
    # fc holds 3,850 of the 4,514 parameters
    assert summary(found) == [
        ("I501", row("name: fc"), 4, len(LINES[row("name: fc")]), info),
        ("I503", row("name: act"), 8, len(LINES[row("name: act")]), info),
    ]
    assert all(d.source == "archspec" for d in found)
    assert "3,850 of 4,514" in next(d.message for d in found if d.code == "I501")

    found = await s.change(BROKEN)
    lines = BROKEN.splitlines()
    field, ref = row("out_channels: 4"), row("inputs: stage")
    error = types.DiagnosticSeverity.Error
    column = lines[field].index("out_chanels")
    assert ("E201", field, column, column + len("out_chanels"), error) in summary(found)
    column = lines[ref].index("stag")
    assert ("E301", ref, column, column + len("stag"), error) in summary(found)
    assert "did you mean `out_channels`" in next(d.message for d in found if d.code == "E201")

    found = await s.change(TINY)  # fixed again: the errors go
    assert [d.code for d in found if d.severity == error] == []
    s.close()


@on_server
async def test_inlay_hints_show_each_layer_output_and_parameters(client: LanguageClient):
    s = Session(client, "hints")
    await s.open(TINY)
    hints = await s.hints()
    end = {n: len(line) for n, line in enumerate(LINES)}
    conv, act, stage = row("name: conv, out_channels: 4"), row("{type: relu, name: act}"), row("name: stage")
    act = next(n for n in range(conv, len(LINES)) if "name: act" in LINES[n])  # the top level's act
    flat, fc = row("name: flat"), row("name: fc")
    assert hints == {
        conv: (end[conv], "→ 4×8×8 · 112 params"),  # 3·4·9 + 4
        act: (end[act], "→ 4×8×8"),
        # two instances of the block: convs of 4·6·9 + 6 = 222 and 6·6·9 + 6 = 330 parameters
        stage: (end[stage], "→ 6×8×8 ×2 · 552 params"),
        flat: (end[flat], "→ 384"),  # 6·8·8
        fc: (end[fc], "→ 10 · 3,850 params"),  # 384·10 + 10
    }
    s.close()


@on_server
async def test_hover_gives_shapes_parameter_make_up_macs_and_receptive_field(client: LanguageClient):
    s = Session(client, "hover")
    await s.open(TINY)
    text = await s.hover(at("name: conv, out_channels: 4", "conv2d"))
    assert text is not None
    assert "shape: 3×8×8 → 4×8×8" in text
    assert "params: 3×4×9 + 4 = 112" in text
    assert "MACs: 6,912" in text  # 4·8·8 outputs, 3·3·3 products each
    assert "receptive field: 3×3 (jump 1×1, padding 1×1)" in text
    assert "`input` (3×8×8)" in text

    text = await s.hover(at("name: stage", "stage"))  # a block call: each instance
    assert text is not None
    assert "`stage.0`: 4×8×8 → 6×8×8 · 222 params · 13,824 MACs" in text  # 6·8·8 × 36
    assert "`stage.1`: 6×8×8 → 6×8×8 · 330 params · 20,736 MACs" in text  # 6·8·8 × 54

    text = await s.hover(at("name: conv, out_channels: $width", "conv"))  # written in the block: per instance
    assert text is not None
    assert "2 instances" in text and "`stage.0.conv`: 4×8×8 → 6×8×8 · 222 params" in text

    assert await s.hover(types.Position(row("name: tiny"), 2)) is None  # not a layer
    s.close()


@on_server
async def test_go_to_definition_of_inputs_and_block_types(client: LanguageClient):
    s = Session(client, "definition")
    await s.open(TINY)

    async def target(pos: types.Position) -> tuple[int, int] | None:
        found = await client.text_document_definition_async(types.DefinitionParams(s.doc(), pos))
        if found is None:
            return None
        assert isinstance(found, types.Location) and found.uri == s.uri
        return found.range.start.line, found.range.start.character

    reference = at("inputs: stage", "stage")
    stage = at("name: stage", "stage")
    assert await target(reference) == (stage.line, stage.character)
    # the cursor at the end of the name still counts
    assert await target(types.Position(reference.line, reference.character + len("stage"))) == (stage.line, stage.character)
    assert await target(at("type: pair", "pair")) == (row("pair:"), 2)
    assert await target(at("name: fc", "fc")) is None  # a name, not a reference
    width = at("out_channels: $width", "$width")  # a block parameter: where the block declares it
    assert await target(width) == (row("params: {width"), LINES[row("params: {width")].index("width"))
    s.close()


@on_server
async def test_references_to_a_layer_and_to_a_block(client: LanguageClient):
    s = Session(client, "references")
    await s.open(TINY)

    async def places(pos: types.Position, declaration: bool = True) -> list[tuple[int, int]]:
        context = types.ReferenceContext(include_declaration=declaration)
        found = await client.text_document_references_async(types.ReferenceParams(context, s.doc(), pos))
        return [(loc.range.start.line, loc.range.start.character) for loc in found or []]

    stage, read = at("name: stage", "stage"), at("inputs: stage", "stage")
    assert await places(stage) == [(stage.line, stage.character), (read.line, read.character)]
    assert await places(read, declaration=False) == [(read.line, read.character)]
    use = at("type: pair", "pair")
    assert await places(types.Position(row("pair:"), 3)) == [(row("pair:"), 2), (use.line, use.character)]
    s.close()


@on_server
async def test_document_symbols_outline_layers_and_blocks(client: LanguageClient):
    s = Session(client, "symbols")
    await s.open(TINY)
    found = await client.text_document_document_symbol_async(types.DocumentSymbolParams(s.doc()))
    assert found is not None
    outline = [(sym.name, sym.kind, sym.range.start.line, [c.name for c in sym.children or []]) for sym in found]
    layer, call, block = types.SymbolKind.Field, types.SymbolKind.Object, types.SymbolKind.Class
    assert outline == [
        ("conv", layer, row("name: conv, out_channels: 4"), []),
        ("act", layer, row("name: conv, out_channels: 4") + 1, []),
        ("stage", call, row("name: stage"), []),
        ("flat", layer, row("name: flat"), []),
        ("fc", layer, row("name: fc"), []),
        ("pair", block, row("pair:"), ["conv", "act"]),
    ]
    assert found[0].detail == "conv2d → 4×8×8 · 112 params"
    s.close()


@on_server
async def test_mutated_specs_sent_as_edits_never_break_the_server(client: LanguageClient):
    """Broken texts (the fuzzer's mutations of the bundled specs) get diagnostics and empty answers, never a
    failure: each handler logs one to the client if it happens."""
    s = Session(client, "fuzz")
    await s.open(TINY)
    rng = random.Random(16)
    texts = [p.read_text() for p in mutate.SPECS[:6]]
    for n in range(24):
        text = texts[n % len(texts)]
        for _ in range(2):
            text = mutate.mutate(text, rng)
        await s.change(text)
        await s.hints()
        for line in range(0, len(text.splitlines()), 7):
            await s.hover(types.Position(line, 4))
        await client.text_document_document_symbol_async(types.DocumentSymbolParams(s.doc()))
    assert await s.change(TINY) is not None
    assert await s.hints()  # still analysing
    failures = [m.message for m in client.log_messages if m.type == types.MessageType.Error]
    assert failures == []
    s.close()


@on_server
async def test_completion_of_types_inputs_and_block_parameters(client: LanguageClient):
    s = Session(client, "completion")
    await s.open(TINY)

    async def choices(pos: types.Position) -> list[types.CompletionItem]:
        found = await client.text_document_completion_async(types.CompletionParams(s.doc(), pos))
        items = found.items if isinstance(found, types.CompletionList) else found or []
        return sorted(items, key=lambda c: c.sort_text or c.label)

    kinds = {c.label: c for c in await choices(at("name: conv, out_channels: 4", "conv2d"))}
    assert {"conv2d", "linear", "relu", "pair"} <= set(kinds)
    assert kinds["pair"].kind == types.CompletionItemKind.Module  # the spec's own block
    assert isinstance(kinds["conv2d"].documentation, types.MarkupContent)
    assert "`out_channels`" in kinds["conv2d"].documentation.value and "`kernel_size`" in kinds["conv2d"].documentation.value

    # after `inputs: `: the layers written before, nearest first, then the input
    assert [c.label for c in await choices(at("inputs: stage", "stage"))] == ["stage", "act", "conv", "input"]
    # in a block, `$` offers its parameters
    width = at("out_channels: $width", "$width")
    assert [c.label for c in await choices(types.Position(width.line, width.character + 1))] == ["$width"]

    # mid-edit the text does not parse: the names come from its last text that did
    typing = TINY.replace("inputs: stage}", "inputs: [st")
    await s.change(typing)
    line = row("inputs: stage")
    end = types.Position(line, len(typing.splitlines()[line]))
    assert [c.label for c in await choices(end)] == ["stage", "act", "conv", "input"]
    s.close()


@on_server
async def test_code_actions_fix_a_misspelling_and_suppress_an_info(client: LanguageClient):
    s = Session(client, "actions")
    found = await s.open(BROKEN)

    async def actions(d: types.Diagnostic) -> list[types.CodeAction]:
        context = types.CodeActionContext(diagnostics=[d])
        answer = await client.text_document_code_action_async(types.CodeActionParams(s.doc(), d.range, context))
        return [a for a in answer or [] if isinstance(a, types.CodeAction)]

    misspelt = next(d for d in found if d.code == "E201")
    (fix,) = await actions(misspelt)
    assert fix.title == "Replace `out_chanels` with `out_channels`" and fix.is_preferred
    assert fix.edit is not None and fix.edit.changes is not None
    (edit,) = fix.edit.changes[s.uri]
    assert (edit.range, edit.new_text) == (misspelt.range, "out_channels")

    found = await s.change(TINY)
    info = next(d for d in found if d.code == "I501")
    (fix,) = await actions(info)
    assert fix.edit is not None and fix.edit.changes is not None
    (edit,) = fix.edit.changes[s.uri]
    line = row("name: fc")
    assert edit.new_text == "  # noqa: I501"
    assert edit.range == types.Range(types.Position(line, len(LINES[line])), types.Position(line, len(LINES[line])))
    # applied, lint's own suppression takes the info away and leaves the other
    fixed = LINES.copy()
    fixed[line] += edit.new_text
    found = await s.change("\n".join(fixed) + "\n")
    assert [d.code for d in found] == ["I503"]
    # hover on the code in the noqa: what `archspec explain I501` prints
    text = await s.hover(types.Position(line, len(LINES[line]) + len("  # noqa: I5")))
    assert text is not None and "I501" in text and "Fix:" in text
    s.close()


@on_server
async def test_a_burst_of_edits_ends_with_the_diagnostics_of_the_last_text(client: LanguageClient):
    s = Session(client, "burst")
    await s.open(TINY)
    texts = [BROKEN, TINY, BROKEN.replace("inputs: stag", "inputs: stage"), TINY.replace("kernel_size: 3, padding: 1}", "}")]
    for text in texts:  # sent without waiting, as typing does
        s.version += 1
        document = types.VersionedTextDocumentIdentifier(uri=s.uri, version=s.version)
        change = types.TextDocumentContentChangeWholeDocument(text=text)
        client.text_document_did_change(types.DidChangeTextDocumentParams(document, [change]))
    found = await s.diagnostics()  # the last version's
    assert {d.code for d in found if d.severity == types.DiagnosticSeverity.Error} == {"E202"}  # kernel_size is required
    s.close()


@on_server
async def test_yaml_that_is_not_a_spec_gets_no_diagnostics(client: LanguageClient):
    """Editors start the server for every YAML file; a workflow or compose file is left alone."""
    s = Session(client, "compose")
    assert await s.open("services:\n  web:\n    image: nginx\n") == []
    assert await s.change("services:\n  web: [\n") == []  # broken, and still no spec
    found = await s.change("archspec: 1\ninput: [3, 8, 8]\n")  # now it claims to be one: what it lacks is said
    assert "E202" in {d.code for d in found}
    s.close()


def test_the_latency_benchmark_runs():
    """bench/lsp_latency.py at tiny sizes: it drives the server and reports every figure (no timing is judged)."""
    import subprocess

    command = [sys.executable, str(ROOT / "bench" / "lsp_latency.py"), "--edits", "1", "--layers", "20"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| resnet50 ") or line.startswith("| chain of 20 layers ")]
    assert len(rows) == 6  # resnet50 edited three ways, the chain three
    # resnet50's top-level lines with a hint: stem (4), four stages, head (3); the chain's 20 layers, and 21
    # once one is added
    assert [row.split(" | ")[2] for row in rows] == ["11", "11", "11", "20", "20", "21"]


@on_server
async def test_the_quick_fix_for_a_linear_layer_on_a_map_inserts_a_flatten(client: LanguageClient):
    s = Session(client, "flatten")
    text = TINY.replace("  - {type: flatten, name: flat, inputs: stage}\n", "")
    found = await s.open(text)
    w410 = next(d for d in found if d.code == "W410")
    context = types.CodeActionContext(diagnostics=[w410])
    answer = await client.text_document_code_action_async(types.CodeActionParams(s.doc(), w410.range, context))
    (fix,) = [a for a in answer or [] if isinstance(a, types.CodeAction) and "flatten" in a.title]
    assert fix.edit is not None and fix.edit.changes is not None
    (edit,) = fix.edit.changes[s.uri]
    lines = text.splitlines()
    fc = next(n for n, line in enumerate(lines) if "name: fc" in line)
    assert edit.range == types.Range(types.Position(fc, 0), types.Position(fc, 0))
    assert edit.new_text == "  - {type: flatten}\n"
    lines.insert(fc, edit.new_text.rstrip("\n"))
    found = await s.change("\n".join(lines) + "\n")
    assert "W410" not in {d.code for d in found}
    hints = await s.hints()
    assert hints[fc + 1][1] == "→ 10 · 3,850 params"  # 6·8·8 = 384 features in, as with the flatten written by hand
    s.close()


@on_server
async def test_completion_of_the_fields_a_layer_can_still_take(client: LanguageClient):
    s = Session(client, "fields")
    text = TINY.replace(
        "  - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, padding: 1}\n",
        "  - type: conv2d\n    name: conv\n    out_channels: 4\n    kernel_size: 3\n    padding: 1\n",
    )
    await s.open(text)
    lines = text.splitlines()

    async def labels(pos: types.Position) -> set[str]:
        found = await client.text_document_completion_async(types.CompletionParams(s.doc(), pos))
        items = found.items if isinstance(found, types.CompletionList) else found or []
        assert all(c.kind == types.CompletionItemKind.Field for c in items)
        return {c.label for c in items}

    fc = next(n for n, line in enumerate(lines) if "name: fc" in line)
    after_type = types.Position(fc, lines[fc].index("name: fc"))  # `{type: linear, |name: fc, ...}`
    offered = await labels(after_type)
    assert {"bias", "inputs"} <= offered and not {"name", "out_features", "type"} & offered
    key = next(n for n, line in enumerate(lines) if line == "    kernel_size: 3")
    offered = await labels(types.Position(key, 4))  # the key column of the block-style conv
    assert {"stride", "dilation", "groups"} <= offered and not {"name", "out_channels", "kernel_size", "padding"} & offered
    s.close()


@on_server
async def test_each_diagnostic_links_to_its_code_on_the_installed_code_page(client: LanguageClient):
    s = Session(client, "links")
    found = await s.open(BROKEN)
    assert {"E201", "E301"} <= {d.code for d in found}
    for d in found:  # the misspelt field and reference, and the infos
        assert d.code_description is not None, d.code
        section = linked_section(d.code_description.href)
        assert section.splitlines()[2].startswith(f"## {d.code} "), (d.code, d.code_description.href)
    s.close()
