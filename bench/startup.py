"""The fixed costs a user waits through, each beside the floor it is compared with, measured in one run.

    .venv/bin/python bench/startup.py            # prints the figures
    .venv/bin/python bench/startup.py --write    # also writes them into bench/RESULTS.md (its startup section) and .json
    .venv/bin/python bench/startup.py --smoke    # tiny sizes, to check that it runs (the tests do this)

1. `archspec train specs/seed_cnn.yaml` to its first training step, as a whole process: with an empty data cache
   (the images generated, as every run did before the cache) and with a warm one (read back).
2. `archspec lint specs/resnet50.yaml` as a whole process, against `python -c pass` and `python -c "import archspec"`
   (the package lint cannot do without), and the archspec modules it imports, from `python -X importtime`.
3. Load + analyse of resnet50 in process against composing its YAML nodes with libyaml (yaml.compose with
   CSafeLoader), the floor of any loader that keeps positions; and where the time goes (cProfile).

Medians with min–max; targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sections import write_section

BEGIN, END = "<!-- startup:begin (bench/startup.py) -->", "<!-- startup:end -->"

# run in a fresh process: `archspec train` as the command line runs it, ended right after its first step
FIRST_STEP = """
import os, sys
from archspec.runtime import train
real = train._Optimisation.step
def first_step(self, loss):
    real(self, loss)
    print("first step", flush=True)
    os._exit(0)
