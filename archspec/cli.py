"""The ``archspec`` command: parse arguments, call the library, render, exit 0 / 1 / 2.

Exit codes (ruff/ESLint convention): 0 clean, 1 findings (spec errors, or
warnings under --strict), 2 usage, IO or internal error. Machine-readable
output goes to stdout and nothing else does; summaries go to stderr.

Every command runs under one error handler (``main``): a ``SpecError`` prints its
diagnostics (exit 1, or 2 when the only problem is an unreadable file), any other
``ArchspecError`` its message (exit 2), a missing optional dependency the extra
to install (exit 2), a file that cannot be read or written its name and why (exit 2);
anything else is an internal error (exit 2, with the trace). The commands that use
torch first ask ``archspec.preflight`` what the spec and the disk can refuse, so a
mistake found without torch is reported before torch is imported (seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, get_args

from archspec import __version__
from archspec.codes import Code
from archspec.errors import ArchspecError, Diagnostic, SpecError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# module -> extra
_EXTRAS = {"torch": "torch", "torchvision": "torch", "matplotlib": "torch", "pygraphviz": "diagram", "pygls": "lsp"}
# what each extra installs; the name `archspec` on the package index is another project (conda's CPU-microarchitecture
# library), so an extra is installed from a clone of this repository, never as `archspec[...]` from the index
_EXTRA_PACKAGES = {"torch": "torch torchvision matplotlib", "diagram": "pygraphviz", "lsp": "pygls"}
_TEXT_OR_JSON = ("text", "json")  # --format of the commands that print a result

Command = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2, like argparse, with our wording
        self.print_usage(sys.stderr)
        print(f"archspec: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help (where it has one worth showing); the epilog's example as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and not (
            isinstance(action.default, (set, frozenset, list, tuple)) and not action.default
        )
        if shown and "default" not in text and (action.option_strings or action.nargs in ("?", "*")):
            text += " (default: %(default)s)"
        return text


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``command``, only that subcommand is defined, so that running one command does not
    import what the others' options need (lint would otherwise load the diagram and table renderers)."""
    parser = _Parser(
        prog="archspec",
        description="Static analysis of CNN architecture specs (YAML).",
        epilog="example:\n  archspec describe specs/seed_cnn.yaml\n\n`archspec COMMAND --help` describes a command.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"archspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _COMMANDS:
        if command is None or _name(add) == command:
            add(sub)
    return parser


def _name(add: Callable[[Subparsers], None]) -> str:
    return add.__name__.removeprefix("_add_")


def _command(sub: Subparsers, name: str, summary: str, *examples: str) -> _Parser:
    """A subcommand whose help shows its defaults and ends with examples."""
    lines = "\n".join(f"  archspec {name} {e}".rstrip() for e in examples)
    return sub.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=f"example{'s' * (len(examples) > 1)}:\n{lines}",
        formatter_class=_Help,
    )


def _model_input(p: argparse.ArgumentParser) -> None:
    """`--input`: the shape at which a model reference given instead of a spec file is imported."""
    p.add_argument(
        "--input",
        type=_shape,
        default=(3, 224, 224),
        metavar="CxHxW",
        help="input shape for a MODEL given instead of a SPEC (package.module:callable or file.py:Name, imported on the fly)",
    )


def _spec_argument(p: argparse.ArgumentParser, several: bool = False) -> None:
    if several:
        p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (YAML)")
    else:
        p.add_argument("spec", metavar="SPEC", help="a spec file (YAML)")


def _output(p: argparse.ArgumentParser, help: str, *aliases: str) -> None:
    """`-o/--output`: the file a command writes (old spellings kept as hidden aliases)."""
    p.add_argument("-o", "--output", metavar="FILE", help=help)
    for alias in aliases:
        p.add_argument(alias, dest="output", help=argparse.SUPPRESS)


def _images(p: argparse.ArgumentParser, one: bool = False) -> None:
    """`--image FILE...` and `--index I`: files, or an image of the test data."""
    what = "an image file" if one else "image files"
    p.add_argument("--image", nargs="+", metavar="FILE", help=f"{what} (resized to the spec's input if needed)")
    p.add_argument("--index", type=int, metavar="I", help="use the test data's image number I instead (default: 0)")


