"""``archspec train``: minibatch gradient descent on a spec, with metrics, curves and checkpoints.

Runs alone or under ``torchrun`` (DistributedDataParallel: NCCL on GPUs, gloo on CPUs;
each global batch split across ranks, metrics summed across ranks, only rank 0 writes).
Every epoch's randomness (order, augmentation, dropout) depends only on (seed, epoch),
so a run resumed from its last checkpoint repeats the uninterrupted run exactly on CPU.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

import torch
import torch.distributed as torch_dist
from torch import nn

from archspec.analysis import Report, analyze
from archspec.errors import TrainingError as TrainingError  # defined without torch, for archspec.preflight
from archspec.fileio import write_atomically
from archspec.preflight import check_class_count, check_run_dir, check_scores, settings_for
from archspec.runtime import checkpoint
from archspec.runtime.augment import StreamBatches, TensorBatches, epoch_order, pipeline
from archspec.runtime.build import SpecModule, available_memory, refuse_if_too_big
from archspec.runtime.checkpoint import Checkpoint
from archspec.runtime.confusion import accuracy, confusion, mean_iou
from archspec.runtime.data import ImageSet, channel_stats, load_data
from archspec.spec import Spec
from archspec.spec.training import Training

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]  # (images, labels or masks) on the device, normalised
METRIC_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s")
# segmentation: the accuracies are per pixel, and each split's mean IoU follows its accuracy
SEGMENTATION_KEYS = (
    "epoch", "train_loss", "train_acc", "train_miou", "test_loss", "test_acc", "test_miou", "lr", "seconds", "images_per_s",
)  # fmt: skip


def metric_keys(task: str) -> tuple[str, ...]:
    """The columns of metrics.jsonl/csv for a training task."""
    return SEGMENTATION_KEYS if task == "segmentation" else METRIC_KEYS


def score_key(task: str) -> str:
    """The test metric that picks the best epoch (and best.pt): accuracy, or mean IoU for segmentation."""
    return "test_miou" if task == "segmentation" else "test_acc"


@dataclass
class RunResult:
    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)  # one row of METRIC_KEYS per epoch
    verdict: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None  # why it ended early, if it did


# --- settings ---


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    if name != "auto":
        return _named_device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank or 0)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _named_device(name: str) -> torch.device:
    """A device the user named, refused clearly when this machine or this torch build has no such device."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device `{name}`: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"device `{name}`: CUDA is not available here; use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainingError(f"device `{name}`: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise TrainingError(f"device `{name}`: MPS is not available here; use --device cpu (or auto)")
    return device


@dataclass
class Ranks:
    """Where this process stands in a torchrun job (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
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

    def __init__(self, model: SpecModule) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_logits(x)


# --- schedules ---


def _scheduler(
    optimizer: torch.optim.Optimizer, settings: Training, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
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


def _optimizer(params: Iterator[nn.Parameter], settings: Training) -> torch.optim.Optimizer:
    o = settings.optimizer
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0, weight_decay=o.weight_decay
        )
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)


# --- over-fitting ---


def verdict(history: list[dict[str, Any]], patience: int = 3, tolerance: float = 0.02, score: str = "test_acc") -> dict[str, Any]:
    """Best test epoch (by ``score``), the final train–test gap, and over-fitting.

    Over-fitting (the text's Figure 8): the test loss has stayed more than ``tolerance``
    above its minimum for the last ``patience`` epochs while the training loss kept
    falling below its value at that minimum. Its onset is the epoch of the minimum.
    """
    if not history:
        return {}
    best = max(history, key=lambda h: (h[score], -h["epoch"]))
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
        **({"best_test_miou": best["test_miou"]} if "test_miou" in best else {}),
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
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train ``spec``; write metrics.jsonl/csv, curves.png, last.pt and best.pt to ``run_dir``."""
    ranks = Ranks.from_env()
    say = _reporter(quiet or not ranks.main, log)
    run_dir = Path(run_dir or Path("runs") / spec.name)
    settings, saved = _open_run(spec, run_dir, ranks, overrides, resume=resume, force=force)
    _join_processes(ranks, settings)
    trainer = _Trainer.create(spec, run_dir, settings, ranks, say, saved, check_memory=not force_memory)
    result = trainer.run(_progress(quiet or not ranks.main))
    _summary(result, say)
    return result


def _reporter(silent: bool, log: Callable[[str], None] | None) -> Callable[[str], None]:
    """Where progress lines go: ``log``, else stderr; nowhere when quiet or not rank 0."""
    if silent:
        return lambda text: None
    return log or (lambda text: print(text, file=sys.stderr))


def _open_run(
    spec: Spec, run_dir: Path, ranks: Ranks, overrides: dict[str, Any] | None, *, resume: bool, force: bool
) -> tuple[Training, Checkpoint | None]:
    """The settings and, when resuming, the last checkpoint; a new run's folder made ready; stale temporary files gone."""
    saved = None
    if resume:
        saved = checkpoint.load(run_dir / "last.pt", spec.text)
        settings = saved.settings
        if overrides and "epochs" in overrides:
            settings = settings.model_copy(update={"epochs": int(overrides["epochs"])})
    else:
        settings = settings_for(spec, overrides)
        if ranks.main:
            _prepare_run_dir(run_dir, force)
    if ranks.main and run_dir.is_dir():
        for stale in run_dir.glob(".*.tmp"):  # half-written files of a killed run (never the real ones)
            stale.unlink(missing_ok=True)
    return settings, saved


def _prepare_run_dir(run_dir: Path, force: bool) -> None:
    check_run_dir(run_dir, resume=False, force=force)
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "curves.png"):
            (run_dir / name).unlink(missing_ok=True)


def _join_processes(ranks: Ranks, settings: Training) -> None:
    """Under torchrun: join the process group (NCCL on GPUs, gloo on CPUs); the global batch must split evenly."""
    if ranks.world > 1 and not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if settings.batch_size % ranks.world:
        raise TrainingError(f"batch_size {settings.batch_size} does not split over {ranks.world} processes")


def _check_memory(report: Report, settings: Training, per_rank: int, device: torch.device, name: str) -> None:
    """Refuse (MemoryRefused) before allocating anything when the static estimate of a step does not fit."""
    from archspec.analysis.memory import training_memory

    o = settings.optimizer
    optimizer_name = o.name if o.name != "sgd" or o.momentum else "sgd-nomomentum"
    needed = training_memory(report, per_rank, optimizer_name)["total"]
    refuse_if_too_big(needed, device, f"training `{name}` at batch {per_rank}")


def _build_model(report: Report, settings: Training, device: torch.device, say: Callable[[str], None]) -> SpecModule:
    model = SpecModule(report).to(device)
    if report.output != model.logits_name:
        say(
            f"note: the spec ends in a softmax (`{report.output}`); training feeds the logits of `{model.logits_name}` "
            "to cross-entropy and keeps the softmax for inference"
        )
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _wrap(model: SpecModule, settings: Training, ranks: Ranks, device: torch.device) -> nn.Module:
    """What the loss sees: the logits, under DistributedDataParallel across processes, compiled if asked."""
    net: nn.Module = _Logits(model)
    if ranks.world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if settings.compile:
        net = cast(nn.Module, torch.compile(net))
    return net


@dataclass
class _Data:
    """The training and test sets, the statistics they are normalised with, and how they are batched."""

    train: ImageSet
    test: ImageSet
    mean: torch.Tensor
    std: torch.Tensor
    transform: Callable[[torch.Tensor], torch.Tensor] | None
    batches: type[TensorBatches | StreamBatches]

    @property
    def in_memory(self) -> bool:
        return self.batches is TensorBatches

    @classmethod
    def load(cls, settings: Training, shape: tuple[int, ...], device: torch.device, saved: Checkpoint | None) -> _Data:
        """The data of ``settings``; a resumed run keeps the statistics it started with."""
        train_set, test_set = load_data(settings.data, shape, masks=settings.task == "segmentation")
        mean, std = (saved.mean, saved.std) if saved is not None else channel_stats(train_set.images)
        in_memory = settings.in_memory == "yes" or (settings.in_memory == "auto" and _fits(train_set, device))
        return cls(train_set, test_set, mean, std, pipeline(settings.augment), TensorBatches if in_memory else StreamBatches)


@dataclass
class _Optimisation:
    """Optimiser, learning-rate schedule, mixed precision and the loss: one gradient step at a time."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    amp_dtype: torch.dtype | None
    steps_lr: bool  # whether the schedule moves the learning rate at all

    @classmethod
    def create(cls, model: nn.Module, settings: Training, steps_per_epoch: int, device: torch.device) -> _Optimisation:
        optimizer = _optimizer(model.parameters(), settings)
        return cls(
            optimizer=optimizer,
            scheduler=_scheduler(optimizer, settings, steps_per_epoch),
            scaler=torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16" and device.type == "cuda"),
            criterion=nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing),
            amp_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.precision),
            steps_lr=settings.schedule.name != "constant" or settings.schedule.warmup_epochs > 0,
        )

    def autocast(self, device: torch.device) -> torch.autocast:
        return torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.steps_lr:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def restore(self, saved: Checkpoint) -> None:
        self.optimizer.load_state_dict(saved.optimizer)
        self.scheduler.load_state_dict(saved.scheduler)
        self.scaler.load_state_dict(saved.scaler)


@dataclass
class _Trainer:
    """One run's parts, and its epochs step by step."""

    spec: Spec
    run_dir: Path
    settings: Training
    ranks: Ranks
    say: Callable[[str], None]
    device: torch.device
    model: SpecModule
    net: nn.Module
    data: _Data
    opt: _Optimisation
    history: list[dict[str, Any]] = field(default_factory=list)
    start: int = 1  # the first epoch to run

    @classmethod
    def create(
        cls,
        spec: Spec,
        run_dir: Path,
        settings: Training,
        ranks: Ranks,
        say: Callable[[str], None],
        saved: Checkpoint | None,
        *,
        check_memory: bool,
    ) -> _Trainer:
        """Device, memory check, model, data and optimiser (restored from ``saved`` when resuming)."""
        device = pick_device(settings.device, ranks.local if ranks.world > 1 else None)
        report = analyze(spec)
        check_scores(spec, report, settings.task)  # cross-entropy needs one score per class (per pixel)
        if check_memory:
            _check_memory(report, settings, settings.batch_size // ranks.world, device, spec.name)
        torch.manual_seed(settings.seed)
        model = _build_model(report, settings, device, say)
        say(_making(settings))
        data = _Data.load(settings, report.input_shape, device, saved)
        if settings.task == "segmentation":
            check_scores(spec, report, settings.task, len(data.train.classes))
        else:
            check_class_count(report, len(data.train.classes), settings.data.root or settings.data.source)
        net = _wrap(model, settings, ranks, device)
        opt = _Optimisation.create(model, settings, -(-len(data.train) // settings.batch_size), device)
        trainer = cls(spec, run_dir, settings, ranks, say, device, model, net, data, opt)
        if saved is not None:
            trainer.restore(saved)
        trainer.announce()
        return trainer

    @property
    def per_rank(self) -> int:
        return self.settings.batch_size // self.ranks.world

    def restore(self, saved: Checkpoint) -> None:
        self.model.load_state_dict(saved.model)
        self.opt.restore(saved)
        self.history = list(saved.history)
        self.start = saved.epoch + 1
        self.say(f"resuming {self.run_dir} after epoch {saved.epoch}")

    def announce(self) -> None:
        s, data = self.settings, self.data
        self.say(
            f"training {self.spec.name} on {self.device} ({'in memory' if data.in_memory else 'streamed'}): "
            f"{len(data.train):,} training and {len(data.test):,} test images, batch {s.batch_size}"
            + (f" over {self.ranks.world} processes" if self.ranks.world > 1 else "")
        )

    def run(self, progress: _ProgressLike) -> RunResult:
        """Every remaining epoch, each one recorded; stops early when asked to and the test loss keeps rising."""
        result = RunResult(self.run_dir, self.history)
        with progress:
            for epoch in range(self.start, self.settings.epochs + 1):
                self.history.append(self.epoch(epoch, progress))
                result.verdict = verdict(self.history, score=score_key(self.settings.task))
                self.say(_epoch_line(self.history[-1], self.settings.epochs))
                if self.ranks.main:
                    self.record(result.verdict)
                if self.should_stop(result):
                    break
        return result

    def epoch(self, epoch: int, progress: _ProgressLike) -> dict[str, Any]:
        """Train one epoch, then test: the epoch's row of metrics."""
        began = time.perf_counter()
        batches = self.batches(epoch)
        task = progress.add_task(f"epoch {epoch}/{self.settings.epochs}", total=len(batches))
        loss_sum, n, train_matrix = self.train_epoch(batches, epoch, lambda: progress.advance(task))
        train_seconds = time.perf_counter() - began
        test_loss, test_matrix = self.evaluate()
        progress.remove_task(task)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / n,
            "train_acc": accuracy(train_matrix),
            "train_miou": mean_iou(train_matrix),
            "test_loss": test_loss,
            "test_acc": accuracy(test_matrix),
            "test_miou": mean_iou(test_matrix),
            "lr": self.opt.lr,
            "seconds": time.perf_counter() - began,
            "images_per_s": n / train_seconds,
        }
        return {key: row[key] for key in metric_keys(self.settings.task)}

    def batches(self, epoch: int) -> TensorBatches | StreamBatches:
        """This rank's training batches of ``epoch``: order, augmentation and dropout depend on (seed, epoch) only."""
        seed = self.settings.seed
        torch.manual_seed(seed * 7919 + epoch * 31 + self.ranks.rank)  # dropout, augmentation
        order = _rank_order(epoch_order(len(self.data.train), seed, epoch), self.settings.batch_size, self.ranks)
        d = self.data
        return d.batches(d.train, self.per_rank, self.device, d.mean, d.std, d.transform, order)

    def train_epoch(self, batches: Batches, epoch: int, advance: Callable[[], None]) -> tuple[float, float, torch.Tensor]:
        """One pass of gradient steps: the summed loss, the image count and the confusion matrix (of images, or of
        pixels for segmentation), over all ranks."""
        self.net.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        matrix: torch.Tensor | None = None
        seen = 0
        for step, (x, y) in enumerate(batches, 1):
            logits, loss = self.step(x, y, epoch, step)
            loss_sum += loss.detach() * len(y)  # on the device: no synchronisation per step
            counts = confusion(logits.detach().argmax(1), y, logits.shape[1])
            matrix = counts if matrix is None else matrix + counts
            seen += len(y)
            advance()
        assert matrix is not None  # a training set is never empty
        totals = self.ranks.sum(torch.stack([loss_sum, torch.tensor(float(seen), dtype=torch.float64, device=self.device)]))
        loss_total, n = totals.tolist()
        return loss_total, n, self.ranks.sum(matrix).cpu()

    def step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on a batch: its logits and loss (training stops if the loss is not finite)."""
        if self.settings.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.opt.autocast(self.device):
            logits = self.net(x)
            loss = self.opt.criterion(logits.float(), y)
        _stop_if_diverged(loss, epoch, step, self.run_dir / "last.pt")
        self.opt.step(loss)
        return logits, loss

    def evaluate(self) -> tuple[float, torch.Tensor]:
        """Test loss and confusion matrix, without augmentation (each rank takes every world-th image)."""
        d, ranks = self.data, self.ranks
        order = torch.arange(len(d.test))[ranks.rank :: ranks.world]
        return _evaluate(
            self.net, d.batches(d.test, self.per_rank, self.device, d.mean, d.std, None, order), self.device, ranks, self.opt
        )

    def record(self, verdict: dict[str, Any]) -> None:
        """Metrics and curves first, checkpoints last: a kill in between leaves the metrics one epoch ahead of
        last.pt, never behind it, and --resume rewrites them from the checkpoint's history."""
        from archspec.runtime.plots import curves

        state = self.snapshot()
        _write_metrics(self.history, self.run_dir, metric_keys(self.settings.task))
        segmentation = self.settings.task == "segmentation"
        shown = "loss, pixel accuracy and mean IoU" if segmentation else "loss and accuracy"
        curves(self.history, self.run_dir / "curves.png", f"{self.spec.name}: {shown} per epoch", verdict)
        key = score_key(self.settings.task)
        if self.history[-1][key] > max((h[key] for h in self.history[:-1]), default=-1.0):
            checkpoint.save(state, self.run_dir / "best.pt")
        checkpoint.save(state, self.run_dir / "last.pt")

    def snapshot(self) -> Checkpoint:
        """Everything needed to resume after the last epoch, evaluate or predict."""
        return Checkpoint(
            spec_text=self.spec.text,
            spec_name=self.spec.name,
            settings=self.settings,
            epoch=int(self.history[-1]["epoch"]),
            model=self.model.state_dict(),
            optimizer=self.opt.optimizer.state_dict(),
            scheduler=self.opt.scheduler.state_dict(),
            scaler=self.opt.scaler.state_dict(),
            history=list(self.history),
            mean=self.data.mean,
            std=self.data.std,
            classes=self.data.train.classes,
            rng={"torch": torch.get_rng_state()},
        )

    def should_stop(self, result: RunResult) -> bool:
        """Warn once when over-fitting shows; stop early after ``early_stopping`` epochs of it."""
        v = result.verdict
        if v["overfitting"] and v["rising_test_loss_epochs"] == 3:  # say it once, live
            self.say(
                f"warning: over-fitting — test loss above its minimum (epoch {v['overfitting_from']}) while training loss falls"
            )
        patience = self.settings.early_stopping
        if patience and v["rising_test_loss_epochs"] >= patience:
            result.stopped = f"early stopping: test loss rose {patience} epochs in a row while training loss fell"
            self.say(result.stopped)
            return True
        return False


def _making(settings: Training) -> str:
    """The line said while the data are made or read (the longest silence before the first epoch)."""
    d = settings.data
    if d.source == "synthetic":
        return f"making the synthetic data: {d.train_size:,} training and {d.test_size:,} test images…"
    if d.source == "folder":
        return f"reading the images under {d.root}…"
    return f"reading CIFAR-10 from {d.root or 'data'}…"


def _stop_if_diverged(loss: torch.Tensor, epoch: int, step: int, last: Path) -> None:
    """The NaN stop: a loss that is not finite ends the run, naming the epoch, the step and the last good checkpoint."""
    if not torch.isfinite(loss):
        kept = f"; the last good checkpoint is {last}" if last.exists() else ""
        raise TrainingError(f"the loss became {loss.item()} at epoch {epoch}, step {step}{kept}")


def _summary(result: RunResult, say: Callable[[str], None]) -> None:
    if not result.history:
        return
    v = result.verdict
    best = (
        f"best test mean IoU {v['best_test_miou']:.3f} (pixel accuracy {v['best_test_acc']:.1%})"
        if "best_test_miou" in v
        else f"best test accuracy {v['best_test_acc']:.1%}"
    )
    say(
        f"{best} at epoch {v['best_epoch']}; final train–test gap "
        f"{v['final_gap']:+.1%}; " + ("over-fitting detected" if v["overfitting"] else "no sign of over-fitting")
    )


def _rank_order(order: torch.Tensor, batch: int, ranks: Ranks) -> torch.Tensor:
    """This rank's share of every global batch, in batch order (so per-rank batches line up across ranks)."""
    if ranks.world == 1:
        return order
    pieces = [order[i : i + batch][ranks.rank :: ranks.world] for i in range(0, len(order), batch)]
    return torch.cat(pieces)


@torch.no_grad()
def _evaluate(
    net: nn.Module, batches: Batches, device: torch.device, ranks: Ranks, opt: _Optimisation
) -> tuple[float, torch.Tensor]:
    """Test loss (per image; for segmentation the mean over each image's pixels) and confusion matrix (this
    rank's share of the test set, summed over ranks), without augmentation."""
    net.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    matrix: torch.Tensor | None = None
    for x, y in batches:
        with opt.autocast(device):
            logits = net(x).float()
        per_image = loss_fn(logits, y).flatten(1).mean(1) if y.dim() > 1 else loss_fn(logits, y)
        sums += torch.stack([per_image.double().sum(), torch.tensor(len(y), dtype=torch.float64, device=device)])
        counts = confusion(logits.argmax(1), y, logits.shape[1])
        matrix = counts if matrix is None else matrix + counts
    assert matrix is not None  # a test set is never empty
    loss_sum, n = ranks.sum(sums).tolist()
    return loss_sum / n, ranks.sum(matrix).cpu()


def _fits(data: ImageSet, device: torch.device) -> bool:
    """Hold the set on the device when it takes under a quarter of the free memory there."""
    free = available_memory(device)
    return data.images.numel() * data.images.element_size() < (free if free is not None else 8 * 2**30) / 4


def _write_metrics(history: list[dict[str, Any]], run_dir: Path, keys: tuple[str, ...] = METRIC_KEYS) -> None:
    """Rewrite metrics.jsonl and metrics.csv from the whole history (so a resumed run's files stay whole)."""
    lines = "".join(json.dumps({k: row[k] for k in keys}) + "\n" for row in history)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in keys} for row in history)
    for name, text in (("metrics.jsonl", lines), ("metrics.csv", buffer.getvalue())):
        write_atomically(run_dir / name, text.encode("utf-8"))


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    iou = lambda split: f" mIoU {row[split + '_miou']:.3f}" if split + "_miou" in row else ""  # noqa: E731
    return (
        f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.1%}{iou('train')}  "
        f"test loss {row['test_loss']:.3f} acc {row['test_acc']:.1%}{iou('test')}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f} s  {row['images_per_s']:,.0f} img/s"
    )


class _ProgressLike(Protocol):
    """What the training loop needs of a progress display (rich's Progress, or nothing)."""

    def __enter__(self) -> Any: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None, /) -> Any: ...

    def add_task(self, description: str, /, *, total: float | None) -> Any: ...

    def advance(self, task: Any, /) -> None: ...

    def remove_task(self, task: Any, /) -> None: ...


class _NoProgress(contextlib.AbstractContextManager["_NoProgress"]):
    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None, /) -> None:
        pass

    def add_task(self, description: str, /, *, total: float | None) -> int:
        return 0

    def advance(self, task: Any, /) -> None:
        pass

    def remove_task(self, task: Any, /) -> None:
        pass


def _progress(disabled: bool) -> _ProgressLike:
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
