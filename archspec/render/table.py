"""describe as text (a rich table, torchinfo-style), markdown, CSV and JSON, all from one Report."""

from __future__ import annotations

import csv
import io
import json

from archspec.analysis.report import Report
from archspec.layers import fmt_shape
from archspec.render.numbers import dims, si, size

COLUMNS = ("Layer", "Type", "Output shape", "Params", "RF", "MACs")


def rows(report: Report) -> list[tuple[str, ...]]:
    out = []
    for info in report.layers:
        rf = dims(tuple(a.size for a in info.rf)) if info.rf is not None else "—"
        out.append(
            (
                info.name,
                info.label,
                fmt_shape(info.output_shape) if info.output_shape else "?",
                f"{info.params:,}",
                rf,
                f"{info.macs:,}",
            )
        )
    return out


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


def memory_lines(memory: dict) -> list[tuple[str, str]]:
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


def to_text(report: Report, *, color: bool = False, width: int | None = None, memory: dict | None = None) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.name}", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for col in COLUMNS:
        table.add_column(col, justify="right" if col in ("Params", "MACs", "RF") else "left", no_wrap=True)
    for row in rows(report):
        table.add_row(*row)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 200, force_terminal=color, no_color=not color, highlight=False)
    console.print(table)
    lines = total_lines(report) + memory_lines(memory or {})
    label_width = max(len(k) for k, _ in lines)
    for key, value in lines:
        console.print(f"{key:<{label_width}}  {value}")
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def to_markdown(report: Report) -> str:
    lines = [
        f"### {report.name}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] * 2 + ["---"] + ["---:"] * 3) + "|",
    ]
    for row in rows(report):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines += ["", "| Total | |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in total_lines(report)]
    return "\n".join(lines) + "\n"


def to_csv(report: Report) -> str:
    """One row per layer; shapes and receptive fields written ``AxBxC`` (one value per axis, any rank)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
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
        ]
    )
    for info in report.layers:
        rf = ["x".join(str(getattr(a, part)) for a in info.rf) for part in ("size", "stride", "padding")] if info.rf else [""] * 3
        writer.writerow(
            [
                info.name,
                info.type,
                " ".join(info.inputs),
                "x".join(map(str, info.output_shape or ())),
                info.params,
                info.trainable_params,
                info.buffer_elements,
                info.macs,
                *rf,
            ]
        )
    return buffer.getvalue()


def to_json(report: Report, memory: dict | None = None) -> str:
    data = report.to_dict()
    if memory:
        data["training_memory"] = memory
    return json.dumps(data, indent=2) + "\n"


RENDERERS = {"text": to_text, "markdown": to_markdown, "csv": to_csv, "json": to_json}