def _add_describe(sub: Subparsers) -> None:
    from archspec.render.table import RENDERERS
    from archspec.spec.training import OptimizerName

    describe = _command(
        sub,
        "describe",
        "shapes, parameters, receptive fields and MACs of every layer",
        "specs/seed_cnn.yaml",
        "specs/resnet50.yaml --collapse-blocks --batch-size 32",
        "torchvision.models:resnet50 --input 3x224x224",
    )
    _spec_argument(describe, several=True)
    describe.add_argument("--format", choices=tuple(RENDERERS), default="text", help="output format")
    _model_input(describe)
    describe.add_argument(
        "--check", action="store_true", help="confirm every figure against torch, layer by layer (needs the torch extra)"
    )
    describe.add_argument(
        "--batch-size", type=int, metavar="N", help="also estimate the memory of a training step at this batch size"
    )
    describe.add_argument("--optimizer", choices=get_args(OptimizerName), default="adam", help="for the memory estimate")
    describe.add_argument("--memory-budget", metavar="SIZE", help="the largest batch whose training step fits, e.g. 16GiB")
    depth = describe.add_mutually_exclusive_group()
    depth.add_argument(
        "--depth",
        type=int,
        metavar="N",
        help="fold layers nested in more than N block uses into one row per use (text, markdown)",
    )
    depth.add_argument("--collapse-blocks", dest="depth", action="store_const", const=0, help="one row per block use: --depth 0")
    describe.set_defaults(run=_describe)


def _add_lint(sub: Subparsers) -> None:
    from archspec.render.diagnostics import RENDERERS

    lint = _command(
        sub,
        "lint",
        "validate specs and report problems with their positions",
        "specs/*.yaml",
        "examples/broken.yaml --format json",
    )
    _spec_argument(lint, several=True)
    lint.add_argument("--format", choices=tuple(RENDERERS), default="text", help="output format (github: Actions annotations)")
    lint.add_argument("--strict", action="store_true", help="warnings fail the run too (exit 1)")
    lint.add_argument(
        "--select", type=_code_list, default=None, metavar="CODES", help="only these codes or prefixes, e.g. W4,I501"
    )
    lint.add_argument("--ignore", type=_code_list, default=frozenset(), metavar="CODES", help="skip these codes or prefixes")
    lint.add_argument(
        "--specs-only",
        action="store_true",
        help="skip YAML files with no top-level `archspec:` key (a pre-commit hook is given every YAML file)",
    )
    _model_input(lint)
    lint.set_defaults(run=_lint)


def _add_explain(sub: Subparsers) -> None:
    explain = _command(
        sub, "explain", "a diagnostic code: what it finds, why it matters, the fix", str(Code.UNKNOWN_FIELD), "unknown-field", ""
    )
    explain.add_argument("code", nargs="?", metavar="CODE", help="a code (E201) or a name (unknown-field); none: list them all")
    explain.add_argument("--format", choices=_TEXT_OR_JSON, default="text", help="output format")
    explain.set_defaults(run=_explain)


def _add_diagram(sub: Subparsers) -> None:
    from archspec.render.diagram import FORMATS, STYLES, Direction

    diagram = _command(
        sub,
        "diagram",
        "draw the data flow (svg, png, pdf or dot)",
        "specs/seed_cnn.yaml --style params -o seed.png",
        "specs/resnet18.yaml --collapse-blocks -o -",
    )
    _spec_argument(diagram)
    _model_input(diagram)
    _output(diagram, "file to write, `-` for DOT on stdout (default: NAME.FORMAT, NAME the spec's name)")
    diagram.add_argument("--style", choices=STYLES, default="layers", help="what the nodes and edges show")
    diagram.add_argument("--format", choices=FORMATS, default=None, help="file format (default: from the suffix, else svg)")
    diagram.add_argument("--direction", choices=get_args(Direction), default="LR", help="left to right, or top to bottom")
    blocks = diagram.add_mutually_exclusive_group()
    blocks.add_argument(
        "--collapse-blocks",
        dest="collapse",
        action="store_const",
        const=True,
        help="one node per use of a block, alike uses in a chain sharing one (default above 60 layers)",
    )
    blocks.add_argument(
        "--expand-blocks",
        dest="collapse",
        action="store_const",
        const=False,
        help="every layer, blocks as clusters (default up to 60 layers)",
    )
    diagram.set_defaults(run=_diagram, collapse=None)


def _spec_default(dotted: str) -> str:
    """Help for a training flag: the spec's setting, else the default of the training section."""
    from archspec.spec.training import Training

    value: Any = Training()
    for part in dotted.split("."):
        value = getattr(value, part)
    shown = "none" if value is None else ("on" if value is True else "off" if value is False else value)
    return f"(default: the spec's `training.{dotted}`, else {shown})"


