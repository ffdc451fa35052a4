"""Measure one spec's training-step memory on the CPU, in a fresh process (run by bench/run.py).

The honest CPU proxy for ``torch.cuda.max_memory_allocated``: the process's peak
resident memory (VmHWM, reset first) during two training steps, minus its resident
memory just before the model, optimiser and batch exist. Tensors of 128 KiB and more are
mmap-backed and returned to the system when freed, so the peak follows the live tensors.
That needs glibc's mmap threshold fixed: by default it rises to the size of each freed
mapping (up to 32 MiB), after which tensors below it come from the heap, whose freed
chunks stay resident; the peak then also counts the heap's fragmentation (a small ViT at
batch 64: 50% more than its live tensors), which is the allocator's and not the network's.
"""

from __future__ import annotations

import ctypes
import gc
import json
import resource
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def reset_peak() -> bool:
    """Restart the kernel's peak-RSS counter (VmHWM): a child's ru_maxrss can carry its parent's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fix_mmap_threshold(size: int = 128 * 1024) -> bool:
    """Serve every allocation of ``size`` bytes or more by mmap, returned when freed (glibc; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, size))


def main(spec_path: str, batch: int, optimizer: str) -> None:
    fix_mmap_threshold()  # before torch allocates anything
    import torch

    import archspec

    torch.set_num_threads(1)  # one thread: no per-thread scratch buffers in the figure
    report = archspec.analyze(archspec.load(spec_path))
    torch.manual_seed(0)
    make_opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)}[
        optimizer
    ]
    classes = report.layer(archspec.build(report, device="meta").logits_name).output_shape[-1]

    def steps(model, n: int, size: int) -> None:
        opt = make_opt(model.parameters())
        x = torch.randn(size, *report.input_shape)
        y = torch.randint(0, classes, (size,))
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model.forward_logits(x), y).backward()
            opt.step()

    # warm every kernel (and the allocator) on a narrow copy first, so one-off costs are not counted:
    # a batch of one on the same architecture, then everything freed
    steps(archspec.build(report), 1, 1)
    gc.collect()  # the narrow copy can sit in a reference cycle: free it before the baseline
    reset_peak()
    base = rss_bytes()
    steps(archspec.build(report), 2, batch)
    peak = peak_bytes()
    print(json.dumps({"measured": peak - base}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
