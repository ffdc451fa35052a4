"""archspec's benchmarks: one command, every figure measured side by side with its peer in the same run.

    .venv/bin/python bench/run.py            # the full run; rewrites bench/RESULTS.md (about 10 minutes)
    .venv/bin/python bench/run.py --smoke    # tiny sizes, to check the suite runs (CI does this; no timing is judged)

Absolute times on a shared machine drift; ratios measured in one run hold. Each figure is the median of
several repetitions after warm-up, with min–max. Nothing here is a test: targets are reported, not asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archspec
from archspec.analysis.memory import training_memory


def timed(fn, repeat: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": repeat}


def fmt(t: dict, unit: str = "ms") -> str:
    k = {"ms": 1e3, "s": 1.0}[unit]
    return f"{t['median'] * k:.3g} {unit} ({t['min'] * k:.3g}–{t['max'] * k:.3g})"


# --- 1. static analysis against peers, in process ---


def static_vs_peers(names: list[str], repeat: int) -> list[dict]:
    import torch
    import torchvision
    from torch.fx import symbolic_trace
    from torch.fx.passes.shape_prop import ShapeProp
    from torch.utils.flop_counter import FlopCounterMode
    from torchinfo import summary

    rows = []
    for name in names:
        text = (ROOT / "specs" / f"{name}.yaml").read_text()
        build = getattr(torchvision.models, name)

        def ours():
            archspec.analyze(archspec.loads(text))

        def meta_model():
            with torch.device("meta"):
                return build()

        x = lambda: torch.empty(1, 3, 224, 224, device="meta")  # noqa: E731

        def torchinfo_summary():
            summary(meta_model(), input_size=(1, 3, 224, 224), device="meta", verbose=0)

        def fx_shapeprop():
            gm = symbolic_trace(meta_model())
            ShapeProp(gm).propagate(x())

        def flop_counter():
            m = meta_model()
            with FlopCounterMode(display=False):
                m(x())

        ours_t = timed(ours, repeat)
        for peer, fn in (
            ("torchinfo.summary (meta)", torchinfo_summary),
            ("torch.fx + ShapeProp (meta)", fx_shapeprop),
            ("FlopCounterMode (meta)", flop_counter),
        ):
            t = timed(fn, repeat)
            rows.append({"spec": name, "peer": peer, "archspec": ours_t, "peer_time": t, "ratio": t["median"] / ours_t["median"]})
    return rows


def whole_process(repeat: int) -> dict:
    lint = [sys.executable, "-m", "archspec", "lint", str(ROOT / "specs" / "resnet50.yaml")]
    script = (
        "import torch, torchvision\nfrom torchinfo import summary\n"
        "with torch.device('meta'):\n    m = torchvision.models.resnet50()\n"
        "summary(m, input_size=(1, 3, 224, 224), device='meta', verbose=0)\n"
    )
    peer = [sys.executable, "-c", script]
    run = lambda cmd: subprocess.run(cmd, capture_output=True, check=False, cwd=ROOT)  # noqa: E731
    ours = timed(lambda: run(lint), repeat)
    theirs = timed(lambda: run(peer), repeat)
    imports = subprocess.run([sys.executable, "-X", "importtime", *lint[1:]], capture_output=True, text=True, cwd=ROOT).stderr
    torch_free = not any(
        line.split("|")[-1].strip().split(".")[0] == "torch" for line in imports.splitlines() if line.startswith("import time:")
    )
    return {"archspec": ours, "peer": theirs, "ratio": theirs["median"] / ours["median"], "torch_free": torch_free}


# --- 2. scaling ---


def chain(n: int) -> str:
    body = "".join("  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n  - {type: relu}\n" for _ in range(n // 2))
    return f"archspec: 1\ninput: [8, 32, 32]\nlayers:\n{body}"


def residual(n: int) -> str:
    blocks = n // 4  # conv, bn, relu, add per block
    head = (
        "archspec: 1\ninput: [8, 32, 32]\nblocks:\n  res:\n    layers:\n"
        "      - {type: conv2d, name: conv, out_channels: 8, kernel_size: 3, padding: 1, bias: false}\n"
        "      - {type: batchnorm2d, name: bn}\n      - {type: relu, name: relu}\n"
        "      - {type: add, name: add, inputs: [relu, input]}\n"
    )
    return head + f"layers:\n  - {{type: res, name: stack, repeat: {blocks}}}\n"


def scaling(sizes: list[int], repeat: int) -> list[dict]:
    rows = []
    for kind, make in (("chain", chain), ("residual", residual)):
        for n in sizes:
            text = make(n)
            layers = len(archspec.analyze(archspec.loads(text)).layers)
            rows.append({"kind": kind, "layers": layers, "time": timed(lambda: archspec.analyze(archspec.loads(text)), repeat)})
    return rows


# --- 3. lowered model vs torchvision: a training step ---


def train_step_ratio(repeat: int, batch: int, size: int) -> dict:
    import torch
    import torchvision

    torch.manual_seed(0)
    ours = archspec.build(archspec.load(ROOT / "specs" / "resnet18.yaml"))
    theirs = torchvision.models.resnet18()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))

    def stepper(model):
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        return step

    a, b = stepper(ours), stepper(theirs)
    times = {"archspec": [], "torchvision": []}
    for _ in range(2):  # warm-up
        a(), b()
    for _ in range(repeat):  # interleaved, so drift hits both alike
        for key, fn in (("archspec", a), ("torchvision", b)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    stats = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": repeat} for k, v in times.items()}
    return {"batch": batch, "size": size, **stats, "ratio": stats["torchvision"]["median"] / stats["archspec"]["median"]}


# --- 4. the training loop against a hand-written one; in-memory against DataLoader ---


def loop_overhead(train_size: int, epochs: int) -> dict:
    from archspec.runtime.data import channel_stats, synthetic
    from archspec.runtime.train import train

    spec = archspec.load(ROOT / "specs" / "seed_cnn.yaml")
    overrides = {"epochs": epochs, "data.train_size": train_size, "data.test_size": 256, "augment": [], "in_memory": "yes"}
    data = synthetic(train_size, (3, 64, 64), seed=0)
    mean, std = channel_stats(data.images)
    hand_rates = hand_loop(spec, data, mean, std, epochs)  # before and after ours, so drift hits both alike
    with tempfile.TemporaryDirectory() as run:
        history = train(spec, run, overrides=overrides, quiet=True).history
    hand_rates += hand_loop(spec, data, mean, std, epochs)
    ours = statistics.median(h["images_per_s"] for h in history)
    hand = statistics.median(hand_rates)
    return {"archspec": ours, "hand": hand, "ratio": ours / hand}


def hand_loop(spec, data, mean, std, epochs: int) -> list[float]:
    """The minimal loop a user would write: same model, data order, Adam, batch 64; images/s per epoch."""
    import torch

    from archspec.runtime.augment import epoch_order, normalise

    train_size = len(data)
    torch.manual_seed(0)
    model = archspec.build(spec)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    rates = []
    for epoch in range(1, epochs + 1):
        order = epoch_order(train_size, 0, epoch)
        start = time.perf_counter()
        model.train()
        for i in range(0, train_size, 64):
            index = order[i : i + 64]
            x, y = normalise(data.images[index], mean, std), data.labels[index]
            loss = torch.nn.functional.cross_entropy(model.forward_logits(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rates.append(train_size / (time.perf_counter() - start))
    return rates


def data_paths(train_size: int) -> dict:
    from archspec.runtime.train import train

    spec = archspec.load(ROOT / "specs" / "seed_cnn.yaml")
    rates = {}
    for mode in ("yes", "no"):
        overrides = {
            "epochs": 1,
            "data.train_size": train_size,
            "data.test_size": 256,
            "in_memory": mode,
            "augment": [{"type": "hflip"}],
        }
        with tempfile.TemporaryDirectory() as run:
            rates[mode] = train(spec, run, overrides=overrides, quiet=True).history[0]["images_per_s"]
    return {"in_memory": rates["yes"], "dataloader": rates["no"], "ratio": rates["yes"] / rates["no"]}


# --- 5. the memory model ---


def attention_dropout_variant(directory: Path, p: float = 0.1) -> Path:
    """specs/vit_small.yaml with dropout ``p`` on its attention weights, written into ``directory``: in training
    torch then takes attention's math path, which keeps each head's N×N weights (the spec as written takes the
    fused path, which keeps none)."""
    import yaml

    spec = yaml.safe_load((ROOT / "specs" / "vit_small.yaml").read_text())
    spec["name"] = f"{spec['name']}-attention-dropout"
    spec.setdefault("defaults", {})["multihead_attention"] = {"dropout": p}
    path = directory / "vit_small_attention_dropout.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def memory_model(cases: list[tuple[str, Path, int]]) -> list[dict]:
    rows = []
    for name, spec, batch in cases:
        report = archspec.analyze(archspec.load(spec))
        estimate = training_memory(report, batch, "adam")["total"]
        probe = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "memory_probe.py"), str(spec), str(batch), "adam"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        measured = json.loads(probe.stdout)["measured"] if probe.returncode == 0 else None
        rows.append(
            {
                "spec": name,
                "batch": batch,
                "estimate": estimate,
                "measured": measured,
                "error": None if not measured else estimate / measured - 1,
            }
        )
    return rows


def memory_cases(smoke: bool, directory: Path) -> list[tuple[str, Path, int]]:
    """(row name, spec, batch) for the memory table; the smoke run keeps one CNN and both attention paths, tiny."""
    spec = lambda name: ROOT / "specs" / f"{name}.yaml"  # noqa: E731
    dropout = attention_dropout_variant(directory)
    if smoke:
        return [
            ("seed_cnn", spec("seed_cnn"), 8),
            ("vit_small", spec("vit_small"), 2),
            ("vit_small, attention dropout 0.1", dropout, 2),
        ]
    zoo = [
        ("seed_cnn", 512),
        ("lenet5", 1024),
        ("alexnet", 16),
        ("vgg16", 4),
        ("resnet18", 16),
        ("resnet50", 8),
        ("mobilenet_v2", 8),
    ]
    return [
        *((name, spec(name), batch) for name, batch in zoo),
        ("vit_small", spec("vit_small"), 64),
        ("vit_small, attention dropout 0.1", dropout, 64),
        ("vit_b_16", spec("vit_b_16"), 4),
        ("vit_b_16", spec("vit_b_16"), 16),
    ]


# --- report ---


def machine() -> dict:
    import torch

    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "archspec": archspec.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    try:
        import torchinfo
        import torchvision

        info["torchvision"] = torchvision.__version__
        info["torchinfo"] = torchinfo.__version__
    except ImportError:
        pass
    return info


def write(results: dict, path: Path) -> None:
    m = results["machine"]
    out = [
        "# archspec benchmarks",
        "",
        f"Measured {m['date']} by `python bench/run.py` on {m['cpus']} CPUs ({m['platform']}), GPU: {m['cuda']};",
        f"Python {m['python']}, torch {m['torch']}, torchvision {m.get('torchvision')}, torchinfo {m.get('torchinfo')}, archspec {m['archspec']}.",
        "Times are medians with min–max over the repetitions, after warm-up; ratios compare figures measured in this same run.",
        "",
        "## Static analysis against peers (in process)",
        "",
        "archspec: `archspec.analyze(archspec.loads(text))` from the spec's text. Peers build the torchvision model on the",
        "meta device (construction included) and then run. Target: archspec ≥ 20× faster than each.",
        "",
        "| spec | peer | archspec | peer | peer / archspec |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results["static"]:
        out.append(f"| {r['spec']} | {r['peer']} | {fmt(r['archspec'])} | {fmt(r['peer_time'])} | **{r['ratio']:.1f}×** |")
    w = results["process"]
    out += [
        "",
        "## Whole process",
        "",
        f"`archspec lint specs/resnet50.yaml` {fmt(w['archspec'])} against a script running torchinfo on resnet50 (meta) {fmt(w['peer'])}:",
        f"**{w['ratio']:.1f}×** faster (target ≥ 5×); the archspec process imports torch: {'no' if w['torch_free'] else 'YES'}.",
        "",
        "## Scaling (generated specs, in process, load + analyze)",
        "",
        "| spec | layers | time |",
        "|---|---:|---:|",
    ]
    for r in results["scaling"]:
        out.append(f"| {r['kind']} | {r['layers']:,} | {fmt(r['time'])} |")
    for kind in ("chain", "residual"):
        rows = [r for r in results["scaling"] if r["kind"] == kind]
        if len(rows) >= 2:
            big, small = rows[-1], rows[-2]
            out.append(
                f"\n{kind}: {big['layers']:,} / {small['layers']:,} layers time ratio **{big['time']['median'] / small['time']['median']:.1f}** (linear would be {big['layers'] / small['layers']:.0f}; target ≤ 12); {big['layers']:,} layers in {fmt(big['time'])} (target < 1 s)."
            )
    t = results["train_step"]
    out += [
        "",
        "## A training step: the spec-built model against the torchvision model it mirrors",
        "",
        f"resnet18, CPU, batch {t['batch']}, {t['size']}×{t['size']}, SGD, forward + backward + step, interleaved:",
        f"archspec {fmt(t['archspec'])}, torchvision {fmt(t['torchvision'])}: throughput ratio **{t['ratio']:.3f}** (target ≥ 0.98).",
        "GPU (resnet50 224², bf16, channels_last, eager and compiled, model FLOPs utilisation): not measured — this run had no GPU.",
        "",
        "## Training loop overhead",
        "",
    ]
    lo = results["loop"]
    out.append(
        f"`archspec train` {lo['archspec']:,.0f} images/s against a minimal hand-written loop (same model, data, Adam, batch 64) {lo['hand']:,.0f} images/s: **{lo['ratio']:.3f}** (target ≥ 0.95)."
    )
    d = results["data_paths"]
    out += [
        "",
        f"Seed network with hflip augmentation, {results['data_images']:,} images, one epoch: in-memory path {d['in_memory']:,.0f} images/s, DataLoader path "
        f"{d['dataloader']:,.0f} images/s: **{d['ratio']:.2f}×** on CPU (the ≥ 5× target is for a GPU, where the in-memory path also avoids host-device copies).",
        "",
        "## Memory model: static estimate of a training step against the measured peak",
        "",
        f"Measured {results.get('memory_date', m['date'])}. Adam, float32. Measured on the CPU (no GPU here) as the peak resident memory of a fresh",
        "process during two training steps minus its resident memory just before the model, optimiser and batch were made",
        "(bench/memory_probe.py), with glibc's mmap threshold fixed at 128 KiB so that freed tensors leave the process and",
        "the peak follows the live tensors, as `torch.cuda.max_memory_allocated` does. The ViTs' attention takes the fused",
        "path (no N×N tensor kept); with dropout on the attention weights it takes the math path, which keeps three N×N",
        "tensors per head and makes a fourth in the backward pass. Target: within ±15%.",
        "",
        "| spec | batch | estimate | measured | estimate / measured − 1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results["memory"]:
        mb = lambda b: f"{b / 2**20:,.0f} MiB" if b else "—"  # noqa: E731
        err = f"{r['error']:+.0%}" if r["error"] is not None else "—"
        out.append(f"| {r['spec']} | {r['batch']} | {mb(r['estimate'])} | {mb(r['measured'])} | {err} |")
    out += ["", results.get("notes", ""), ""]
    path.write_text("\n".join(out) + kept_sections(path), encoding="utf-8")


def kept_sections(path: Path) -> str:
    """The sections other scripts wrote into ``path`` between their markers (``<!-- NAME:begin …`` to
    ``<!-- NAME:end -->``): kept when this run rewrites the rest."""
    import re

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    found = re.finditer(r"<!-- (\w+):begin.*?<!-- \1:end -->\n?", text, flags=re.DOTALL)
    return "".join("\n" + m.group(0).rstrip("\n") + "\n" for m in found)


NOTES = """## What limits the figures that miss their target