def _add_train(sub: Subparsers) -> None:
    from archspec.spec.training import DataSource, OptimizerName, Precision, ScheduleName, Task

    train = _command(
        sub,
        "train",
        "train a spec (built-in synthetic data unless told otherwise)",
        "specs/seed_cnn.yaml",
        "specs/seed_cnn.yaml --epochs 10 --lr 0.01 -o runs/seed-lr01",
    )
    _spec_argument(train)
    train.add_argument("-o", "--output", metavar="RUN_DIR", help="run folder (default: runs/NAME, NAME the spec's name)")
    train.add_argument("--out", dest="output", help=argparse.SUPPRESS)  # the old spelling
    d = _spec_default
    train.add_argument("--task", choices=get_args(Task), help=f"one class per image or per pixel {d('task')}")
    train.add_argument("--epochs", type=int, metavar="N", help=f"epochs to train {d('epochs')}")
    train.add_argument("--batch-size", type=int, metavar="N", help=f"images per step {d('batch_size')}")
    train.add_argument("--lr", type=float, help=f"learning rate {d('optimizer.lr')}")
    train.add_argument("--optimizer", choices=get_args(OptimizerName), help=f"optimizer {d('optimizer.name')}")
    train.add_argument("--schedule", choices=get_args(ScheduleName), help=f"learning-rate schedule {d('schedule.name')}")
    train.add_argument("--data", choices=get_args(DataSource), help=f"data source {d('data.source')}")
    train.add_argument("--data-root", metavar="DIR", help=f"image folder or CIFAR-10 folder {d('data.root')}")
    train.add_argument("--train-size", type=int, metavar="N", help=f"synthetic training images {d('data.train_size')}")
    train.add_argument("--test-size", type=int, metavar="N", help=f"synthetic test images {d('data.test_size')}")
    train.add_argument("--device", help=f"auto, cpu, cuda, cuda:1, mps {d('device')}")
    train.add_argument("--precision", choices=get_args(Precision), help=f"mixed precision (autocast) {d('precision')}")
    train.add_argument("--channels-last", action="store_true", default=None, help=f"channels-last memory {d('channels_last')}")
    train.add_argument("--compile", action="store_true", default=None, help=f"torch.compile the model {d('compile')}")
    train.add_argument(
        "--early-stopping",
        type=int,
        metavar="EPOCHS",
        help=f"stop after this many epochs of rising test loss {d('early_stopping')}",
    )
    train.add_argument("--seed", type=int, help=f"seed of the data, the initialisation and the order {d('seed')}")
    train.add_argument("--no-augment", action="store_true", help="ignore the spec's augmentation")
    train.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from last.pt")
    train.add_argument("--force", action="store_true", help="start over in a RUN_DIR that holds a run")
    train.add_argument("--force-memory", action="store_true", help="train even if the memory estimate exceeds what is free")
    train.add_argument("--quiet", action="store_true", help="no progress lines")
    train.set_defaults(run=_train)


def _add_evaluate(sub: Subparsers) -> None:
    evaluate = _command(
        sub,
        "evaluate",
        "accuracy, per-class accuracy and confusion matrix of a checkpoint (segmentation: pixel accuracy and IoU)",
        "specs/seed_cnn.yaml --checkpoint runs/seed-cnn/best.pt -o confusion.png",
        "specs/unet_small.yaml --checkpoint runs/unet/best.pt --format json",
    )
    _spec_argument(evaluate)
    evaluate.add_argument("--checkpoint", required=True, metavar="FILE", help="a checkpoint of `archspec train`")
    _output(evaluate, "draw the confusion matrix into this PNG (default: none)", "--confusion")
    evaluate.add_argument("--format", choices=_TEXT_OR_JSON, default="text", help="output format")
    evaluate.set_defaults(run=_evaluate)


def _add_predict(sub: Subparsers) -> None:
    predict = _command(
        sub,
        "predict",
        "top-k classes of image files (segmentation: the predicted masks drawn over the images)",
        "specs/seed_cnn.yaml --checkpoint runs/seed-cnn/best.pt --image cat.png dog.png --top-k 3",
        "specs/unet_small.yaml --checkpoint runs/unet/best.pt --index 0 --count 4 -o masks.png",
    )
    _spec_argument(predict)
    predict.add_argument("--image", nargs="+", metavar="FILE", help="image files (resized to the spec's input if needed)")
    predict.add_argument("images", nargs="*", help=argparse.SUPPRESS)  # the old spelling: image files after SPEC
    predict.add_argument("--checkpoint", required=True, metavar="FILE", help="a checkpoint of `archspec train`")
    predict.add_argument("--index", type=int, metavar="N", help="predict test images from this one instead of files")
    predict.add_argument("--count", type=int, default=4, metavar="N", help="test images from --index")
    predict.add_argument("--top-k", type=int, default=5, metavar="K", help="classes shown per image")
    _output(predict, "segmentation runs: PNG of the predicted masks over the images (default: NAME-predict.png)")
    predict.add_argument("--format", choices=_TEXT_OR_JSON, default="text", help="output format")
    predict.set_defaults(run=_predict)


