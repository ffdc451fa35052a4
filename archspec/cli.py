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
_EXTRAS = {"torch": "torch", "torchvision": "torch", "matplotlib": "torch", "pygraphviz": "diagram"}  # module -> extra


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
    describe.add_argument("--batch-size", type=int, help="also estimate the memory of a training step at this batch size")
    describe.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="adam", help="for the memory estimate")
    describe.add_argument("--memory-budget", metavar="SIZE", help="the largest batch whose training step fits, e.g. 16GiB")
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

    train = sub.add_parser("train", help="train a spec (built-in synthetic data unless told otherwise)")
    train.add_argument("spec", metavar="SPEC")
    train.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/NAME)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    train.add_argument("--schedule", choices=("constant", "step", "cosine", "onecycle"))
    train.add_argument("--data", choices=("synthetic", "folder", "cifar10"), help="data source")
    train.add_argument("--data-root", help="image folder or CIFAR-10 folder")
    train.add_argument("--train-size", type=int, help="synthetic training images")
    train.add_argument("--test-size", type=int, help="synthetic test images")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps")
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16"))
    train.add_argument("--channels-last", action="store_true", default=None)
    train.add_argument("--compile", action="store_true", default=None)
    train.add_argument("--early-stopping", type=int, metavar="EPOCHS")
    train.add_argument("--seed", type=int)
    train.add_argument("--no-augment", action="store_true", help="ignore the spec's augmentation")
    train.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from last.pt")
    train.add_argument("--force", action="store_true", help="start over in a RUN_DIR that holds a run")
    train.add_argument("--force-memory", action="store_true", help="train even if the memory estimate exceeds what is free")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(run=_train)

    evaluate = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a checkpoint")
    evaluate.add_argument("spec", metavar="SPEC")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--confusion", metavar="PNG", help="write the confusion matrix here")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
    evaluate.set_defaults(run=_evaluate)

    predict = sub.add_parser("predict", help="top-k classes of image files")
    predict.add_argument("spec", metavar="SPEC")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--format", choices=("text", "json"), default="text")
    predict.set_defaults(run=_predict)

    def image_source(p, checkpoint: str):
        p.add_argument("spec", metavar="SPEC")
        p.add_argument("--checkpoint", required=checkpoint == "required", help="a checkpoint of `archspec train`")
        p.add_argument("--image", nargs="+", metavar="FILE", help="image files (resized to the spec's input if needed)")
        p.add_argument("--index", type=int, help="use the test data's image number INDEX instead (default 0)")
        p.add_argument("-o", "--output", required=True, help="PNG to write")

    gradcam = sub.add_parser("gradcam", help="Grad-CAM heat maps, or their pointing-game score (--evaluate)")
    image_source(gradcam, "required")
    gradcam.add_argument("--count", type=int, default=4, help="images from the test data (with --index)")
    gradcam.add_argument("--class", dest="target", default="top", help="top (default), true, a class index or name")
    gradcam.add_argument("--layer", help="target layer (default: the last spatial layer before pooling/flatten)")
    gradcam.add_argument("--evaluate", action="store_true", help="score on the test data's object boxes instead")
    gradcam.add_argument("--limit", type=int, help="--evaluate on the first LIMIT test images only")
    gradcam.add_argument("--format", choices=("text", "json"), default="text")
    gradcam.set_defaults(run=_gradcam)
    gradcam._actions[[a.dest for a in gradcam._actions].index("output")].required = False

    kernels = sub.add_parser("kernels", help="a convolution's kernels as images (first conv by default)")
    kernels.add_argument("spec", metavar="SPEC")
    kernels.add_argument("--checkpoint", help="a checkpoint of `archspec train`")
    kernels.add_argument("--weights", help="a torchvision weights file instead (e.g. AlexNet's)")
    kernels.add_argument("--layer")
    kernels.add_argument("-o", "--output", required=True)
    kernels.set_defaults(run=_inspect("run_kernels", "checkpoint", "weights", "layer"))

    features = sub.add_parser("features", help="one layer's feature maps for one image")
    image_source(features, "optional")
    features.add_argument("--layer", help="default: the first convolution")
    features.set_defaults(run=_inspect("run_features", "checkpoint", "paths", "index", "layer"))

    rf = sub.add_parser("rf", help="a unit's receptive field drawn on an image (from the static r, S, P)")
    rf.add_argument("spec", metavar="SPEC")
    rf.add_argument("--image", nargs=1, metavar="FILE")
    rf.add_argument("--index", type=int)
    rf.add_argument("--layer", help="default: the last spatial layer before pooling/flatten")
    rf.add_argument("--unit", type=int, nargs=2, metavar=("ROW", "COL"), help="default: the centre unit")
    rf.add_argument("-o", "--output", required=True)
    rf.set_defaults(run=_inspect("run_rf", "paths", "index", "layer", "unit"))

    augment = sub.add_parser("augment", help="the spec's augmentation applied to one image, n times")
    augment.add_argument("spec", metavar="SPEC")
    augment.add_argument("--image", nargs=1, metavar="FILE")
    augment.add_argument("--index", type=int)
    augment.add_argument("-n", type=int, default=12)
    augment.add_argument("-o", "--output", required=True)
    augment.set_defaults(run=_inspect("run_augment", "paths", "index", "n"))

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
        memory = _memory(report, args)
        if memory is None:
            return EXIT_ERROR
        if args.format == "json":
            outputs.append(RENDERERS["json"](report, memory=memory))
        elif args.format == "text":
            outputs.append(RENDERERS["text"](report, color=sys.stdout.isatty(), memory=memory))
        else:
            outputs.append(RENDERERS[args.format](report))
        if args.check:
            status = max(status, _check(report, path))
    if args.format == "json" and len(outputs) > 1:  # several specs: one JSON array of describe objects
        sys.stdout.write("[\n" + ",\n".join(o.rstrip() for o in outputs) + "\n]\n")
    else:
        sys.stdout.write("\n".join(outputs))
    return status


