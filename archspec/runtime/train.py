"""``archspec train``: minibatch gradient descent on a spec, with metrics, curves and checkpoints.

Runs alone or under ``torchrun`` (DistributedDataParallel: NCCL on GPUs, gloo on CPUs;
each global batch split across ranks, metrics summed across ranks, only rank 0 writes).
Every epoch's randomness (order, augmentation, dropout) depends only on (seed, epoch),
so a run resumed from its last checkpoint repeats the uninterrupted run exactly on CPU.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn

from archspec.analysis import analyze
from archspec.errors import ArchspecError
from archspec.fileio import write_atomically
from archspec.runtime import checkpoint
from archspec.runtime.augment import StreamBatches, TensorBatches, epoch_order, pipeline
from archspec.runtime.build import SpecModule, available_memory, refuse_if_too_big
from archspec.runtime.data import channel_stats, load_data
from archspec.spec import Spec
from archspec.spec.training import Training

METRIC_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s")


class TrainingError(ArchspecError):
    """Training cannot start or had to stop (settings, data, run folder, a diverging loss)."""


@dataclass
class RunResult:
    run_dir: Path
    history: list[dict] = field(default_factory=list)
    verdict: dict = field(default_factory=dict)
    stopped: str | None = None  # why it ended early, if it did


# --- settings ---


def settings_for(spec: Spec, overrides: dict[str, Any] | None = None) -> Training:
    """The spec's ``training:`` section (defaults where absent) with dotted-path overrides applied."""
    base = (spec.training or Training()).model_dump()
    for dotted, value in (overrides or {}).items():
        node = base
        *path, leaf = dotted.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    try:
        return Training.model_validate(base)
    except Exception as exc:
        raise TrainingError(f"invalid training settings: {exc}") from None


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank or 0)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class Ranks:
    """Where this process stands in a torchrun job (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @classmethod
    def from_env(cls) -> "Ranks":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch_dist.all_reduce(values)
        return values


class _Logits(nn.Module):
    """The network up to its logits: what the loss (and DDP / compile) sees."""

    def __init__(self, model: SpecModule):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_logits(x)


# --- schedules ---


def _scheduler(optimizer, settings: Training, steps_per_epoch: int):
    sched, epochs = settings.schedule, settings.epochs
    total = epochs * steps_per_epoch
    if sched.name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=settings.optimizer.lr,
            total_steps=total,
            pct_start=max(sched.warmup_epochs * steps_per_epoch / total, 0.05),
        )
    warmup = sched.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if sched.name == "step":
            return sched.gamma ** ((step // steps_per_epoch) // sched.step_size)
        if sched.name == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _optimizer(params, settings: Training):
    o = settings.optimizer
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0, weight_decay=o.weight_decay
        )
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)


# --- over-fitting ---


def verdict(history: list[dict], patience: int = 3, tolerance: float = 0.02) -> dict:
    """Best test epoch, the final train–test gap, and over-fitting.

    Over-fitting (the text's Figure 8): the test loss has stayed more than ``tolerance``
    above its minimum for the last ``patience`` epochs while the training loss kept
    falling below its value at that minimum. Its onset is the epoch of the minimum.
    """
    if not history:
        return {}
    best = max(history, key=lambda h: (h["test_acc"], -h["epoch"]))
    lowest = min(history, key=lambda h: (h["test_loss"], h["epoch"]))
    after = [h for h in history if h["epoch"] > lowest["epoch"]]
    rising = 0
    for h in reversed(after):  # consecutive epochs, counted back from the last
        if h["test_loss"] > lowest["test_loss"] * (1 + tolerance) and h["train_loss"] < lowest["train_loss"]:
            rising += 1
        else:
            break
    overfitting = rising >= patience
    last = history[-1]
    return {
        "best_epoch": best["epoch"],
        "best_test_acc": best["test_acc"],
        "lowest_test_loss_epoch": lowest["epoch"],
        "final_gap": last["train_acc"] - last["test_acc"],
        "overfitting": overfitting,
        "overfitting_from": lowest["epoch"] if overfitting else None,
        "rising_test_loss_epochs": rising,
    }


# --- the run ---


def train(
    spec: Spec,
    run_dir: str | Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    force_memory: bool = False,
    log=None,
) -> RunResult:
    """Train ``spec``; write metrics.jsonl/csv, curves.png, last.pt and best.pt to ``run_dir``."""
    ranks = Ranks.from_env()
    say = (lambda text: None) if (quiet or not ranks.main) else (log or (lambda text: print(text, file=sys.stderr)))
    run_dir = Path(run_dir or Path("runs") / spec.name)
    state = None
    if resume:
        state = checkpoint.load(run_dir / "last.pt", spec.text)
        settings = Training.model_validate(state["settings"])
        if overrides and "epochs" in overrides:
            settings = settings.model_copy(update={"epochs": int(overrides["epochs"])})
    else:
        settings = settings_for(spec, overrides)
        if ranks.main:
            _prepare_run_dir(run_dir, force)
    if ranks.main and run_dir.is_dir():
        for stale in run_dir.glob(".*.tmp"):  # half-written files of a killed run (never the real ones)
            stale.unlink(missing_ok=True)
    if ranks.world > 1 and not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if settings.batch_size % ranks.world:
        raise TrainingError(f"batch_size {settings.batch_size} does not split over {ranks.world} processes")

    device = pick_device(settings.device, ranks.local if ranks.world > 1 else None)
    report = analyze(spec)
    if not force_memory:
        from archspec.analysis.memory import training_memory

        optimizer_name = (
            settings.optimizer.name if settings.optimizer.name != "sgd" or settings.optimizer.momentum else "sgd-nomomentum"
        )
        needed = training_memory(report, settings.batch_size // ranks.world, optimizer_name)["total"]
        refuse_if_too_big(needed, device, f"training `{spec.name}` at batch {settings.batch_size // ranks.world}")
    torch.manual_seed(settings.seed)
    model = SpecModule(report).to(device)
    if report.output != model.logits_name:
        say(
            f"note: the spec ends in a softmax (`{report.output}`); training feeds the logits of `{model.logits_name}` "
            "to cross-entropy and keeps the softmax for inference"
        )
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_set, test_set = load_data(settings.data, report.input_shape)
    mean, std = channel_stats(train_set.images)
    if state is not None:
        mean, std = state["mean"], state["std"]
    transform = pipeline(settings.augment)
    in_memory = settings.in_memory == "yes" or (settings.in_memory == "auto" and _fits(train_set, device))
    Batches = TensorBatches if in_memory else StreamBatches

    net: nn.Module = _Logits(model)
    if ranks.world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if settings.compile:
        net = torch.compile(net)
    per_rank = settings.batch_size // ranks.world
    steps_per_epoch = -(-len(train_set) // settings.batch_size)
    optimizer = _optimizer(model.parameters(), settings)
    scheduler = _scheduler(optimizer, settings, steps_per_epoch)
    steps_lr = settings.schedule.name != "constant" or settings.schedule.warmup_epochs > 0
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16" and device.type == "cuda")
    criterion = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    plain = nn.CrossEntropyLoss(reduction="sum")

    history: list[dict] = []
    start = 1
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history = list(state["history"])
        start = state["epoch"] + 1
        say(f"resuming {run_dir} after epoch {state['epoch']}")

    say(
        f"training {spec.name} on {device} ({'in memory' if in_memory else 'streamed'}): "
        f"{len(train_set):,} training and {len(test_set):,} test images, batch {settings.batch_size}"
        + (f" over {ranks.world} processes" if ranks.world > 1 else "")
    )
    result = RunResult(run_dir, history)
    best_acc = max((h["test_acc"] for h in history), default=-1.0)
    progress = _progress(quiet or not ranks.main)
    with progress:
        for epoch in range(start, settings.epochs + 1):
            began = time.perf_counter()
            torch.manual_seed(settings.seed * 7919 + epoch * 31 + ranks.rank)  # dropout, augmentation
            order = _rank_order(epoch_order(len(train_set), settings.seed, epoch), settings.batch_size, ranks)
            batches = Batches(train_set, per_rank, device, mean, std, transform, order)
            task = progress.add_task(f"epoch {epoch}/{settings.epochs}", total=len(batches))
            net.train()
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen = 0
            for step, (x, y) in enumerate(batches, 1):
                if settings.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = net(x)
                    loss = criterion(logits.float(), y)
                if not torch.isfinite(loss):
                    last = run_dir / "last.pt"
                    kept = f"; the last good checkpoint is {last}" if last.exists() else ""
                    raise TrainingError(f"the loss became {loss.item()} at epoch {epoch}, step {step}{kept}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if steps_lr:
                    scheduler.step()
                loss_sum += loss.detach() * len(y)  # on the device: no synchronisation per step
                correct += (logits.argmax(1) == y).sum()
                seen += len(y)
                progress.advance(task)
            train_seconds = time.perf_counter() - began
            totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), dtype=torch.float64, device=device)])
            loss_n, n_correct, n = ranks.sum(totals).tolist()
            test_loss, test_acc = _evaluate(net, test_set, per_rank, device, mean, std, ranks, plain, amp_dtype, Batches)
            progress.remove_task(task)
            row = {
                "epoch": epoch,
                "train_loss": loss_n / n,
                "train_acc": n_correct / n,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - began,
                "images_per_s": n / train_seconds,
            }
            history.append(row)
            result.verdict = verdict(history)
            say(_epoch_line(row, settings.epochs))
            if ranks.main:
                improved = row["test_acc"] > best_acc
                best_acc = max(best_acc, row["test_acc"])
                payload = {
                    "spec_text": spec.text,
                    "spec_hash": checkpoint.spec_hash(spec.text),
                    "spec_name": spec.name,
                    "settings": settings.model_dump(mode="json"),
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": {"torch": torch.get_rng_state()},
                    "history": history,
                    "mean": mean,
                    "std": std,
                    "classes": train_set.classes,
                }
                # metrics first, checkpoint last: a kill in between leaves metrics one epoch ahead of last.pt,
                # never behind it, and --resume rewrites them from the checkpoint's history
                _write_metrics(history, run_dir)
                from archspec.runtime.plots import curves

                curves(history, run_dir / "curves.png", f"{spec.name}: loss and accuracy per epoch", result.verdict)
                if improved:
                    checkpoint.save(payload, run_dir / "best.pt")
                checkpoint.save(payload, run_dir / "last.pt")
            if result.verdict["overfitting"] and result.verdict["rising_test_loss_epochs"] == 3:  # say it once, live
                say(
                    f"warning: over-fitting — test loss above its minimum (epoch {result.verdict['overfitting_from']}) while training loss falls"
                )
            patience = settings.early_stopping
            if patience and result.verdict["rising_test_loss_epochs"] >= patience:
                result.stopped = f"early stopping: test loss rose {patience} epochs in a row while training loss fell"
                say(result.stopped)
                break
    if history:
        v = result.verdict
        say(
            f"best test accuracy {v['best_test_acc']:.1%} at epoch {v['best_epoch']}; final train–test gap "
            f"{v['final_gap']:+.1%}; " + ("over-fitting detected" if v["overfitting"] else "no sign of over-fitting")
        )
    return result


def _rank_order(order: torch.Tensor, batch: int, ranks: Ranks) -> torch.Tensor:
    """This rank's share of every global batch, in batch order (so per-rank batches line up across ranks)."""
    if ranks.world == 1:
        return order
    pieces = [order[i : i + batch][ranks.rank :: ranks.world] for i in range(0, len(order), batch)]
    return torch.cat(pieces)


@torch.no_grad()
def _evaluate(net, data, batch, device, mean, std, ranks, loss_fn, amp_dtype, Batches) -> tuple[float, float]:
    """Test loss and accuracy (this rank's share of the test set, summed over ranks), without augmentation."""
    net.eval()
    order = torch.arange(len(data))[ranks.rank :: ranks.world]
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for x, y in Batches(data, batch, device, mean, std, None, order):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = net(x).float()
        sums += torch.stack(
            [
                loss_fn(logits, y).double(),
                (logits.argmax(1) == y).sum().double(),
                torch.tensor(len(y), dtype=torch.float64, device=device),
            ]
        )
    loss_sum, correct, n = ranks.sum(sums).tolist()
    return loss_sum / n, correct / n


def _fits(data, device: torch.device) -> bool:
    """Hold the set on the device when it takes under a quarter of the free memory there."""
    free = available_memory(device)
    return data.images.numel() * data.images.element_size() < (free if free is not None else 8 * 2**30) / 4


def _prepare_run_dir(run_dir: Path, force: bool) -> None:
    if run_dir.exists() and any(run_dir.iterdir()) and not force:
        raise TrainingError(f"{run_dir} already holds a run: use --resume to continue it or --force to start over")
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "curves.png"):
            (run_dir / name).unlink(missing_ok=True)


def _write_metrics(history: list[dict], run_dir: Path) -> None:
    """Rewrite metrics.jsonl and metrics.csv from the whole history (so a resumed run's files stay whole)."""
    lines = "".join(json.dumps({k: row[k] for k in METRIC_KEYS}) + "\n" for row in history)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_KEYS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in METRIC_KEYS} for row in history)
    for name, text in (("metrics.jsonl", lines), ("metrics.csv", buffer.getvalue())):
        write_atomically(run_dir / name, text.encode("utf-8"))


def _epoch_line(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.1%}  "
        f"test loss {row['test_loss']:.3f} acc {row['test_acc']:.1%}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f} s  {row['images_per_s']:,.0f} img/s"
    )


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def advance(self, *a, **k):
        pass

    def remove_task(self, *a, **k):
        pass


def _progress(disabled: bool):
    """A rich progress bar on stderr, only when stderr is a terminal."""
    if disabled or not sys.stderr.isatty():
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
