"""The language server: pygls handlers over the document analysis of ``archspec.lsp.document``.

Every handler is guarded: whatever a text does to the analysis, the editor gets an empty answer and the
server stays up (the failure goes to the server's log, on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from archspec import __version__
from archspec.codes import lookup
from archspec.codes.page import page_uri
from archspec.errors import Diagnostic
from archspec.lsp import assist, navigate, views
from archspec.lsp.document import Document, analyse
from archspec.lsp.text import line_end, mark_at, position, span, whole_lines, word_at

# a change after a quiet spell is analysed at once; within a burst of typing, only the text still current
# DEBOUNCE_S after the last change is
DEBOUNCE_S = 0.05

_log = logging.getLogger(__name__)
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
_SYMBOL_KIND = {"layer": types.SymbolKind.Field, "call": types.SymbolKind.Object, "block": types.SymbolKind.Class}
_COMPLETION_KIND = {
    "type": types.CompletionItemKind.Class,
    "block": types.CompletionItemKind.Module,
    "layer": types.CompletionItemKind.Variable,
    "param": types.CompletionItemKind.TypeParameter,
    "field": types.CompletionItemKind.Field,
}

F = TypeVar("F", bound=Callable[..., Any])


def guarded(server: LanguageServer, default: Any = None) -> Callable[[F], F]:
    """A handler that answers ``default`` instead of raising (sync or async alike); the failure goes to the
    server's log and to the client's (``window/logMessage``), so it is seen and the server stays up."""

    def failed(name: str) -> Any:
        _log.exception("%s failed", name)
        with contextlib.suppress(Exception):  # the client may be gone
            message = f"archspec lsp: {name} failed\n{traceback.format_exc()}"
            server.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=message))
        return default

    def wrap(handler: F) -> F:
        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(*args: Any) -> Any:
                try:
                    return await handler(*args)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    return failed(handler.__name__)

            return run_async  # type: ignore[return-value]  # same signature as the handler

        @functools.wraps(handler)
        def run(*args: Any) -> Any:
            try:
                return handler(*args)
            except Exception:
                return failed(handler.__name__)

        return run  # type: ignore[return-value]  # same signature as the handler

    return wrap


class SpecServer(LanguageServer):
    """Holds the analysis of each open document, keyed by its text so an unchanged text is analysed once."""

    def __init__(self) -> None:
        super().__init__("archspec", __version__)
        self.analysed: dict[str, Document] = {}
        self.parsed: dict[str, Document] = {}  # the last text of each document that parsed (names for completion)
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.changed: dict[str, float] = {}  # when each document last changed (the event loop's clock)

    def document(self, uri: str) -> Document:
        text = self.workspace.get_text_document(uri).source
        doc = self.analysed.get(uri)
        if doc is None or doc.text != text:
            doc = self.analysed[uri] = analyse(text, to_fs_path(uri) or uri, doc)
        if isinstance(doc.tree, dict):
            self.parsed[uri] = doc
        return doc

    def publish(self, uri: str) -> None:
        doc = self.document(uri)
        version = self.workspace.get_text_document(uri).version
        found = [lsp_diagnostic(doc, d) for d in doc.diagnostics] if doc.is_spec else []
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=version))

    def publish_later(self, uri: str) -> None:
        """Publish now if the text was quiet for DEBOUNCE_S before this change, else once it has been left alone
        that long (a newer change cancels the wait): one edit is seen at once, a burst of typing analysed once."""
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        now = asyncio.get_running_loop().time()
        last = self.changed.get(uri)
        delay = 0.0 if last is None or now - last >= DEBOUNCE_S else DEBOUNCE_S
        self.changed[uri] = now

        async def later() -> None:
            await asyncio.sleep(delay)
            self.pending.pop(uri, None)
            guarded(self)(self.publish)(uri)

        self.pending[uri] = asyncio.ensure_future(later())

    def forget(self, uri: str) -> None:
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self.analysed.pop(uri, None)
        self.parsed.pop(uri, None)
        self.changed.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def lsp_diagnostic(doc: Document, d: Diagnostic) -> types.Diagnostic:
    """``d`` in the protocol's terms; its code links to the code's section of the page installed with archspec
    (what ``archspec explain`` says of it), which opens without a network."""
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    info = lookup(d.code)
    return types.Diagnostic(
        range=span(doc.lines, d.line, d.column),
        message=message,
        severity=_SEVERITY[d.severity.value],
        code=d.code,
        code_description=types.CodeDescription(href=page_uri(info.code.value)) if info is not None else None,
        source="archspec",
    )


def make_server() -> SpecServer:
    server = SpecServer()
    _follow_documents(server)
    _show_analysis(server)
    _navigate(server)
    _assist(server)
    return server


def _follow_documents(server: SpecServer) -> None:
    """Diagnostics on open, change (debounced) and save; forgotten on close."""

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded(server)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        server.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded(server)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        server.publish_later(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @guarded(server)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        server.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded(server)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        server.forget(params.text_document.uri)


def _show_analysis(server: SpecServer) -> None:
    """Inlay hints and hover: the analysis of each layer."""

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    @guarded(server, [])
    def inlay_hints(params: types.InlayHintParams) -> list[types.InlayHint]:
        doc = server.document(params.text_document.uri)
        first, last = params.range.start.line + 1, params.range.end.line + 1
        hints = []
        for item in doc.items_between(first, last):
            text = views.hint(doc, item)
            if text is not None:
                where = line_end(doc.lines, item.first)
                hints.append(types.InlayHint(where, text, kind=types.InlayHintKind.Type, padding_left=True))
        return hints

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded(server)
    def hover(params: types.HoverParams) -> types.Hover | None:
        doc = server.document(params.text_document.uri)
        line, column = mark_at(doc.lines, params.position)
        word = word_at(doc.lines, line, column)
        explained = views.explain(word[0]) if word is not None else None
        if explained is not None and word is not None:  # a code, as noqa comments name them: what `archspec explain` says
            where = types.Range(position(doc.lines, line, word[1]), position(doc.lines, line, word[2]))
            return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=explained), range=where)
        item = doc.item_at(line)
        text = views.hover(doc, item) if item is not None else None
        if text is None or item is None:
            return None
        contents = types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)
        return types.Hover(contents=contents, range=whole_lines(doc.lines, item.first, item.last))


def _navigate(server: SpecServer) -> None:
    """Go to definition, find references and the outline."""

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @guarded(server)
    def definition(params: types.DefinitionParams) -> types.Location | None:
        doc = server.document(params.text_document.uri)
        line, column = mark_at(doc.lines, params.position)
        word = word_at(doc.lines, line, column)
        mark = navigate.definition(doc, line, column, word[0]) if word is not None else None
        if mark is None:
            return None
        return types.Location(params.text_document.uri, span(doc.lines, mark.line, mark.column))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @guarded(server, [])
    def references(params: types.ReferenceParams) -> list[types.Location]:
        doc = server.document(params.text_document.uri)
        line, column = mark_at(doc.lines, params.position)
        word = word_at(doc.lines, line, column)
        marks = navigate.references(doc, line, word[0]) if word is not None else []
        if marks and not params.context.include_declaration:
            marks = marks[1:]
        return [types.Location(params.text_document.uri, span(doc.lines, m.line, m.column)) for m in marks]

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded(server, [])
    def symbols(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        doc = server.document(params.text_document.uri)
        shapes = {item.first: text for item in doc.items if (text := views.hint(doc, item)) is not None}

        def convert(symbol: navigate.Symbol) -> types.DocumentSymbol:
            return types.DocumentSymbol(
                name=symbol.name,
                detail=symbol.detail,
                kind=_SYMBOL_KIND[symbol.kind],
                range=whole_lines(doc.lines, symbol.first, symbol.last),
                selection_range=span(doc.lines, symbol.mark.line, symbol.mark.column),
                children=[convert(child) for child in symbol.children],
            )

        return [convert(symbol) for symbol in navigate.outline(doc, shapes)]


def _assist(server: SpecServer) -> None:
    """Completion and quick fixes."""

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" ", "[", ",", "$"]))
    @guarded(server, [])
    def completion(params: types.CompletionParams) -> list[types.CompletionItem]:
        uri = params.text_document.uri
        doc = server.document(uri)
        line, column = mark_at(doc.lines, params.position)
        return [
            types.CompletionItem(
                label=choice.label,
                kind=_COMPLETION_KIND[choice.kind],
                detail=choice.detail,
                documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=choice.doc) if choice.doc else None,
                sort_text=f"{choice.order:06d}{choice.label}",
            )
            for choice in assist.complete(doc, line, column, server.parsed.get(uri))
        ]

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    @guarded(server, [])
    def code_actions(params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        doc = server.document(uri)
        actions = []
        for shown in params.context.diagnostics:
            if shown.source != "archspec" or not isinstance(shown.code, str):
                continue
            line, start = mark_at(doc.lines, shown.range.start)
            end = mark_at(doc.lines, shown.range.end)[1] if shown.range.end.line == shown.range.start.line else start
            for fix in assist.fixes(doc, shown.code, shown.message, line, start, end):
                where = types.Range(position(doc.lines, fix.line, fix.start), position(doc.lines, fix.line, fix.end))
                edit = types.WorkspaceEdit(changes={uri: [types.TextEdit(where, fix.text)]})
                kind = types.CodeActionKind.QuickFix
                actions.append(types.CodeAction(fix.title, kind=kind, diagnostics=[shown], edit=edit, is_preferred=fix.preferred))
        return actions


def serve() -> None:
    """Serve one client over stdin/stdout until it exits."""
    make_server().start_io()


__all__ = ["DEBOUNCE_S", "SpecServer", "make_server", "serve"]