def _memory(report, args) -> dict | None:
    """The training-memory estimate asked for by --batch-size / --memory-budget ({} if none; None on a bad size)."""
    from archspec.analysis.memory import largest_batch, parse_size, training_memory

    memory: dict = {}
    if args.memory_budget:
        try:
            budget = parse_size(args.memory_budget)
        except ValueError as exc:
            print(f"archspec: {exc}", file=sys.stderr)
            return None
        memory["budget"] = budget
        memory["largest_batch"] = largest_batch(report, budget, args.optimizer)
    if args.batch_size or args.memory_budget:
        memory["training_step"] = training_memory(report, args.batch_size or max(1, memory["largest_batch"]), args.optimizer)
    return memory


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


_TRAIN_FLAGS = {  # flag -> dotted path in the spec's training section
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "optimizer.lr",
    "optimizer": "optimizer.name",
    "schedule": "schedule.name",
    "data": "data.source",
    "data_root": "data.root",
    "train_size": "data.train_size",
    "test_size": "data.test_size",
    "device": "device",
    "precision": "precision",
    "channels_last": "channels_last",
    "compile": "compile",
    "early_stopping": "early_stopping",
    "seed": "seed",
}


def _load_for_torch(path: str):
    """(spec, None) or (None, exit code) after printing the diagnostics."""
    from archspec.errors import SpecError
    from archspec.render import diagnostics as diag
    from archspec.spec import load

    try:
        return load(path), None
    except SpecError as exc:
        sys.stderr.write(diag.to_text(exc.diagnostics))
        return None, EXIT_ERROR if _io_only(exc.diagnostics) else EXIT_FINDINGS


def _train(args) -> int:
    from archspec.errors import ArchspecError

    spec, code = _load_for_torch(args.spec)
    if spec is None:
        return code
    overrides = {path: getattr(args, flag) for flag, path in _TRAIN_FLAGS.items() if getattr(args, flag) is not None}
    if args.no_augment:
        overrides["augment"] = []
    try:
        from archspec.runtime.train import train

        result = train(
            spec, args.out, overrides=overrides, resume=args.resume, force=args.force, quiet=args.quiet, force_memory=args.force_memory
        )
    except ArchspecError as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {result.run_dir}/metrics.jsonl, metrics.csv, curves.png, last.pt, best.pt", file=sys.stderr)
    return EXIT_OK