- **Static analysis of vgg16 against peers (7–8×, target 20×)**: torch builds VGG-16's 40 modules on the meta device in
  about 16 ms, while archspec's time for a small spec is mostly fixed cost: reading the YAML into position-keeping
  containers (~30% of it in the profile), block expansion (~20%), analysis (~30%) and the garbage collector's pass
  once loading is done (~10%). For the deeper networks (resnet50, mobilenet_v2), where torch's per-module cost adds
  up, archspec is 15–36× faster; torchinfo on resnet50 sits just under the target at ~15×.
- **Memory of the two small networks (seed_cnn, lenet5) on the CPU**: the model matches the tensors alive between
  operations (seed_cnn at batch 512, sampled after every operation as glibc's bytes in use: 134 MiB against an
  estimate of 136 MiB); the rest lives inside PyTorch's CPU convolution, which for few channels unfolds its input
  (im2col) during the call: a workspace of in_channels·k²·H·W values per sample that the model does not count (it
  belongs to that CPU kernel, not to the network; GPUs and the mkldnn path of the bigger networks do not use it).
- **Memory of vit_b_16 at batch 4 (+12%)**: its estimated peak is the optimiser's step, where the model counts a
  scratch copy of every parameter, as torch's multi-tensor Adam makes on a GPU; on the CPU Adam steps one tensor
  at a time. At batch 16 the activations set the peak, and the estimate is within 6%.
