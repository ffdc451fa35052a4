"""``archspec lsp``: a Language Server Protocol server over stdio (the ``lsp`` extra: pygls).

An editor sees what ``archspec lint`` and ``archspec describe`` know while a spec is typed:

- diagnostics with their codes on open, change (debounced) and save;
- an inlay hint at the end of each layer's line: its output shape and parameters (``→ 4×8×8 · 112 params``),
  and for a block call its instances' outputs;
- hover on a layer: shapes in → out, parameters with their make-up (``3×4×9 + 4 = 112``), MACs, receptive
  field and inputs; on a block call or a layer written in a block, each instance's figures;
- go to definition from a name in ``inputs:`` or ``output:`` to that layer, and from a block's use to its
  definition; the document outline of layers and blocks.

Modules: ``document`` (one text's analysis and where things stand in it), ``text`` (positions), ``views``
(hint and hover text), ``navigate`` (definition, outline), ``server`` (the pygls handlers).
"""

from __future__ import annotations


def serve() -> None:
    """Serve one editor over stdin/stdout (imports pygls only now: the rest of archspec does not need it)."""
    from archspec.lsp.server import serve as run

    run()


__all__ = ["serve"]
