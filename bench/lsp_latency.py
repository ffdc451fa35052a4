"""The language server's latency: from a `didChange` to its published diagnostics, and to the inlay hints after.

    .venv/bin/python bench/lsp_latency.py             # prints the figures
    .venv/bin/python bench/lsp_latency.py --write     # also writes them into bench/RESULTS.md (its lsp section)

`archspec lsp` runs as a subprocess spoken to over stdio, as an editor would. Each edit changes one value of the
spec back and forth and comes after a pause longer than the server's debounce, as a single edit does; a burst
of typing is analysed once, DEBOUNCE_S after its last change. Each spec is edited in a top-level layer and in its
input's shape (read by patching the previous version's lint: only that layer or the header line is parsed again,
and only as far downstream as the change reaches is analysed again), inside a block (the text read whole, the
analysis resumed: the layers and their wiring are the same) and by adding a layer (spliced in: the new lines
parsed, what follows moved, the graph rewired). Targets (resnet50 within 30 ms median, 10,000 layers within
500 ms) are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archspec.lint import lint_state
from archspec.lsp.server import DEBOUNCE_S
from bench.sections import write_section

VIEW = {"start": {"line": 0, "character": 0}, "end": {"line": 80, "character": 0}}  # editors ask for the lines in view
BEGIN, END = "<!-- lsp:begin (bench/lsp_latency.py) -->", "<!-- lsp:end -->"


class Client:
    """A bare JSON-RPC client over the server's stdin/stdout (Content-Length framing)."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "archspec", "lsp"]
        self.server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        self.ids = 0

    def send(self, method: str, params: Any, request: bool = False) -> int | None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.ids += 1
            message["id"] = self.ids
        body = json.dumps(message).encode()
        assert self.server.stdin is not None
        self.server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.server.stdin.flush()
        return message.get("id")

    def receive(self) -> dict[str, Any]:
        assert self.server.stdout is not None
        length = 0
        while (line := self.server.stdout.readline().strip()) != b"":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return json.loads(self.server.stdout.read(length))

    def wait(self, test: Any) -> dict[str, Any]:
        while True:
            message = self.receive()
            if test(message):
                return message

    def request(self, method: str, params: Any) -> dict[str, Any]:
        ident = self.send(method, params, request=True)
        return self.wait(lambda m: m.get("id") == ident and "method" not in m)

    def close(self) -> None:
        self.request("shutdown", None)
        self.send("exit", None)
        self.server.wait(timeout=10)


