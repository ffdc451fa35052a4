"""archspec on a GPU: the rows bench/run.py cannot measure on the CPU, in one command (under 8 minutes on one GPU).

    .venv/bin/python bench/gpu.py            # on a CUDA machine: writes the GPU section of bench/RESULTS.md and .json
    .venv/bin/python bench/gpu.py --smoke    # every path on the CPU at tiny sizes, into a temporary folder (CI)

1. resnet50 built from its spec against torchvision's, training steps in bf16 with channels_last, eager and
   torch.compile, interleaved in one run (target ratio ≥ 0.98); model FLOPs utilisation from archspec's static
   FLOPs (3 × the forward FLOPs per training image) against the device's dense bf16 peak, from PEAK_BF16_TFLOPS.
2. The seed CNN through archspec's trainer: the in-memory (on-device) data path against the DataLoader path
   (target ≥ 5×).
3. The seed CNN's moonshot (target ≥ 250,000 images/s on an H100/H200): the data resident on the device, the
   flip done there, a large batch with the learning rate scaled, and the whole step captured as a CUDA graph;
   its images/s and the test accuracy it reaches.
4. The static training-memory estimate against torch.cuda.max_memory_allocated for the zoo (target ±10%).
5. DDP over every visible GPU (NCCL): scaling efficiency from 1 to N; with one GPU, it says so.

The smoke run goes through every path on the CPU (float32, no compile, no graph capture, DDP over two gloo
processes) so that a GPU run has no surprises; its figures mean nothing and never touch the committed results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch

import archspec
from archspec.analysis.memory import training_memory
from bench.sections import write_section

BEGIN, END = "<!-- gpu:begin (bench/gpu.py) -->", "<!-- gpu:end -->"

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendor's data sheets, matched against
# torch.cuda.get_device_name() in this order (the first key found in the name wins, so longer names come first).
PEAK_BF16_TFLOPS = (
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM (reported as "H100 80GB HBM3")
    ("H800", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.1),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.2),
    ("RTX 6000 Ada", 364.2),
    ("A6000", 154.8),
    ("V100", None),  # no bf16 tensor cores
)

ZOO_BATCHES = {  # the memory table's networks at batches that fill a GPU without crowding it
    "seed_cnn": 4096, "lenet5": 4096, "alexnet": 128, "vgg16": 32, "resnet18": 128,
    "resnet50": 64, "mobilenet_v2": 64, "vit_small": 512, "vit_b_16": 32,
}  # fmt: skip


def peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of a device by its name; None for a device not in the table (no MFU given)."""
    for key, peak in PEAK_BF16_TFLOPS:
        if key.lower() in name.lower():
            return peak
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def spec_text(name: str, size: int | None = None) -> str:
    """A bundled spec's text, its input resized to ``size``² when asked (the smoke run's small images)."""
    text = (ROOT / "specs" / f"{name}.yaml").read_text()
    if size is not None:
        text = text.replace("input: [3, 224, 224]", f"input: [3, {size}, {size}]")
    return text


# --- 1. resnet50: the spec-built model against torchvision's, eager and compiled ---


