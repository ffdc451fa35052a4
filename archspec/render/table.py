"""describe as text (a rich table, torchinfo-style), markdown, CSV and JSON, all from one Report."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from archspec.analysis.report import LayerInfo, Report
from archspec.layers import fmt_shape
from archspec.render.numbers import dims, si, size

COLUMNS = ("Layer", "Type", "Output shape", "Params", "RF", "MACs")


@dataclass
class Row:
    """One line of the table: a layer, or a use of a block collapsed at the asked depth."""

    name: str
    label: str
    last: LayerInfo  # the layer whose output the row shows
    params: int
    macs: int
    kind: str

    def cells(self) -> tuple[str, ...]:
        info = self.last
        rf = dims(tuple(a.size for a in info.rf)) if info.rf is not None else "—"
        shape = fmt_shape(info.output_shape) if info.output_shape else "?"
        return (self.name, self.label, shape, f"{self.params:,}", rf, f"{self.macs:,}")


def grouped(report: Report, depth: int | None = None) -> list[Row]:
    """The table's rows: every layer, or (``depth`` N) layers nested in more than N block uses folded
    into one row per use at depth N, as torchinfo's ``depth`` does. Depth 0 shows one row per top-level use."""
    spec = report.spec
    call_of = {inst: call for call, insts in spec.block_calls.items() for inst in insts} if spec is not None else {}
    out: dict[str, Row] = {}
    for info in report.layers:
        chain = spec.block_of.get(info.name, ()) if spec is not None else ()
        if depth is None or len(chain) <= depth:
            out[info.name] = Row(info.name, info.label, info, info.params, info.macs, info.type)
            continue
        call = call_of.get(chain[depth], chain[depth])
        row = out.get(call)
        if row is None:
            instances = spec.block_calls.get(call, (chain[depth],))
            kind = spec.block_types.get(instances[0], "block")
            label = f"{kind} ×{len(instances)}" if len(instances) > 1 else kind
            row = out[call] = Row(call, label, info, 0, 0, kind)
        row.params += info.params
        row.macs += info.macs
        row.last = info  # a block's output is its last layer, in topological order
    return list(out.values())


def rows(report: Report, depth: int | None = None) -> list[tuple[str, ...]]:
    return [row.cells() for row in grouped(report, depth)]


def total_lines(report: Report) -> list[tuple[str, str]]:
    t = report.totals()
    return [
        ("Input shape", fmt_shape(report.input_shape)),
        ("Output shape", fmt_shape(report.output_shape) if report.output_shape else "?"),
        ("Total params", f"{t['params']:,}"),
        ("Trainable params", f"{t['trainable_params']:,}"),
        ("Non-trainable params", f"{t['non_trainable_params']:,}"),
        ("Buffers (running stats)", f"{t['buffers']:,}"),
        ("MACs", f"{t['macs']:,} ({si(t['macs'])})"),
        ("FLOPs (2 × MACs)", f"{t['flops']:,} ({si(t['flops'])})"),
        ("Params size (float32)", size(t["param_bytes"])),
        ("Input size, one sample", size(t["input_bytes"])),
        ("Activations, one sample", size(t["activation_bytes"])),
    ]


def memory_lines(memory: dict[str, Any]) -> list[tuple[str, str]]:
    if not memory:
        return []
    step = memory["training_step"]
    lines = []
    if "budget" in memory:
        lines.append((f"Largest batch in {size(memory['budget'])}", f"{memory['largest_batch']:,} ({step['optimizer']})"))
    lines += [
        (f"Training step, batch {step['batch_size']:,}", f"{size(step['total'])} ({step['optimizer']}, float32)"),
        ("  params + gradients", size(step["params"] + step["gradients"])),
        ("  optimizer state", size(step["optimizer_state"])),
        ("  saved activations", size(step["saved_activations"])),
        ("  backward gradient buffers", size(step["backward_buffers"])),
    ]
    return lines


def to_text(
    report: Report,
    *,
    color: bool = False,
    width: int | None = None,
    memory: dict[str, Any] | None = None,
    depth: int | None = None,
) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.name}", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for col in COLUMNS:
        table.add_column(col, justify="right" if col in ("Params", "MACs", "RF") else "left", no_wrap=True)
    for row in rows(report, depth):
        table.add_row(*row)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 200, force_terminal=color, no_color=not color, highlight=False)
    console.print(table)
    lines = total_lines(report) + memory_lines(memory or {})
    label_width = max(len(k) for k, _ in lines)
    for key, value in lines:
        console.print(f"{key:<{label_width}}  {value}")
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def to_markdown(report: Report, depth: int | None = None) -> str:
    lines = [
        f"### {report.name}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] * 2 + ["---"] + ["---:"] * 3) + "|",
    ]
    for row in rows(report, depth):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines += ["", "| Total | |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in total_lines(report)]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "spec",
    "name",
    "type",
    "inputs",
    "output_shape",
    "params",
    "trainable_params",
    "buffers",
    "macs",
    "rf_size",
    "rf_stride",
    "rf_padding",
)


def to_csv(report: Report, *, header: bool = True) -> str:
    """One row per layer, the spec's name first (so the rows of several specs can share one file);
    shapes and receptive fields written ``AxBxC`` (one value per axis, any rank)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for info in report.layers:
        rf = ["x".join(str(getattr(a, part)) for a in info.rf) for part in ("size", "stride", "padding")] if info.rf else [""] * 3
        shape = "x".join(map(str, info.output_shape or ()))
        counts = [info.params, info.trainable_params, info.buffer_elements, info.macs]
        writer.writerow([report.name, info.name, info.type, " ".join(info.inputs), shape, *counts, *rf])
    return buffer.getvalue()


def to_json(report: Report, memory: dict[str, Any] | None = None) -> str:
    data = report.to_dict()
    if memory:
        data["training_memory"] = memory
    return json.dumps(data, indent=2) + "\n"


RENDERERS = {"text": to_text, "markdown": to_markdown, "csv": to_csv, "json": to_json}