def chain(n: int) -> str:
    """n layers in a chain (conv and relu), as bench/run.py's scaling figures use."""
    body = "".join(
        f"  - {{type: conv2d, name: conv{i}, out_channels: 8, kernel_size: 3, padding: 1}}\n  - {{type: relu, name: relu{i}}}\n"
        for i in range(n // 2)
    )
    return f"archspec: 1\nname: chain\ninput: [8, 32, 32]\nlayers:\n{body}"


Case = tuple[str, str, str, tuple[str, str], int]  # spec, what the edit changes, text, (old, new), edits timed


def cases(edits: int, layers: int) -> list[Case]:
    resnet50 = (ROOT / "specs" / "resnet50.yaml").read_text()
    long = chain(layers)
    few = max(3, edits // 4)
    middle, added = f"  - {{type: relu, name: relu{layers // 4}}}\n", "  - {type: identity, name: added}\n"
    return [
        (
            "resnet50",
            "a top-level layer (`conv1` 64 ↔ 32 channels)",
            resnet50,
            ("out_channels: 64, kernel_size: 7", "out_channels: 32, kernel_size: 7"),
            edits,
        ),
        (
            "resnet50",
            "a layer in a block (`conv2` bias)",
            resnet50,
            ("stride: $stride, padding: 1, bias: false", "stride: $stride, padding: 1, bias: true"),
            edits,
        ),
        ("resnet50", "the input (3 ↔ 4 channels)", resnet50, ("input: [3, 224, 224]", "input: [4, 224, 224]"), edits),
        (
            f"chain of {layers:,} layers",
            "a layer in the middle (8 ↔ 9 channels)",
            long,
            (f"name: conv{layers // 4}, out_channels: 8", f"name: conv{layers // 4}, out_channels: 9"),
            few,
        ),
        (f"chain of {layers:,} layers", "the input (8 ↔ 9 channels)", long, ("input: [8, 32, 32]", "input: [9, 32, 32]"), few),
        (f"chain of {layers:,} layers", "a layer added in the middle (a line more)", long, (middle, middle + added), few),
    ]


def measure(client: Client, case: Case, index: int) -> dict[str, Any]:
    """Open one text, then time changes of one of its values, back and forth."""
    name, what, text, (old, new), edits = case
    assert text.count(old) == 1, old
    # never written: the text lives in the client; one per case, so that the empty diagnostics published when
    # the previous case's document closes are not taken for this one's
    uri = (ROOT / "bench" / f"case{index}.yaml").as_uri()
    version = 0
    item = {"uri": uri, "languageId": "yaml", "version": version, "text": text}
    client.send("textDocument/didOpen", {"textDocument": item})
    client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
    variants = [text.replace(old, new), text]
    to_diagnostics, to_hints, hinted = [], [], 0
    for n in range(edits):
        time.sleep(DEBOUNCE_S * 2)  # a lone edit, after a quiet spell
        version += 1
        change = {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": variants[n % 2]}]}
        start = time.perf_counter()
        client.send("textDocument/didChange", change)
        client.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and m["params"].get("version") == version
            )
        )
        to_diagnostics.append(time.perf_counter() - start)
        hints = client.request("textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": VIEW})
        to_hints.append(time.perf_counter() - start)
        hinted = max(hinted, len(hints.get("result") or []))
    client.send("textDocument/didClose", {"textDocument": {"uri": uri}})
    floor = in_process(variants, max(3, edits // 2))
    return {
        "name": name,
        "edit": what,
        "hinted_lines": hinted,
        "diagnostics": summary(to_diagnostics),
        "hints": summary(to_hints),
        "lint": floor,
    }


def summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def fmt(t: dict[str, float]) -> str:
    scale, unit = (1, "s") if t["median"] >= 1 else (1e3, "ms")
    return f"{t['median'] * scale:.3g} {unit} ({t['min'] * scale:.3g}–{t['max'] * scale:.3g})"


def in_process(variants: list[str], repeat: int) -> dict[str, float]:
    """The floor: lint of the same edits in this process (from the previous version's lint, as the server does),
    no protocol around them."""
    times = []
    linted = lint_state(variants[1], "spec.yaml")
    for n in range(repeat + 1):
        start = time.perf_counter()
        linted = lint_state(variants[n % 2], "spec.yaml", previous=linted)
        times.append(time.perf_counter() - start)
    return summary(times[1:])  # the first warms up


def markdown(rows: list[dict[str, Any]], targets: dict[str, float]) -> str:
    lines = [
        BEGIN,
        "## The language server: from an edit to diagnostics and inlay hints",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs by its own script, in a run of "
        "its own: compare it with the figures above through its in-process column, not directly.",
        "",
        f"`python bench/lsp_latency.py`: `archspec lsp` as a subprocess over stdio; each edit changes one value back "
        f"and forth and follows a pause longer than the {DEBOUNCE_S * 1e3:.0f} ms debounce; the hints are asked for "
        "the first 80 lines, the view an editor asks for. An edit inside one top-level layer, or of the input's "
        "shape, is read by patching the previous version's lint (that layer or line parsed again, the analysis "
        "resumed as far downstream as the change reaches, one-layer rules judged again next to it); an added layer "
        "is spliced in (its lines parsed, the lines after it moved, the graph rewired, the analysis resumed); an "
        "edit inside a block reads the text whole and resumes the analysis (same layers, same wiring). *lint in "
        "process* is the floor: `lint_state` of the same edits in the benchmark's process; *hints / lint* is the "
        "protocol's and the hints' share on top of it. Medians with min–max.",
        "",
        "| spec | edit | hints in view | didChange → diagnostics | didChange → inlay hints | lint in process | hints / lint | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        target = targets.get(row["name"])
        verdict = (
            "" if target is None else f"{target * 1e3:.0f} ms: " + ("met" if row["hints"]["median"] <= target else "**not met**")
        )
        ratio = row["hints"]["median"] / row["lint"]["median"]
        cells = [
            row["name"],
            row["edit"],
            f"{row['hinted_lines']:,}",
            fmt(row["diagnostics"]),
            fmt(row["hints"]),
            fmt(row["lint"]),
        ]
        lines.append("| " + " | ".join([*cells, f"{ratio:.2f}", verdict]) + " |")
    return "\n".join([*lines, END]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=21, help="timed edits per spec")
    parser.add_argument("--layers", type=int, default=10_000, help="layers of the generated chain")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    args = parser.parse_args()
    client = Client()
    client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    client.send("initialized", {})
    rows = [measure(client, case, index) for index, case in enumerate(cases(args.edits, args.layers))]
    client.close()
    section = markdown(rows, {"resnet50": 0.030, f"chain of {args.layers:,} layers": 0.500})
    print(section)
    if args.write:
        write_section(section, ROOT / "bench" / "RESULTS.md", BEGIN, END)


if __name__ == "__main__":
    main()