def training_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype | None, compiled: bool):
    """One SGD step of ``model`` on (x, y) under autocast, as a callable; compiled with torch.compile if asked."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if compiled else model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()

    return step


def resnet_ratio(cfg: dict, device: torch.device) -> list[dict]:
    import torchvision

    name, size, batch = cfg["resnet"], cfg["resnet_size"], cfg["resnet_batch"]
    report = archspec.analyze(archspec.loads(spec_text(name, size if size != 224 else None)))
    flops_per_image = 3 * report.totals()["flops"]  # forward, and backward at twice the forward
    peak = peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    rows = []
    for compiled in cfg["compile"]:
        torch.manual_seed(0)
        models = {"archspec": archspec.build(report), "torchvision": getattr(torchvision.models, name)()}
        x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (batch,), device=device)
        steps = {}
        for key, model in models.items():
            model.to(device, memory_format=torch.channels_last)
            steps[key] = training_step(model, x, y, cfg["dtype"], compiled)
        for _ in range(cfg["warmup"]):  # compiles and autotunes here, outside the timing
            for step in steps.values():
                step()
        sync(device)
        times: dict[str, list[float]] = {key: [] for key in steps}
        for _ in range(cfg["repeat"]):  # interleaved, so drift hits both alike
            for key, step in steps.items():
                start = time.perf_counter()
                for _ in range(cfg["steps"]):
                    step()
                sync(device)
                times[key].append(batch * cfg["steps"] / (time.perf_counter() - start))
        rates = {key: statistics.median(v) for key, v in times.items()}
        precision = "bf16" if cfg["dtype"] is torch.bfloat16 else "fp32"
        row: dict[str, Any] = {"mode": f"{precision}, channels_last, {'torch.compile' if compiled else 'eager'}"}
        row.update(model=name, batch=batch, size=size, **rates)
        row["ratio"] = rates["archspec"] / rates["torchvision"]
        row["mfu"] = {k: r * flops_per_image / (peak * 1e12) for k, r in rates.items()} if peak else None
        rows.append(row)
        del models, steps
    return rows


# --- 2. the seed CNN through archspec's trainer: in memory against a DataLoader ---


def data_paths(cfg: dict, device: torch.device) -> dict:
    spec = archspec.loads(spec_text("seed_cnn"))
    rates = {}
    for mode in ("yes", "no"):
        overrides = {
            "epochs": cfg["trainer_epochs"],
            "data.train_size": cfg["seed_images"],
            "data.test_size": 256,
            "batch_size": cfg["trainer_batch"],
            "in_memory": mode,
            "augment": [{"type": "hflip"}],
            "device": str(device),
        }
        with tempfile.TemporaryDirectory() as run:
            history = archspec.train(spec, run, overrides=overrides, quiet=True).history
        rates[mode] = max(h["images_per_s"] for h in history)  # the first epoch also pays for warm-up
    return {
        "images": cfg["seed_images"],
        "batch": cfg["trainer_batch"],
        "in_memory": rates["yes"],
        "dataloader": rates["no"],
        "ratio": rates["yes"] / rates["no"],
    }


# --- 3. the moonshot: the seed CNN as fast as the device goes ---


def moonshot(cfg: dict, device: torch.device) -> dict:
    """Epochs of the seed CNN with everything on the device: uint8 images resident there, normalised and flipped
    in the step, a large batch with Adam's learning rate scaled by √(batch / 64) from the spec's 0.003 at 64,
    and on CUDA the whole step (forward, backward, Adam with capturable state) captured once as a CUDA graph and
    replayed: one launch per step. Ends with the test accuracy."""
    from archspec.runtime.data import _TEST_SEED, cached_synthetic, channel_stats

    batch, epochs = cfg["moon_batch"], cfg["moon_epochs"]
    train = cached_synthetic(cfg["seed_images"], (3, 64, 64), seed=0)
    test = cached_synthetic(cfg["moon_test"], (3, 64, 64), seed=_TEST_SEED)  # the test set of `archspec train`
    mean, std = (t.to(device).view(1, 3, 1, 1) * 255 for t in channel_stats(train.images))
    images, labels = train.images.to(device), train.labels.to(device)
    torch.manual_seed(0)
    model = archspec.build(archspec.loads(spec_text("seed_cnn"))).to(device, memory_format=torch.channels_last)
    graphs = device.type == "cuda"
    lr = 0.003 * math.sqrt(batch / 64)
    opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=graphs)
    dtype = cfg["dtype"]
    x_in = torch.zeros(batch, 3, 64, 64, dtype=torch.uint8, device=device)
    y_in = torch.zeros(batch, dtype=torch.int64, device=device)
    flip_in = torch.zeros(batch, 1, 1, 1, dtype=torch.bool, device=device)
    x_in.copy_(images[:batch])  # warm-up and capture see real images, not zeros
    y_in.copy_(labels[:batch])

    def step() -> None:
        x = (x_in.float() - mean) / std
        x = torch.where(flip_in, x.flip(3), x).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model.forward_logits(x), y_in)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()

    run = step
    if graphs:  # warm up on a side stream, then capture (PyTorch's whole-network capture recipe)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = graph.replay
    steps = len(images) // batch  # whole batches only: the captured shapes are fixed
    generator = torch.Generator(device=device).manual_seed(0)
    rates = []
    for _ in range(epochs):
        order = torch.randperm(len(images), device=device, generator=generator)
        flips = torch.rand(len(images), device=device, generator=generator) < 0.5
        sync(device)
        start = time.perf_counter()
        for i in range(steps):
            index = order[i * batch : (i + 1) * batch]
            torch.index_select(images, 0, index, out=x_in)
            torch.index_select(labels, 0, index, out=y_in)
            flip_in.copy_(flips[index].view(batch, 1, 1, 1))
            run()
        sync(device)
        rates.append(steps * batch / (time.perf_counter() - start))
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(0, len(test), 4096):
            x = (test.images[i : i + 4096].to(device).float() - mean) / std
            correct += int((model.forward_logits(x).argmax(1) == test.labels[i : i + 4096].to(device)).sum())
    return {
        "images": len(images),
        "batch": batch,
        "lr": lr,
        "epochs": epochs,
        "cuda_graph": graphs,
        "images_per_s": statistics.median(rates[1:] or rates),  # the first epoch pays for warm-up
        "test_images": len(test),
        "test_acc": correct / len(test),
    }


# --- 4. the static memory estimate against the allocator's peak ---


def memory(cfg: dict, device: torch.device) -> list[dict]:
    rows = []
    for name, batch in cfg["zoo"].items():
        report = archspec.analyze(archspec.loads(spec_text(name)))
        estimate = training_memory(report, batch, "adam")["total"]
        measured = None
        gc_collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        model = archspec.build(report).to(device)
        opt = torch.optim.Adam(model.parameters())
        classes = report.layer(model.logits_name).output_shape[-1]
        x = torch.randn(batch, *report.input_shape, device=device)
        y = torch.randint(0, classes, (batch,), device=device)
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model.forward_logits(x), y).backward()
            opt.step()
        if device.type == "cuda":
            sync(device)
            measured = torch.cuda.max_memory_allocated(device) - base - x.nbytes - y.nbytes  # the batch is input
        rows.append({"spec": name, "batch": batch, "estimate": estimate, "measured": measured})
        del model, opt, x, y
        rows[-1]["error"] = estimate / measured - 1 if measured else None
    return rows


def gc_collect() -> None:
    import gc

    gc.collect()


# --- 5. DDP over every visible GPU ---


def ddp_worker(rank: int, world: int, cfg: dict, port: int, out: str) -> None:
    """One process of the DDP measurement: resnet steps on its share of a fixed per-process batch."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cuda = cfg["ddp_cuda"]
    torch.distributed.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    report = archspec.analyze(archspec.loads(spec_text(cfg["ddp_spec"], cfg["ddp_size"])))
    model = archspec.build(report).to(device, memory_format=torch.channels_last)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank] if cuda else None)
    batch, size = cfg["ddp_batch"], cfg["ddp_size"]
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, report.output_shape[-1], (batch,), device=device)
    step = training_step(net, x, y, cfg["dtype"], compiled=False)
    for _ in range(cfg["warmup"]):
        step()
    sync(device)
    torch.distributed.barrier()
    start = time.perf_counter()
    for _ in range(cfg["ddp_steps"]):
        step()
    sync(device)
    elapsed = torch.tensor([time.perf_counter() - start])
    torch.distributed.all_reduce(elapsed, op=torch.distributed.ReduceOp.MAX)  # the slowest process sets the pace
    if rank == 0:
        Path(out).write_text(json.dumps({"images_per_s": world * batch * cfg["ddp_steps"] / float(elapsed)}))
    torch.distributed.destroy_process_group()