- **How the memory is measured**: with glibc's default settings the mmap threshold rises to the size of each freed
  tensor (up to 32 MiB); smaller tensors then come from the heap, whose freed chunks stay resident, and the peak
  also counts that fragmentation: 90 MiB for vit_small at batch 64 (56 MiB here), 150 MiB with attention dropout
  (113 MiB), 664 MiB for resnet18 (508 MiB). The probe fixes the threshold, and collects the warm-up copy of the
  network before its baseline (a built ViT sits in a reference cycle, which had kept vit_b_16's warm-up copy,
  1.3 GiB with its optimiser, alive into the measurement).
- **Training loop overhead**: the per-step work archspec adds (accuracy counting, a finite-loss check, the
  scheduler) is a fraction of a percent of a step; what remains is run-to-run drift on this shared machine
  (epoch to epoch the same loop varies by ±3%), which is why the hand-written loop is measured before and after.
- **Data paths on the CPU**: without a device to copy to, the in-memory path saves only the DataLoader's worker
  hand-off; its ≥ 5× target is for a GPU, where it also removes the host-to-device copy of every batch.
- **Scaling**: load + analyze walks each layer a bounded number of times; the 10k/1k ratio just above 10 comes from
  memory effects of the larger working set (every function's time grows alike in the profile), held down by pausing
  the cyclic garbage collector while loading and analysing.
"""


OTHER_SCRIPTS = ("gpu", "startup")  # keys of RESULTS.json written by scripts of their own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that everything runs")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="measure only the memory table; the other sections keep their figures from the output's .json",
    )
    args = parser.parse_args()
    smoke = args.smoke
    data_file = args.output.with_suffix(".json")
    previous = json.loads(data_file.read_text(encoding="utf-8")) if data_file.exists() else {}
    if args.memory_only:
        results = previous
    else:  # the figures of the other scripts (bench/gpu.py, bench/startup.py) stay
        results = {**{k: v for k, v in previous.items() if k in OTHER_SCRIPTS}, **measure_all_but_memory(smoke)}
    results["notes"] = NOTES
    print("memory model...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as directory:
        results["memory"] = memory_model(memory_cases(smoke, Path(directory)))
    results["memory_date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    write(results, args.output)
    (args.output.with_suffix(".json")).write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)


def measure_all_but_memory(smoke: bool) -> dict:
    results = {"machine": machine()}
    print("static analysis against peers...", file=sys.stderr)
    results["static"] = static_vs_peers(["resnet50"] if smoke else ["resnet50", "vgg16", "mobilenet_v2"], 2 if smoke else 15)
    print("whole process...", file=sys.stderr)
    results["process"] = whole_process(1 if smoke else 7)
    print("scaling...", file=sys.stderr)
    results["scaling"] = scaling([100, 1000] if smoke else [100, 1000, 10000], 2 if smoke else 5)
    print("training step...", file=sys.stderr)
    results["train_step"] = train_step_ratio(2 if smoke else 20, 8 if smoke else 64, 32)
    print("training loop...", file=sys.stderr)
    results["loop"] = loop_overhead(256 if smoke else 8000, 1 if smoke else 3)
    results["data_images"] = 256 if smoke else 50_000
    results["data_paths"] = data_paths(results["data_images"])
    return results


if __name__ == "__main__":
    main()