def _add_gradcam(sub: Subparsers) -> None:
    gradcam = _command(
        sub,
        "gradcam",
        "Grad-CAM heat maps, or their pointing-game score (--evaluate)",
        "specs/seed_cnn.yaml --checkpoint runs/seed-cnn/best.pt --index 0 --count 4 -o gradcam.png",
        "specs/seed_cnn.yaml --checkpoint runs/seed-cnn/best.pt --evaluate",
    )
    _spec_argument(gradcam)
    gradcam.add_argument("--checkpoint", required=True, metavar="FILE", help="a checkpoint of `archspec train`")
    _images(gradcam)
    _output(gradcam, "PNG to write (default: NAME-gradcam.png, NAME the spec's name; none with --evaluate)")
    gradcam.add_argument("--count", type=int, default=4, metavar="N", help="images from the test data (with --index)")
    gradcam.add_argument("--class", dest="target", default="top", metavar="CLASS", help="top, true, a class index or name")
    gradcam.add_argument(
        "--layer",
        help="target layer: feature maps, or tokens on a grid (default: the last spatial layer before pooling/flatten; "
        "with tokens, the input of the last attention)",
    )
    gradcam.add_argument("--evaluate", action="store_true", help="score on the test data's object boxes instead")
    gradcam.add_argument("--limit", type=int, metavar="N", help="--evaluate on the first N test images only (default: all)")
    gradcam.add_argument("--format", choices=_TEXT_OR_JSON, default="text", help="output format of --evaluate")
    gradcam.set_defaults(run=_gradcam)


def _add_kernels(sub: Subparsers) -> None:
    kernels = _command(
        sub,
        "kernels",
        "a convolution's kernels as images",
        "specs/seed_cnn.yaml --checkpoint runs/seed-cnn/best.pt --layer conv2 -o kernels.png",
    )
    _spec_argument(kernels)
    kernels.add_argument("--checkpoint", metavar="FILE", help="a checkpoint of `archspec train` (default: untrained)")
    kernels.add_argument(
        "--weights", metavar="FILE", help="a torchvision weights file instead, matched by layer name (e.g. AlexNet's)"
    )
    kernels.add_argument("--layer", help="a convolution (default: the first)")
    _output(kernels, "PNG to write (default: NAME-kernels.png, NAME the spec's name)")
    kernels.set_defaults(run=_inspect("run_kernels", "checkpoint", "weights", "layer"))


def _add_features(sub: Subparsers) -> None:
    features = _command(
        sub,
        "features",
        "one layer's feature maps for one image",
        "specs/seed_cnn.yaml --checkpoint runs/seed-cnn/best.pt --index 3 --layer conv1 -o maps.png",
    )
    _spec_argument(features)
    features.add_argument("--checkpoint", metavar="FILE", help="a checkpoint of `archspec train` (default: untrained)")
    _images(features, one=True)
    features.add_argument("--layer", help="a layer with C×H×W output (default: the first convolution)")
    _output(features, "PNG to write (default: NAME-features.png, NAME the spec's name)")
    features.set_defaults(run=_inspect("run_features", "checkpoint", "paths", "index", "layer"))


def _add_rf(sub: Subparsers) -> None:
    rf = _command(
        sub,
        "rf",
        "a unit's receptive field drawn on an image (from the static r, S, P)",
        "specs/seed_cnn.yaml --index 3 --layer pool2 --unit 8 8 -o rf.png",
    )
    _spec_argument(rf)
    _images(rf, one=True)
    rf.add_argument("--layer", help="the layer whose unit is drawn (default: the last spatial layer before pooling/flatten)")
    rf.add_argument(
        "--unit",
        type=int,
        nargs="+",
        metavar="I",
        help="the unit's position, one index per spatial axis: ROW COL for images (default: the centre unit)",
    )
    _output(rf, "PNG to write (default: NAME-rf.png, NAME the spec's name)")
    rf.set_defaults(run=_inspect("run_rf", "paths", "index", "layer", "unit"))