def ddp_rate(cfg: dict, world: int) -> float:
    """Images/s of ``world`` processes; one runs in this process (no start-up of a fresh one to pay for)."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "rate.json")
        if world == 1:
            ddp_worker(0, 1, cfg, port, out)
        else:
            mp.spawn(ddp_worker, args=(world, cfg, port, out), nprocs=world, join=True)
        return float(json.loads(Path(out).read_text())["images_per_s"])


def ddp(cfg: dict) -> dict:
    gpus = torch.cuda.device_count() if cfg["ddp_cuda"] else 0
    world = gpus if gpus > 1 else cfg["ddp_cpu_world"]
    if world < 2:
        return {"gpus": gpus, "note": f"{gpus} GPU visible: DDP scaling needs more than one, not measured"}
    one, many = ddp_rate(cfg, 1), ddp_rate(cfg, world)
    return {"gpus": gpus, "world": world, "one": one, "many": many, "efficiency": many / (world * one)}


# --- the run ---


def config(smoke: bool) -> dict:
    if smoke:
        return {
            "resnet": "resnet18", "resnet_size": 32, "resnet_batch": 4, "compile": [False], "warmup": 1, "repeat": 2,
            "steps": 1, "dtype": None, "seed_images": 512, "trainer_batch": 128, "trainer_epochs": 1,
            "moon_batch": 256, "moon_epochs": 2, "moon_test": 256, "zoo": {"seed_cnn": 8, "lenet5": 8},
            "ddp_spec": "resnet18", "ddp_size": 32, "ddp_batch": 2, "ddp_steps": 2, "ddp_cpu_world": 2,
            "ddp_cuda": False,
        }  # fmt: skip
    return {
        "resnet": "resnet50", "resnet_size": 224, "resnet_batch": 256, "compile": [False, True], "warmup": 5,
        "repeat": 5, "steps": 10, "dtype": torch.bfloat16, "seed_images": 50_000, "trainer_batch": 512,
        "trainer_epochs": 2, "moon_batch": 4096, "moon_epochs": 20, "moon_test": 4000, "zoo": ZOO_BATCHES,
        "ddp_spec": "resnet50", "ddp_size": 224, "ddp_batch": 256, "ddp_steps": 20, "ddp_cpu_world": 0,
        "ddp_cuda": True,
    }  # fmt: skip


def measure(smoke: bool) -> dict:
    if not smoke and not torch.cuda.is_available():
        sys.exit("bench/gpu.py: no CUDA device here; run it on a GPU machine (or --smoke to check it on the CPU)")
    device = torch.device("cpu") if smoke else torch.device("cuda", 0)
    cfg = config(smoke)
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "smoke": smoke,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "peak_bf16_tflops": peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None,
    }
    for key, part in (
        ("resnet", lambda: resnet_ratio(cfg, device)),
        ("data_paths", lambda: data_paths(cfg, device)),
        ("moonshot", lambda: moonshot(cfg, device)),
        ("memory", lambda: memory(cfg, device)),
        ("ddp", lambda: ddp(cfg)),
    ):
        start = time.perf_counter()
        results[key] = part()
        print(f"{key}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return results


def markdown(r: dict) -> str:
    lines = [BEGIN, "## On a GPU", "", f"Measured {r['date']} by `python bench/gpu.py` on {r['device']}, torch {r['torch']}."]
    if r["peak_bf16_tflops"] is None:
        lines.append("This device is not in the bf16 peak table (bench/gpu.py, PEAK_BF16_TFLOPS): no MFU is given.")
    lines += [
        "",
        "| resnet, training step | batch | archspec img/s | torchvision img/s | ratio (target ≥ 0.98) | MFU archspec / torchvision |",
    ]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for row in r["resnet"]:
        mfu = "—" if row["mfu"] is None else f"{row['mfu']['archspec']:.1%} / {row['mfu']['torchvision']:.1%}"
        lines.append(
            f"| {row['model']} {row['size']}², {row['mode']} | {row['batch']} | {row['archspec']:,.0f} | {row['torchvision']:,.0f} "
            f"| **{row['ratio']:.3f}** | {mfu} |"
        )
    d, m = r["data_paths"], r["moonshot"]
    lines += [
        "",
        f"Seed CNN through `archspec train`, {d['images']:,} images, batch {d['batch']}, hflip: in memory on the device "
        f"{d['in_memory']:,.0f} img/s, DataLoader {d['dataloader']:,.0f} img/s: **{d['ratio']:.1f}×** (target ≥ 5×).",
        "",
        f"Moonshot (data on the device, batch {m['batch']}, Adam lr {m['lr']:.3g}, "
        f"{'the step replayed as a CUDA graph' if m['cuda_graph'] else 'no CUDA graph'}): **{m['images_per_s']:,.0f} img/s** "
        f"(target ≥ 250,000; {m['images_per_s'] / d['in_memory']:.1f}× the trainer's on-device path), "
        f"test accuracy {m['test_acc']:.1%} on {m['test_images']:,} images after {m['epochs']} epochs "
        "(the CPU run of `archspec train`: 84.8% after 5 epochs at batch 64).",
        "",
        "| spec | batch | estimate | torch.cuda.max_memory_allocated | estimate / measured − 1 (target ±10%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in r["memory"]:
        mib = lambda b: "—" if b is None else f"{b / 2**20:,.0f} MiB"  # noqa: E731
        err = "—" if row["error"] is None else f"{row['error']:+.0%}"
        lines.append(f"| {row['spec']} | {row['batch']} | {mib(row['estimate'])} | {mib(row['measured'])} | {err} |")
    g = r["ddp"]
    lines.append("")
    if "note" in g:
        lines.append(f"DDP: {g['note']}.")
    else:
        lines.append(
            f"DDP over {g['world']} {'GPUs' if g['gpus'] > 1 else 'CPU processes'}: {g['many']:,.0f} img/s against "
            f"{g['one']:,.0f} on one: scaling efficiency **{g['efficiency']:.0%}**."
        )
    return "\n".join([*lines, END]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="every path on the CPU at tiny sizes; results to a temp folder")
    parser.add_argument(
        "--output", type=Path, help="the RESULTS.md to write into (default: bench/RESULTS.md; smoke: a temp folder)"
    )
    args = parser.parse_args()
    output = args.output or (Path(tempfile.mkdtemp()) / "RESULTS.md" if args.smoke else ROOT / "bench" / "RESULTS.md")
    results = measure(args.smoke)
    section = markdown(results)
    print(section)
    write_section(section, output, BEGIN, END)
    data_file = output.with_suffix(".json")
    stored = json.loads(data_file.read_text(encoding="utf-8")) if data_file.exists() else {}
    stored["gpu"] = results
    data_file.write_text(json.dumps(stored, indent=2, default=str), encoding="utf-8")
    print(f"wrote {output} and {data_file}", file=sys.stderr)


if __name__ == "__main__":
    main()