train._Optimisation.step = first_step
from archspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def spread(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def fmt(t: dict, unit: str | None = None) -> str:
    """A median with its min–max, in ms below a second and in s above unless ``unit`` is given."""
    unit = unit or ("s" if t["median"] >= 1 else "ms")
    k = {"ms": 1e3, "s": 1.0}[unit]
    return f"{t['median'] * k:.3g} {unit} ({t['min'] * k:.3g}–{t['max'] * k:.3g})"


def process_time(command: list[str], env: dict[str, str] | None = None, marker: str | None = None, cwd: Path = ROOT) -> float:
    """Seconds from starting ``command`` in ``cwd`` to its exit (or to ``marker`` on its stdout)."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or (marker and marker not in result.stdout):
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return elapsed


# --- 1. archspec train to its first step ---


def first_step(train_size: int, test_size: int, repeat: int, before: Path | None) -> dict:
    """Cold and warm cache; with ``before`` (a tree of archspec as it was before the cache), that code too, run
    from its folder so that its package is the one imported."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "ARCHSPEC_CACHE_DIR": str(Path(folder) / "cache")}
        command = [sys.executable, "-c", FIRST_STEP, "train", str(ROOT / "specs" / "seed_cnn.yaml")]
        command += ["--train-size", str(train_size), "--test-size", str(test_size), "--device", "cpu", "--force"]
        command += ["-o", str(Path(folder) / "run")]
        old = process_time(command, {**env, "PYTHONPATH": str(before)}, "first step", before) if before else None
        cold = process_time(command, env, "first step")  # an empty cache: the images are generated and stored
        warm = [process_time(command, env, "first step") for _ in range(repeat)]
        torch_import = [process_time([sys.executable, "-c", "import torch"]) for _ in range(repeat)]
    return {
        "train_size": train_size,
        "test_size": test_size,
        "before": old,
        "cold": cold,
        "warm": spread(warm),
        "import_torch": spread(torch_import),
        "ratio": statistics.median(warm) / (old or cold),
    }


# --- 2. archspec lint as a whole process ---


def lint_process(repeat: int) -> dict:
    lint = [sys.executable, "-m", "archspec", "lint", str(ROOT / "specs" / "resnet50.yaml")]
    full_parser = (  # before: the command line defined every subcommand, importing what their options need
        "import sys\nfrom archspec import cli\nparser = cli._parser\ncli._parser = lambda command=None: parser()\n"
        f"sys.exit(cli.main(['lint', {lint[-1]!r}]))"
    )
    commands = {
        "lint_before": [sys.executable, "-c", full_parser],
        "lint": lint,
        "python": [sys.executable, "-c", "pass"],
        "import_archspec": [sys.executable, "-c", "import archspec"],
    }
    times: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(repeat):  # interleaved, so drift hits all alike
        for key, command in commands.items():
            times[key].append(process_time(command))
    report = subprocess.run([sys.executable, "-X", "importtime", *lint[1:]], capture_output=True, text=True, cwd=ROOT).stderr
    modules = [line.split("|")[-1].strip() for line in report.splitlines() if line.startswith("import time:")]
    ours = sorted({m for m in modules if m.split(".")[0] == "archspec"})
    stats = {key: spread(v) for key, v in times.items()}
    return {
        **stats,
        "ratio": stats["lint"]["median"] / stats["python"]["median"],
        "imports_torch": "torch" in {m.split(".")[0] for m in modules},
        "archspec_modules": ours,
        "networkx": "networkx" in modules,
        "pydantic": "pydantic" in modules,
    }


# --- 3. load + analyse in process against libyaml's composition ---


def analyse_in_process(repeat: int) -> dict:
    import yaml

    import archspec

    text = (ROOT / "specs" / "resnet50.yaml").read_text()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def timed(fn) -> dict:
        fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return spread(times)

    ours = timed(lambda: archspec.analyze(archspec.loads(text)))
    load = timed(lambda: archspec.loads(text))
    compose = timed(lambda: yaml.compose(text, Loader=loader))
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(max(3, repeat // 3)):
        archspec.analyze(archspec.loads(text))
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    by_module: dict[str, float] = {}
    for (filename, _, _), row in stats.stats.items():  # type: ignore[attr-defined]
        name = _module(filename)
        by_module[name] = by_module.get(name, 0.0) + row[2]  # own time, so the shares add up
    top = sorted(by_module.items(), key=lambda kv: -kv[1])[:8]
    return {
        "archspec": ours,
        "load": load,
        "compose": compose,
        "loader": loader.__name__,
        "ratio": ours["median"] / compose["median"],
        "profile": [{"where": name, "share": t / total} for name, t in top],
    }


def _module(filename: str) -> str:
    """A profiled function's file as a short module name (archspec's own, or the library it belongs to)."""
    path = Path(filename)
    if "archspec" in path.parts and "site-packages" not in path.parts:
        parts = path.with_suffix("").parts
        return ".".join(parts[len(parts) - 1 - parts[::-1].index("archspec") :])
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1]
    return "python built-ins" if filename.startswith("~") or not path.suffix else path.stem


# --- the report ---


def markdown(r: dict) -> str:
    f, lint, a = r["first_step"], r["lint"], r["analyse"]
    mods = ", ".join(m for m in lint["archspec_modules"] if m.count(".") <= 1)
    profile = "; ".join(f"{p['where']} {p['share']:.0%}" for p in a["profile"])
    lines = [
        BEGIN,
        "## Fixed costs: time to the first training step, a lint process, load + analyse",
        "",
        f"Measured {r['date']} on {os.cpu_count()} CPUs by `python bench/startup.py`, in a run of its own; medians with "
        "min–max, on a machine shared with other work (absolute times drift; compare within a line). Before → after: "
        "the synthetic data cached on disk (before, every run generated its images; the first run with an empty cache "
        "generates and stores them, later runs read them back), channel statistics from histograms, and the command "
        "line defining only the subcommand it runs.",
        "",
        f"- **`archspec train specs/seed_cnn.yaml` to its first step** ({f['train_size']:,} training and "
        f"{f['test_size']:,} test images, CPU): "
        + (f"{f['before']:.1f} s before (every run generated its images) → " if f["before"] else "")
        + f"{f['cold']:.1f} s with an empty cache (the images generated and "
        f"stored) → {fmt(f['warm'], 's')} with a warm one (read back and checked by SHA-256): **{f['ratio']:.2f}** of "
        f"{'the time before' if f['before'] else 'the cold start'} (target ≤ 0.33). `import torch` alone takes "
        f"{fmt(f['import_torch'], 's')} of it.",
        f"- **`archspec lint specs/resnet50.yaml` as a process**: {fmt(lint['lint_before'])} with every subcommand "
        f"defined → {fmt(lint['lint'])} with only lint's, against {fmt(lint['python'])} "
        f"for `python -c pass` (**{lint['ratio']:.1f}×**; the reference: 404 ms against ~100 ms) and "
        f'{fmt(lint["import_archspec"])} for `python -c "import archspec"`, which lint cannot do without. '
        f"It imports torch: {'yes' if lint['imports_torch'] else 'no'}; archspec's modules: {mods}.",
        f"- **Load + analyse of resnet50 in process**: {fmt(a['archspec'])} (loading alone {fmt(a['load'])}) against "
        f"{fmt(a['compose'])} for `yaml.compose` with {a['loader']}: **{a['ratio']:.1f}×** (target ≤ 3×: "
        f"{'met' if a['ratio'] <= 3 else '**not met**'}). Own time by module (cProfile): {profile}.",
        "",
        REMAINS,
        END,
    ]
    return "\n".join(lines) + "\n"


REMAINS = """What remains, and why:

- *Time to the first step, warm*: about half is `import torch`; then importing archspec, reading the cached sets
  (540 MB for the default sizes) and hashing them, the channel statistics, and building the model. Generation is
  not overlapped with the torch import: with a warm cache nothing is generated.
- *lint as a process*: it is `import archspec` plus the lint itself. In `python -X importtime` about two-thirds of
  that import is defining the layer kinds (each a Pydantic model whose validator is built when its class is made)
  and about a sixth is networkx for the layer graph. Near Python's own start-up would take the validators built on
  first use and the graph without networkx: changes to the static core, not made here.
- *load + analyse*: block expansion substitutes each block's `$params` in every layer of every use, the
  receptive-field walk and networkx's topological sort follow, and the loader keeps every value's position. Within
  3× of libyaml's composition would take expansion once per block definition and the order without networkx;
  neither is a simple or safe change, and neither is made here."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md and .json")
    parser.add_argument(
        "--before", type=Path, help="a tree of archspec before the data cache (git archive COMMIT | tar -x -C DIR), timed too"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md", help="the RESULTS.md for --write")
    args = parser.parse_args()
    smoke = args.smoke
    results: dict[str, Any] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "smoke": smoke}
    print("train to its first step...", file=sys.stderr)
    results["first_step"] = first_step(256 if smoke else 40_000, 64 if smoke else 4_000, 1 if smoke else 3, args.before)
    print("lint process...", file=sys.stderr)
    results["lint"] = lint_process(1 if smoke else 7)
    print("load + analyse...", file=sys.stderr)
    results["analyse"] = analyse_in_process(3 if smoke else 30)
    report(results, args.write, args.output)


def report(results: dict, write: bool, output: Path) -> None:
    section = markdown(results)
    print(section)
    if write:
        write_section(section, output, BEGIN, END)
        data_file = output.with_suffix(".json")
        stored = json.loads(data_file.read_text(encoding="utf-8")) if data_file.exists() else {}
        stored["startup"] = results
        data_file.write_text(json.dumps(stored, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
