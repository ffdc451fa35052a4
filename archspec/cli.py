"""The ``archspec`` command: parse arguments, call the library, render, exit 0 / 1 / 2.

Exit codes (ruff/ESLint convention): 0 clean, 1 findings (spec errors, or
warnings under --strict), 2 usage, IO or internal error. Machine-readable
output goes to stdout and nothing else does; summaries go to stderr.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from archspec import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2, like argparse, with our wording
        self.print_usage(sys.stderr)
        print(f"archspec: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="archspec", description="Static analysis of CNN architecture specs (YAML).")
    parser.add_argument("--version", action="version", version=f"archspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    describe = sub.add_parser("describe", help="shapes, parameters, receptive fields and MACs of every layer")
    describe.add_argument("specs", nargs="+", metavar="SPEC")
    describe.add_argument("--format", choices=("text", "markdown", "json", "csv"), default="text")
    describe.add_argument(
        "--check", action="store_true", help="confirm every figure against torch, layer by layer (needs the torch extra)"
    )
    describe.set_defaults(run=_describe)

    lint = sub.add_parser("lint", help="validate specs and report problems with their positions")
    lint.add_argument("specs", nargs="+", metavar="SPEC")
    lint.add_argument("--format", choices=("text", "json", "github"), default="text")
    lint.add_argument("--strict", action="store_true", help="warnings fail the run too (exit 1)")
    lint.add_argument("--select", type=_code_list, default=None, help="only these codes or prefixes, e.g. W4,I501")
    lint.add_argument("--ignore", type=_code_list, default=frozenset(), help="skip these codes or prefixes")
    lint.set_defaults(run=_lint)

    diagram = sub.add_parser("diagram", help="draw the data flow (svg, png, pdf or dot)")
    diagram.add_argument("spec", metavar="SPEC")
    diagram.add_argument("-o", "--output", required=True, help="file to write (`-` for DOT on stdout)")
    diagram.add_argument("--style", choices=("tensors", "layers", "params", "rf"), default="layers")
    diagram.add_argument("--format", choices=("svg", "png", "pdf", "dot"), default=None, help="default: from the file suffix")
    diagram.add_argument("--direction", choices=("LR", "TB"), default="LR", help="left to right, or top to bottom")
    blocks = diagram.add_mutually_exclusive_group()
    blocks.add_argument("--collapse-blocks", dest="collapse", action="store_const", const=True, help="one node per use of a block")
    blocks.add_argument("--expand-blocks", dest="collapse", action="store_const", const=False, help="every layer, blocks as clusters")
    diagram.set_defaults(run=_diagram, collapse=None)

    schema = sub.add_parser("schema", help="print the JSON Schema of the spec format (for editors)")
    schema.set_defaults(run=_schema)
    return parser


def _code_list(text: str) -> set[str]:
    return {c.strip().upper() for c in text.split(",") if c.strip()}


def _describe(args) -> int:
    from archspec.analysis import analyze
    from archspec.errors import SpecError
    from archspec.render import diagnostics as diag
    from archspec.render.table import RENDERERS
    from archspec.spec import load

    status = EXIT_OK
    outputs = []
    for path in args.specs:
        try:
            report = analyze(load(path))
        except SpecError as exc:
            sys.stderr.write(diag.to_text(exc.diagnostics))
            status = max(status, EXIT_ERROR if _io_only(exc.diagnostics) else EXIT_FINDINGS)
            continue
        if args.format == "text":
            outputs.append(RENDERERS["text"](report, color=sys.stdout.isatty()))
        else:
            outputs.append(RENDERERS[args.format](report))
        if args.check:
            status = max(status, _check(report, path))
    if args.format == "json" and len(outputs) > 1:  # several specs: one JSON array of describe objects
        sys.stdout.write("[\n" + ",\n".join(o.rstrip() for o in outputs) + "\n]\n")
    else:
        sys.stdout.write("\n".join(outputs))
    return status


def _check(report, path: str) -> int:
    """Compare the report with torch; the verdict goes to stderr so stdout stays pure data."""
    try:
        from archspec.runtime.check import check
    except ImportError as exc:
        print(f"archspec: --check needs torch ({exc.name} is missing): pip install 'archspec[torch]'", file=sys.stderr)
        return EXIT_ERROR
    found = check(report)
    figures = len(report.layers) * 5
    if found:
        for d in found:
            print(f"{path}: check: {d}", file=sys.stderr)
        print(f"{path}: check: {len(found)} of {figures} figures disagree with torch", file=sys.stderr)
        return EXIT_FINDINGS
    print(
        f"{path}: check: all {figures} figures of {len(report.layers)} layers agree with torch "
        "(output shape, params, trainable params, buffers, MACs)",
        file=sys.stderr,
    )
    return EXIT_OK


def _lint(args) -> int:
    from archspec.lint import lint_file
    from archspec.render import diagnostics as diag

    found = []
    for path in args.specs:
        found += lint_file(path, select=args.select, ignore=args.ignore)
    sys.stdout.write(diag.RENDERERS[args.format](found))
    if args.format == "text":
        sys.stdout.flush()
        print(diag.summary(found, len(args.specs)), file=sys.stderr)
    if any(d.code == "E100" for d in found) and len(found) == sum(d.code == "E100" for d in found):
        return EXIT_ERROR
    failing = {"error"} | ({"warning"} if args.strict else set())
    return EXIT_FINDINGS if any(d.severity.value in failing for d in found) else EXIT_OK


def _diagram(args) -> int:
    from archspec.analysis import analyze
    from archspec.errors import SpecError
    from archspec.render import diagnostics as diag
    from archspec.render.diagram import DiagramError, render, to_dot
    from archspec.spec import load

    try:
        report = analyze(load(args.spec))
    except SpecError as exc:
        sys.stderr.write(diag.to_text(exc.diagnostics))
        return EXIT_ERROR if _io_only(exc.diagnostics) else EXIT_FINDINGS
    source = to_dot(report, args.style, args.direction, args.collapse)
    if args.output == "-":
        sys.stdout.write(source)
        return EXIT_OK
    try:
        path = render(source, args.output, args.format)
    except DiagramError as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"archspec: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {path} ({args.style} style)", file=sys.stderr)
    return EXIT_OK


def _schema(args) -> int:
    import json

    from archspec.spec.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


def _io_only(diagnostics) -> bool:
    return all(d.code == "E100" for d in diagnostics)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception:  # a bug in archspec, never a user's mistake: say so, keep the trace for the report
        print("archspec: internal error (please report it with the spec that caused it):", file=sys.stderr)
        traceback.print_exc()
        return EXIT_ERROR