def _add_augment(sub: Subparsers) -> None:
    augment = _command(
        sub,
        "augment",
        "the spec's augmentation applied to one image, n times",
        "specs/seed_cnn_augmented.yaml --index 0 -n 12 -o augment.png",
    )
    _spec_argument(augment)
    _images(augment, one=True)
    augment.add_argument("-n", type=int, default=12, metavar="N", help="random compositions drawn")
    _output(augment, "PNG to write (default: NAME-augment.png, NAME the spec's name)")
    augment.set_defaults(run=_inspect("run_augment", "paths", "index", "n"))


def _add_schema(sub: Subparsers) -> None:
    schema = _command(sub, "schema", "print the JSON Schema of the spec format (for editors)", "> archspec.schema.json")
    schema.set_defaults(run=_schema)


def _add_lsp(sub: Subparsers) -> None:
    lsp = _command(sub, "lsp", "serve editors over stdio: diagnostics, shapes as inlay hints, hover (the `lsp` extra)", "")
    lsp.set_defaults(run=_lsp)


def _add_import(sub: Subparsers) -> None:
    imp = _command(
        sub,
        "import",
        "write the spec of a PyTorch model (traced with torch.fx; needs the torch extra)",
        "torchvision.models:resnet18 --input 3x224x224 -o resnet18.yaml",
        "path/to/model.py:Net --input 3x32x32 --partial -o net.yaml",
    )
    imp.add_argument("ref", metavar="MODEL", help="package.module:callable (called with no arguments) or path/to/file.py:Name")
    imp.add_argument("--input", required=True, type=_shape, metavar="CxHxW", help="the input's shape without the batch")
    imp.add_argument("--partial", action="store_true", help="on an operation with no kind, write the spec up to it")
    imp.add_argument("--blocks", action="store_true", help="write repeated submodules once, as blocks with parameters")
    _output(imp, "spec file to write (default: stdout)")
    imp.set_defaults(run=_import)


def _shape(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(n) for n in text.lower().replace(",", "x").split("x"))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape such as 3x224x224")
    return sizes


def _import(args: argparse.Namespace) -> int:
    from archspec.importer import UnsupportedOp, from_torch, load_ref

    model, name = load_ref(args.ref)
    try:
        text = from_torch(model, args.input, name=name, source=args.ref, partial=args.partial, blocks=args.blocks)
    except UnsupportedOp as exc:  # the model's limit, not a usage error: exit 1, as findings
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_FINDINGS
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    stopped = "# stopped here" in text
    if stopped:
        print(f"archspec: {args.output or 'the spec'} stops at an operation with no kind (see its last line)", file=sys.stderr)
    return EXIT_FINDINGS if stopped else EXIT_OK


def _code_list(text: str) -> set[str]:
    return {c.strip().upper() for c in text.split(",") if c.strip()}


def _describe(args: argparse.Namespace) -> int:
    from archspec.analysis import analyze
    from archspec.render.table import to_csv, to_json, to_markdown, to_text
    from archspec.spec import load, loads

    status = EXIT_OK
    outputs = []
    for path in args.specs:
        try:
            if _is_model_ref(path):
                text = _imported(path, args.input)
                spec = None if text is None else loads(text, path)
            else:
                spec = load(path)
        except SpecError as exc:  # report it and go on with the other specs
            status = max(status, _print_diagnostics(exc.diagnostics))
            continue
        if spec is None:  # a model with an op that has no kind (said on stderr): a finding, as a spec's error
            status = max(status, EXIT_FINDINGS)
            continue
        report = analyze(spec)
        memory = _memory(report, args)
        if memory is None:
            return EXIT_ERROR
        if args.format == "json":
            outputs.append(to_json(report, memory=memory))
        elif args.format == "text":
            outputs.append(to_text(report, color=sys.stdout.isatty(), memory=memory, depth=args.depth))
        elif args.format == "markdown":
            outputs.append(to_markdown(report, depth=args.depth))
        else:  # csv: one header, then the rows of every spec (its first column names the spec)
            outputs.append(to_csv(report, header=not outputs))
        if args.check:
            status = max(status, _check(report, path))
    if args.format == "json" and len(outputs) > 1:  # several specs: one JSON array of describe objects
        sys.stdout.write("[\n" + ",\n".join(o.rstrip() for o in outputs) + "\n]\n")
    elif args.format == "csv":
        sys.stdout.write("".join(outputs))
    else:
        sys.stdout.write("\n".join(outputs))
    return status