def _evaluate(args) -> int:
    import json

    from archspec.errors import ArchspecError

    spec, code = _load_for_torch(args.spec)
    if spec is None:
        return code
    try:
        from archspec.runtime.evaluate import evaluate

        result = evaluate(spec, args.checkpoint)
        if args.confusion:
            from archspec.runtime.plots import confusion

            confusion(result["confusion"], result["classes"], args.confusion, f"{spec.name}: confusion matrix (epoch {result['epoch']})")
    except ArchspecError as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return EXIT_OK
    print(f"accuracy {result['accuracy']:.2%} on {result['images']:,} test images (checkpoint epoch {result['epoch']})")
    width = max(len(c) for c in result["classes"])
    for name, acc in result["per_class"].items():
        print(f"  {name:<{width}}  {acc:.2%}")
    return EXIT_OK


def _predict(args) -> int:
    import json

    from archspec.errors import ArchspecError

    spec, code = _load_for_torch(args.spec)
    if spec is None:
        return code
    try:
        from archspec.runtime.evaluate import predict

        results = predict(spec, args.checkpoint, args.images, args.top_k)
    except ArchspecError as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return EXIT_OK
    for r in results:
        note = " (resized to the spec's input)" if r["resized"] else ""
        print(f"{r['image']}{note}")
        for t in r["top"]:
            print(f"  {t['probability']:7.2%}  {t['class']}")
    return EXIT_OK


def _inspect(function: str, *options: str):
    """A command that loads the spec, calls archspec.runtime.inspect.<function> and reports the file written."""

    def run(args) -> int:
        from archspec.errors import ArchspecError

        spec, code = _load_for_torch(args.spec)
        if spec is None:
            return code
        values = {o: (getattr(args, "image", None) if o == "paths" else getattr(args, o)) for o in options}
        try:
            from archspec.runtime import inspect

            getattr(inspect, function)(spec, args.output, **values)
        except ArchspecError as exc:
            print(f"archspec: {exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"wrote {args.output}", file=sys.stderr)
        return EXIT_OK

    return run


def _gradcam(args) -> int:
    import json

    from archspec.errors import ArchspecError

    spec, code = _load_for_torch(args.spec)
    if spec is None:
        return code
    try:
        from archspec.runtime import inspect

        if args.evaluate:
            result = inspect.run_gradcam_evaluation(spec, args.checkpoint, args.layer, args.limit)
            if args.format == "json":
                sys.stdout.write(json.dumps(result, indent=2) + "\n")
            else:
                print(
                    f"Grad-CAM at `{result['layer']}` on {result['images']:,} test images (true class):\n"
                    f"  pointing game  {result['pointing_game']:.3f}   (uniform-random map: {result['random_pointing_game']:.3f})\n"
                    f"  heat in box    {result['heat_in_box']:.3f}   (uniform-random map: {result['random_heat_in_box']:.3f})"
                )
            return EXIT_OK
        if not args.output:
            print("archspec: gradcam needs -o OUT.png (or --evaluate)", file=sys.stderr)
            return EXIT_ERROR
        result = inspect.run_gradcam(
            spec, args.checkpoint, args.output, paths=args.image, index=args.index, count=args.count, target=args.target, layer=args.layer
        )
    except ArchspecError as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Grad-CAM target layer: `{result['layer']}`", file=sys.stderr)
    for title in result["titles"]:
        print(f"  {title}", file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
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
    except Exception as exc:
        missing = exc.name.split(".")[0] if isinstance(exc, ModuleNotFoundError) and exc.name else None
        if missing in _EXTRAS:  # an optional dependency, not a bug
            print(f"archspec: `{args.command}` needs {missing}: pip install 'archspec[{_EXTRAS[missing]}]'", file=sys.stderr)
            return EXIT_ERROR
        # a bug in archspec, never a user's mistake: say so, keep the trace for the report
        print("archspec: internal error (please report it with the spec that caused it):", file=sys.stderr)
        traceback.print_exc()
        return EXIT_ERROR