def _is_model_ref(path: str) -> bool:
    """``torchvision.models:resnet50`` or ``net.py:Net`` rather than a spec file."""
    return ":" in path and not os.path.exists(path) and not path.endswith((".yaml", ".yml"))


def _imported(ref: str, input_shape: tuple[int, ...]) -> str | None:
    """The spec text of a model reference, imported on the fly (torch is imported only here); None, said on
    stderr, for a model with an op that has no kind."""
    from archspec.importer import UnsupportedOp, from_torch, load_ref

    model, name = load_ref(ref)
    try:
        return from_torch(model, input_shape, name=name, source=ref, blocks=True)  # so --collapse-blocks folds them
    except UnsupportedOp as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return None


def _memory(report: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """The training-memory estimate asked for by --batch-size / --memory-budget ({} if none; None on a bad size)."""
    from archspec.analysis.memory import largest_batch, parse_size, training_memory

    memory: dict[str, Any] = {}
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


def _check(report: Any, path: str) -> int:
    """Compare the report with torch; the verdict goes to stderr so stdout stays pure data."""
    try:
        from archspec.runtime.check import check
    except ImportError as exc:
        print(f"archspec: --check needs torch ({exc.name} is missing): {_install('torch')}", file=sys.stderr)
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


def _lint(args: argparse.Namespace) -> int:
    from archspec.lint import lint_file, lint_text
    from archspec.render import diagnostics as diag

    found = []
    refused = False
    specs = [p for p in args.specs if not args.specs_only or _is_model_ref(p) or _has_spec_key(p)]
    for path in specs:
        if not _is_model_ref(path):
            found += lint_file(path, select=args.select, ignore=args.ignore)
        elif (text := _imported(path, args.input)) is not None:
            found += lint_text(text, path, select=args.select, ignore=args.ignore)
        else:
            refused = True
    sys.stdout.write(diag.RENDERERS[args.format](found))
    if args.format == "text":
        sys.stdout.flush()
        print(diag.summary(found, len(specs)), file=sys.stderr)
    if found and _io_only(found):
        return EXIT_ERROR
    failing = {"error"} | ({"warning"} if args.strict else set())
    return EXIT_FINDINGS if refused or any(d.severity.value in failing for d in found) else EXIT_OK


def _has_spec_key(path: str) -> bool:
    """Does the file have a top-level `archspec:` key? An unreadable file counts as a spec, so lint reports why."""
    import re
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    return re.search(r"^archspec\s*:", text, flags=re.MULTILINE) is not None


def _explain(args: argparse.Namespace) -> int:
    import json

    from archspec.codes import TABLE, lookup, suggest_code

    if args.code is None:
        if args.format == "json":
            sys.stdout.write(json.dumps([row.to_dict() for row in TABLE.values()], indent=2, ensure_ascii=False) + "\n")
        else:
            width = max(len(row.name) for row in TABLE.values())
            sys.stdout.write("".join(f"{row.code}  {row.name:<{width}}  {row.summary}\n" for row in TABLE.values()))
        return EXIT_OK
    row = lookup(args.code)
    if row is None:
        guess = suggest_code(args.code)
        hint = f" — did you mean {guess.code} ({guess.name})?" if guess else ""
        print(f"archspec: unknown code or rule `{args.code}`{hint} (`archspec explain` lists them all)", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        sys.stdout.write(json.dumps(row.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(row.to_text())
    return EXIT_OK


def _diagram(args: argparse.Namespace) -> int:
    from archspec.analysis import analyze
    from archspec.render.diagram import render, to_dot
    from archspec.spec import load, loads

    if _is_model_ref(args.spec):
        text = _imported(args.spec, args.input)
        if text is None:
            return EXIT_FINDINGS
        report = analyze(loads(text, args.spec))
    else:
        report = analyze(load(args.spec))
    source = to_dot(report, args.style, args.direction, args.collapse)
    if args.output is None:
        args.output = f"{report.name}.{args.format or 'svg'}"
    if args.output == "-":
        sys.stdout.write(source)
        return EXIT_OK
    try:
        path = render(source, args.output, args.format)
    except OSError as exc:
        print(f"archspec: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {path} ({args.style} style)", file=sys.stderr)
    return EXIT_OK


_TRAIN_FLAGS = {  # flag -> dotted path in the spec's training section
    "task": "task",
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


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from archspec.analysis import analyze
    from archspec.preflight import check_training
    from archspec.spec import load

    spec = load(args.spec)
    overrides: dict[str, Any] = {
        path: getattr(args, flag) for flag, path in _TRAIN_FLAGS.items() if getattr(args, flag) is not None
    }
    if args.no_augment:
        overrides["augment"] = []
    run_dir = Path(args.output) if args.output else Path("runs") / spec.name
    # what the spec, the settings and the disk can refuse, before torch is imported (seconds)
    check_training(spec, analyze(spec), run_dir, overrides, resume=args.resume, force=args.force)
    if not args.quiet and os.environ.get("RANK", "0") == "0":  # rank 0 alone speaks under torchrun
        print("loading torch…", file=sys.stderr)  # seconds of silence otherwise
    from archspec.runtime.train import train

    result = train(
        spec,
        run_dir,
        overrides=overrides,
        resume=args.resume,
        force=args.force,
        quiet=args.quiet,
        force_memory=args.force_memory,
    )
    print(f"wrote {result.run_dir}/metrics.jsonl, metrics.csv, curves.png, last.pt, best.pt", file=sys.stderr)
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from archspec.spec import load

    spec = load(args.spec)
    _preflight(args, spec)
    from archspec.runtime.evaluate import evaluate

    result = evaluate(spec, args.checkpoint)
    segmentation = result.get("task") == "segmentation"
    if args.output:
        from archspec.runtime.plots import confusion

        what = "confusion matrix of pixels" if segmentation else "confusion matrix"
        confusion(result["confusion"], result["classes"], args.output, f"{spec.name}: {what} (epoch {result['epoch']})")
        print(f"wrote {args.output}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return EXIT_OK
    if segmentation:
        print(
            f"mean IoU {result['mean_iou']:.3f}, pixel accuracy {result['pixel_accuracy']:.2%} on {result['images']:,} "
            f"test images (checkpoint epoch {result['epoch']}); IoU per class:"
        )
        width = max(len(c) for c in result["classes"])
        for name, value in result["per_class_iou"].items():
            print(f"  {name:<{width}}  {'—' if value is None else f'{value:.3f}'}")
        return EXIT_OK
    print(f"accuracy {result['accuracy']:.2%} on {result['images']:,} test images (checkpoint epoch {result['epoch']})")
    width = max(len(c) for c in result["classes"])
    for name, acc in result["per_class"].items():
        print(f"  {name:<{width}}  {acc:.2%}")
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    import json

    from archspec.spec import load

    spec = load(args.spec)
    args.image = (args.image or []) + args.images  # the old spelling: image files after SPEC
    if not args.image and args.index is None:
        print("archspec: predict needs --image FILE... or --index N", file=sys.stderr)
        return EXIT_ERROR
    if args.image and args.index is not None:
        print("archspec: predict takes --image FILE... or --index N, not both", file=sys.stderr)
        return EXIT_ERROR
    _preflight(args, spec)
    from archspec.runtime.evaluate import predict

    results = predict(spec, args.checkpoint, args.image, args.top_k, output=args.output, index=args.index, count=args.count)
    if results and "pixels" in results[0]:
        print(f"wrote {results[0]['output']}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return EXIT_OK
    for r in results:
        note = " (resized to the spec's input)" if r["resized"] else ""
        print(f"{r['image']}{note}" + (f"  (true: {r['true']})" if "true" in r else ""))
        if "pixels" in r:
            print("  " + ", ".join(f"{name} {share:.1%}" for name, share in r["pixels"].items()))
        for t in r.get("top", []):
            print(f"  {t['probability']:7.2%}  {t['class']}")
    return EXIT_OK


def _inspect(function: str, *options: str) -> Command:
    """A command that loads the spec, calls archspec.runtime.inspect.<function> and reports the file written."""

    def run(args: argparse.Namespace) -> int:
        from archspec.spec import load

        spec = load(args.spec)
        args.output = args.output or _default_output(args, spec)
        _preflight(args, spec)
        values = {o: (getattr(args, "image", None) if o == "paths" else getattr(args, o)) for o in options}
        from archspec.runtime import inspect

        getattr(inspect, function)(spec, args.output, **values)
        print(f"wrote {args.output}", file=sys.stderr)
        return EXIT_OK

    return run


def _gradcam(args: argparse.Namespace) -> int:
    import json

    from archspec.spec import load

    spec = load(args.spec)
    if not args.evaluate:
        args.output = args.output or _default_output(args, spec)
    _preflight(args, spec)
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
    result = inspect.run_gradcam(
        spec,
        args.checkpoint,
        args.output,
        paths=args.image,
        index=args.index,
        count=args.count,
        target=args.target,
        layer=args.layer,
    )
    print(f"Grad-CAM target layer: `{result['layer']}`", file=sys.stderr)
    for title in result["titles"]:
        print(f"  {title}", file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


_ONE_IMAGE = ("features", "rf", "augment")  # the commands that draw a single image


def _default_output(args: argparse.Namespace, spec: Any) -> str:
    """Where a command that draws writes without -o: NAME-COMMAND.png in the current folder."""
    return f"{spec.name}-{args.command}.png"


def _preflight(args: argparse.Namespace, spec: Any) -> None:
    """What the commands that use torch can refuse before importing it (seconds): files named that are not
    there, an output folder that does not exist, a layer that does not exist or cannot show what is asked."""
    from archspec import preflight
    from archspec.analysis import analyze

    for name in ("output", "confusion"):
        path = getattr(args, name, None)
        if path:
            preflight.check_output(path)
    images = getattr(args, "image", None) or []
    if len(images) > 1 and args.command in _ONE_IMAGE:
        raise ArchspecError(f"`{args.command}` draws one image: give one --image FILE")
    preflight.check_inputs(images)
    for name in ("checkpoint", "weights"):
        path = getattr(args, name, None)
        if path:
            preflight.check_inputs([path], name)
    report = analyze(spec)
    layer = getattr(args, "layer", None)
    if args.command == "features" and layer:
        preflight.check_feature_maps(report, layer)
    elif args.command == "rf" and layer:
        preflight.check_receptive_field(report, layer, args.unit)
    elif args.command == "augment":
        preflight.check_augment(spec)
    elif layer:
        preflight.check_layer(report, layer)


def _schema(args: argparse.Namespace) -> int:
    import json

    from archspec.spec.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


def _lsp(args: argparse.Namespace) -> int:
    from archspec.lsp import serve

    serve()
    return EXIT_OK


_COMMANDS: list[Callable[[Subparsers], None]] = [  # in the order `archspec --help` lists them
    _add_describe,
    _add_lint,
    _add_explain,
    _add_diagram,
    _add_train,
    _add_evaluate,
    _add_predict,
    _add_gradcam,
    _add_kernels,
    _add_features,
    _add_rf,
    _add_augment,
    _add_schema,
    _add_lsp,
    _add_import,
]


def _io_only(diagnostics: Iterable[Diagnostic]) -> bool:
    return all(d.code == Code.UNREADABLE_FILE for d in diagnostics)


def _print_diagnostics(diagnostics: list[Diagnostic]) -> int:
    """A spec that cannot be loaded: its diagnostics on stderr; exit 1, or 2 if the only problem is an unreadable file."""
    from archspec.render import diagnostics as diag

    sys.stderr.write(diag.to_text(diagnostics))
    return EXIT_ERROR if _io_only(diagnostics) else EXIT_FINDINGS


def _install(extra: str) -> str:
    """How to install an extra: its packages, or the extra itself from a clone of the repository."""
    return f"pip install {_EXTRA_PACKAGES[extra]} (or `pip install -e '.[{extra}]'` in a clone of archspec's repository)"


def _run(command: str, run: Command, args: argparse.Namespace) -> int:
    """Run one command; what it raises becomes a message on stderr and an exit code (see the module docstring)."""
    try:
        return run(args)
    except SpecError as exc:
        return _print_diagnostics(exc.diagnostics)
    except ArchspecError as exc:
        print(f"archspec: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the last resort: nothing escapes as a bare trace
        if isinstance(exc, OSError) and exc.filename:  # a file named on the command line cannot be read or written
            print(f"archspec: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        missing = exc.name.split(".")[0] if isinstance(exc, ModuleNotFoundError) and exc.name else None
        if missing in _EXTRAS:  # an optional dependency, not a bug
            print(f"archspec: `{command}` needs {missing}: {_install(_EXTRAS[missing])}", file=sys.stderr)
            return EXIT_ERROR
        # a bug in archspec, never a user's mistake: say so, keep the trace for the report
        print("archspec: internal error (please report it with the spec that caused it):", file=sys.stderr)
        traceback.print_exc()
        return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    named = argv[0] if argv and argv[0] in {_name(add) for add in _COMMANDS} else None
    parser = _parser(named)
    args = parser.parse_args(argv)
    if args.command is None:  # bare `archspec`: the help, as a usage error
        parser.print_help(sys.stderr)
        raise SystemExit(EXIT_ERROR)
    return _run(args.command, args.run, args)
