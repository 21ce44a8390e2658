"""Narrow-space search with and without reduced-precision formats, at one memory bound, over seeds.

Runs the ``narrow`` strategy through the engine on Fashion-MNIST with the ``resnet8`` space in
three configurations that differ only in the number formats a layer may use:

(a) fp32 only;  (b) fp32 + fp16;  (c) fp32 + fp16 + custom reduced floats (e5m6, e4m3).

All three share the bounds (flash = model_bytes, RAM = peak activation bytes, latency of the
STM32H743 MCU model), the reference model the sampling laws are centred on (ResNet-8 at half
width, fp32: it breaks the flash bound, like the source paper's reference IoT model), the
training recipe and the number of trained models; each configuration runs once per seed (the
seed drives both the sampling and the training).

Training time saved by rejecting before training is *measured*: every rejected candidate is
built and trained for a few minibatches with the run's recipe, the time per step is scaled to
the recipe's number of steps, and the evaluation pass is timed on one batch and scaled to the
validation and test splits.  As a check, a few rejected candidates are trained in full.

Writes ``<out>/README.md`` (tables + the command) and ``<out>/evaluations.csv``.  Timings of
rejected candidates and the full trainings outside the engine are kept in ``<store>.timing.json``
so that running the same command again replays them too.

    python bench/narrow_precision.py --seeds 0 1 2   # ~20 min per new seed on one shared core

Seeds may run in parallel processes on one store (``--seeds 0``, ``--seeds 1``, … at once; the
timing cache is shared safely), then ``--seeds 0 1 2`` writes the report from what they stored.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

from moo_nas import costs
from moo_nas.errors import main_or_exit
from moo_nas.report import made_with
from moo_nas.engine import Budget, observation, run_search
from moo_nas.evaluator import training_setup
from moo_nas.objectives import make_objective, parse_quantity
from moo_nas.registry import STRATEGIES
from moo_nas.statistics import summarize
from moo_nas.store import Store
from moo_nas.strategy import Problem
from moo_nas.timing import TimingCache
from moo_nas.training import Recipe

LAWS = {"plain": {}, "memory-scaled": {"memory_scaling": True}}
CONFIGS = {
    "(a) fp32 only": ["fp32"],
    "(b) fp32 + fp16": ["fp32", "fp16"],
    "(c) fp32 + fp16 + e5m6 + e4m3": ["fp32", "fp16", "e5m6", "e4m3"],
}
# fp32-only candidates are the same under both laws (the scaling is 1), so (a) runs once
RUNS = [("plain", label, f) for label, f in CONFIGS.items()] + [
    ("memory-scaled", label, f) for label, f in CONFIGS.items() if len(f) > 1]
REFERENCE = {"stacks": 3, "c1": 8, "m1": 8, "c2": 16, "m2": 16, "c3": 32, "m3": 32,
             "k_stem": 3, "k1a": 3, "k1b": 3, "k2a": 3, "k2b": 3, "k3a": 3, "k3b": 3}
FASHION_SIZES = {"train_size": 4000, "val_size": 2000, "test_size": 2000}
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="fashion-mnist",
                    help="task (default fashion-mnist, what the report is about; digits for a "
                         "quick check of the script)")
    for split, n in (("train", 4000), ("val", 2000), ("test", 2000)):
        ap.add_argument(f"--{split}-size", type=int,
                        help=f"images in the {split} split (fashion-mnist default {n})")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", type=int, default=8, help="models trained per configuration")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--flash", default="64KiB", help="bound on model_bytes")
    ap.add_argument("--ram", default="64KiB", help="bound on peak_act_bytes")
    ap.add_argument("--latency-ms", type=float, default=60.0, help="bound on mcu_latency_ms")
    ap.add_argument("--time-steps", type=int, default=20,
                    help="minibatches timed per rejected candidate (after 3 warm-up steps)")
    ap.add_argument("--time-rejected", type=int, default=3,
                    help="rejected candidates of (c) (first seed) trained in full, to check "
                         "the step-timed estimate")
    ap.add_argument("--store", default=str(ROOT / "runs" / "narrow" / "narrow_precision.sqlite"))
    ap.add_argument("--out", default=str(ROOT / "reports" / "narrow"))
    args = ap.parse_args()
    task_opts = {k: v for k, v in (("train_size", args.train_size), ("val_size", args.val_size),
                                   ("test_size", args.test_size)) if v is not None}
    if args.task == "fashion-mnist":
        task_opts = {**FASHION_SIZES, **task_opts}
    recipe = Recipe(epochs=args.epochs)
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", parse_quantity(args.flash)),
            make_objective("peak_act_bytes", parse_quantity(args.ram)),
            make_objective("mcu_latency_ms", args.latency_ms))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = TimingCache(Path(args.store + ".timing.json"))
    t_all = time.perf_counter()
    rows, csv_rows, strategies = [], [], {}
    with Store(args.store) as store:
        for seed in args.seeds:
            for law, label, formats in RUNS:
                options = dict(LAWS[law], reference=REFERENCE)
                pb, ev = training_setup("resnet8", args.task, recipe, objs,
                                        space_options={"formats": formats},
                                        task_options=task_opts, extra_metrics=["test_accuracy"])
                t0 = time.perf_counter()
                res = run_search(store, pb, ev, "narrow", options, seed,
                                 Budget(evaluations=args.models), experiment="narrow-precision")
                wall = time.perf_counter() - t0
                # the same strategy, replayed (deterministic), to list what it rejected
                strat = STRATEGIES.get("narrow").create(pb, seed, options)
                strat.ask(args.models)
                strat.tell([_obs(pb, e) for e in res.evaluations])
                if strat.counts["rejected"] != res.stats["rejected"]:
                    raise RuntimeError(f"replayed strategy rejected {strat.counts['rejected']}, "
                                       f"the run {res.stats['rejected']}: not deterministic")
                saved, n_timed = 0.0, 0
                for g, _reason, _macs in strat.rejected:
                    st, new = cache.step_timing(ev, g, seed, args.time_steps)
                    n_timed += new
                    saved += st.train_seconds
                rows.append(_row(law, label, seed, res, saved, wall))
                csv_rows += [_csv_row(law, label, seed, e) for e in res.evaluations]
                strategies[(law, label, seed)] = (strat, ev)
                print(f"seed {seed} {law} {label}: best val {rows[-1]['best_val']:.4f} "
                      f"({wall:.0f} s search, {n_timed} rejected newly step-timed, "
                      f"{time.perf_counter() - t0 - wall:.0f} s)", flush=True)

        # reference model (per seed) and rejected candidates trained in full: no bounds
        free = (make_objective("val_accuracy"),)
        last_label = list(CONFIGS)[-1]
        _, ev_free = training_setup("resnet8", args.task, recipe, free,
                                    space_options={"formats": CONFIGS[last_label]},
                                    task_options=task_opts, extra_metrics=["test_accuracy"])
        ref_g = ev_free.space.make(dict(REFERENCE, **{v.name: "fp32" for v in ev_free.space.variables
                                                      if v.name.startswith("fmt_")}))
        ref_arch = ev_free.space.arch(ref_g)
        reference = {"bytes": float(costs.model_bytes(ref_arch)),
                     "ram": float(costs.peak_activation_bytes(ref_arch)), "runs": {}}
        for seed in args.seeds:
            reference["runs"][seed] = cache.full_training(ev_free, ref_g, seed)
        timed = []
        seed0 = args.seeds[0]
        strat, ev_c = strategies[("plain", last_label, seed0)]
        rejected = sorted(strat.rejected, key=lambda r: r[2])
        if args.time_rejected and rejected:
            picks = np.unique(np.linspace(0, len(rejected) - 1, args.time_rejected).round().astype(int))
            for i in picks:
                g, reason, macs = rejected[int(i)]
                full = cache.full_training(ev_free, g, seed0)
                step = cache.cached_step_timing(ev_c, g, args.time_steps)
                timed.append((reason, macs, full.train_s, step.train_seconds,
                              strat.estimate_train_seconds(macs)))
                print(f"timed rejected ({reason}, {macs / 1e6:.2f} M MACs): {full.train_s:.1f} s "
                      f"in full, {step.train_seconds:.1f} s step-timed", flush=True)
    total = time.perf_counter() - t_all
    write_csv(out / "evaluations.csv", csv_rows)
    write_report(out / "README.md", args, rows, reference, timed, strategies, total, csv_rows)
    print(f"wrote {out / 'README.md'} ({total:.0f} s)")


def _row(law, label, seed, res, saved, wall) -> dict:
    ok = [e for e in res.evaluations if e.status == "ok"]
    best = max(ok, key=lambda e: e.value("val_accuracy"))
    g = best.genotype
    st = res.stats
    return {
        "law": law, "config": label, "seed": seed, "best_val": best.value("val_accuracy"),
        "best_test": best.value("test_accuracy"), "bytes": best.value("model_bytes"),
        "ram": best.value("peak_act_bytes"), "lat": best.value("mcu_latency_ms"),
        "macs": best.value("macs"),
        "widths": "-".join(f"{g[f'c{i}']}/{g[f'm{i}']}" for i in range(1, int(g["stacks"]) + 1)),
        "formats": ",".join(sorted({v for k, v in g.items() if k.startswith("fmt_")}) or ["fp32"]),
        "trained": st["trained"], "sampled": st["sampled"], "rejected": st["rejected"],
        "rej_flash": st["rejected_flash"], "rej_ram": st["rejected_ram"],
        "rej_lat": st["rejected_latency"], "reused": sum(bool(e.cached) for e in res.evaluations),
        "train_s": st["train_seconds"], "saved_s": saved, "wall": wall,
        "mean_val": float(np.mean([e.value("val_accuracy") for e in ok])),
    }


def _csv_row(law, label, seed, e) -> dict:
    return {"law": law, "config": label, "seed": seed, "seq": e.seq, "status": e.status,
            "val_accuracy": e.value("val_accuracy"), "test_accuracy": e.value("test_accuracy"),
            "model_bytes": e.value("model_bytes"), "peak_act_bytes": e.value("peak_act_bytes"),
            "mcu_latency_ms": e.value("mcu_latency_ms"), "macs": e.value("macs"),
            "train_s": e.train_s, "reused": bool(e.cached), "device": e.device,
            "genotype": " ".join(f"{k}={v}" for k, v in e.genotype.items())}


def _obs(pb: Problem, e):
    return observation(pb, pb.space.make(e.genotype), e)


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _ms(values) -> str:
    """``mean ± sample std`` (ddof 1) of a list, or the single value."""
    s = summarize({"x": values})["x"]
    return f"{s.mean:.4f}" if s.n < 2 else f"{s.mean:.4f} ± {s.std:.4f}"


def write_report(path, args, rows, reference, timed, strategies, total, csv_rows) -> None:
    cmd = " ".join(["python bench/narrow_precision.py"] + sys.argv[1:])
    seeds = list(args.seeds)
    device = csv_rows[0]["device"] if csv_rows else "?"
    lat_src = next(iter(strategies.values()))[0].latency_source
    compute = (sum(c["train_s"] for c in csv_rows if not c["reused"])
               + sum(r.train_s for r in reference["runs"].values()) + sum(t[2] for t in timed))
    groups = {}
    for r in rows:
        groups.setdefault((r["law"], r["config"]), []).append(r)
    task = next(iter(strategies.values()))[1].task
    shape = "x".join(map(str, task.input_shape[1:]))
    L = [f"# Narrow-space search with reduced-precision formats ({args.task}, resnet8)", "",
         f"Command: `{cmd}` ({made_with()}; this invocation: {total / 60:.1f} min wall; evaluations already in "
         "the store, and timings already in `<store>.timing.json`, are replayed, not redone. "
         "Training time of all the networks in the tables, each counted once, on 2 CPU cores "
         f"shared with other jobs: {compute / 60:.1f} min).", "",
         f"Setup: task {args.task}, train/val/test = {'/'.join(map(str, task.sizes()))} "
         f"images ({shape}), recipe {args.epochs} epochs, batch 32, Adam 3e-3, "
         f"cosine, 1 thread; {args.models} models trained per configuration and seed; seeds "
         f"{', '.join(map(str, seeds))} (the seed drives both the sampling and the training). "
         f"Bounds (checked by the strategy before training): flash = model_bytes <= {args.flash}, "
         f"RAM = peak_act_bytes <= {args.ram}, latency <= {args.latency_ms:g} ms "
         f"({lat_src}). Sampling laws centred on the reference ResNet-8 at half width "
         "(8/8-16/16-32/32 channels, 3x3 kernels, fp32), default narrow options; the "
         "'memory-scaled' law adds `memory_scaling = true` (width targets times "
         "sqrt(reference bits / candidate bits)), which leaves fp32-only candidates unchanged, so "
         "(a) is run once per seed. 'Models trained' includes networks the engine reused from an "
         "identical network trained in another configuration's run (same architecture, task, "
         "recipe, seed; column 'reused').", "",
         "Accuracy is measured (trained on " + device + ", emulated formats on weights and "
         "activations, validation split for selection, test split reported); bytes, RAM and "
         "MACs are modelled (analytic cost formulas), latency modelled (MCU model). "
         "'±' is the sample standard deviation over seeds (ddof 1).", "",
         "## Best accuracy at the same memory bound", "",
         "| sampling law | configuration | best val acc per seed (" + " / ".join(map(str, seeds))
         + ") | best val acc, mean ± std | its test acc per seed | its test acc, mean ± std | "
         "models trained (reused) | rejected (flash / RAM / latency), summed |",
         "|---|---|---|---|---|---|---|---|"]
    ref_runs = [reference["runs"][s] for s in seeds]
    L.append("| - | reference (fp32, breaks the flash bound) | "
             + " / ".join(f"{r.val:.4f}" for r in ref_runs) + f" | {_ms([r.val for r in ref_runs])} | "
             + " / ".join(f"{r.test:.4f}" for r in ref_runs) + f" | {_ms([r.test for r in ref_runs])} | "
             f"{len(seeds)} (0) | - |")
    for (law, label), g in groups.items():
        L.append(f"| {law} | {label} | " + " / ".join(f"{r['best_val']:.4f}" for r in g)
                 + f" | {_ms([r['best_val'] for r in g])} | "
                 + " / ".join(f"{r['best_test']:.4f}" for r in g)
                 + f" | {_ms([r['best_test'] for r in g])} | "
                 f"{sum(r['trained'] for r in g):.0f} ({sum(r['reused'] for r in g)}) | "
                 f"{sum(r['rejected'] for r in g):.0f} ({sum(r['rej_flash'] for r in g):.0f} / "
                 f"{sum(r['rej_ram'] for r in g):.0f} / {sum(r['rej_lat'] for r in g):.0f}) |")
    L += ["", f"Reference: model bytes {reference['bytes']:.0f}, peak activation bytes "
          f"{reference['ram']:.0f} (flash bound {parse_quantity(args.flash):.0f}).", "",
          "### The best network of each run", "",
          "| sampling law | configuration | seed | best val acc | its test acc | mean val acc of the "
          "run | model bytes | peak act bytes | MCU ms | MACs | widths c/m per kept stack | formats |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['law']} | {r['config']} | {r['seed']} | {r['best_val']:.4f} | "
                 f"{r['best_test']:.4f} | {r['mean_val']:.4f} | {r['bytes']:.0f} | {r['ram']:.0f} | "
                 f"{r['lat']:.1f} | {r['macs'] / 1e6:.2f} M | {r['widths']} | {r['formats']} |")
    L += ["", "## Rejection before training (summed over seeds)", "",
          "| sampling law | configuration | sampled | rejected (flash / RAM / latency) | fraction "
          "rejected | trained | training s of the trained (measured) | training s saved "
          "(measured, step-timed) |",
          "|---|---|---|---|---|---|---|---|"]
    for (law, label), g in groups.items():
        s, rj = sum(r["sampled"] for r in g), sum(r["rejected"] for r in g)
        L.append(f"| {law} | {label} | {s:.0f} | {rj:.0f} ({sum(r['rej_flash'] for r in g):.0f} / "
                 f"{sum(r['rej_ram'] for r in g):.0f} / {sum(r['rej_lat'] for r in g):.0f}) | "
                 f"{rj / max(s, 1):.3f} | {sum(r['trained'] for r in g):.0f} | "
                 f"{sum(r['train_s'] for r in g):.0f} | {sum(r['saved_s'] for r in g):.0f} |")
    L += ["", "\"Sampled\" counts distinct architectures drawn; every rejected one failed a bound "
          "and was never trained by the search. The saving is *measured*: after the search, each "
          f"rejected candidate was built and run for {args.time_steps} minibatches of the same "
          "recipe (after 3 warm-up steps, same batches and optimiser, 1 thread, pinned core); "
          "the mean time per step times the recipe's number of steps, plus one timed evaluation "
          "batch scaled to the validation and test splits, is its estimated training time; the "
          "column sums these estimates (what training all rejected candidates would have "
          "cost). Training times of the trained candidates were measured in full while other "
          "jobs shared the machine, so both columns carry contention noise. Check of the "
          f"step-timed estimate: candidates rejected in configuration (c) (plain law, seed "
          f"{seeds[0]}), trained in full and timed; last column the least-squares line of "
          "training seconds vs MACs the strategy reports (`est_train_seconds_saved`, modelled), "
          "which the step timing replaces:", "",
          "| rejected by | MACs | measured, full training s | step-timed estimate s | "
          "estimate / full | linear MACs model s |", "|---|---|---|---|---|---|"]
    for reason, macs, secs, step, lin in timed:
        L.append(f"| {reason.replace('rejected_', '')} | {macs / 1e6:.2f} M | {secs:.1f} | "
                 f"{step:.1f} | {step / secs:.2f} | {lin:.1f} |")
    if timed:
        ratio = np.mean([step / secs for _, _, secs, step, _ in timed])
        L += ["", f"Step-timed estimate / full measured training time: {ratio:.2f} on average "
              f"over these {len(timed)} (timed at different moments on a shared machine)."]
    L += ["", "## Reading", ""] + reading(groups, seeds, rows, csv_rows, args)
    L += ["", "Per-evaluation data: `evaluations.csv` (one row per trained network, with its "
          "seed).", ""]
    Path(path).write_text("\n".join(L))


def reading(groups, seeds, rows, csv_rows, args) -> list[str]:
    """Plain statements computed from the numbers: does (c) beat (b) and (a), beyond the spread."""
    L = []
    by = {(law, label[:3]): [r["best_val"] for r in g] for (law, label), g in groups.items()}
    a = by[("plain", "(a)")]
    for law in LAWS:
        if (law, "(c)") not in by:
            continue
        c, b = np.array(by[(law, "(c)")]), np.array(by[(law, "(b)")])
        parts = []
        for name, other in (("(b)", b), ("(a)", np.array(a))):
            d = c - other
            spread = max(c.std(ddof=1), other.std(ddof=1)) if len(seeds) > 1 else float("nan")
            verdict = ("spread unknown with one seed" if math.isnan(spread) else
                       "larger than" if abs(d.mean()) > spread else "not larger than")
            parts.append(f"(c) - {name} = {d.mean():+.4f} on average (per seed "
                         + ", ".join(f"{x:+.4f}" for x in d)
                         + f"; (c) higher in {int((d > 0).sum())} of {len(d)} seeds), "
                         f"{verdict} the spread over seeds (larger std of the two: {spread:.4f})")
        L.append(f"- {law} law: best val acc (a) {_ms(a)}, (b) {_ms(b)}, (c) {_ms(c)}; "
                 + "; ".join(parts) + ".")
    custom = [f for f in CONFIGS[list(CONFIGS)[-1]] if f not in CONFIGS[list(CONFIGS)[1]]]
    for law in LAWS:
        runs_c = {r["seed"]: r for r in rows if r["law"] == law and r["config"].startswith("(c)")}
        if not runs_c:
            continue
        runs_b = {r["seed"]: r for r in rows if r["law"] == law and r["config"].startswith("(b)")}
        uses = [s for s, r in runs_c.items() if set(r["formats"].split(",")) & set(custom)]
        same = [s for s, r in runs_c.items() if s in runs_b and all(
            r[k] == runs_b[s][k] for k in ("widths", "formats", "bytes", "ram", "macs"))]
        L.append(f"- {law} law: the best network of (c) uses a custom format "
                 f"({' or '.join(custom)}) in {len(uses)} of {len(runs_c)} seeds"
                 + (f" (seed {', '.join(map(str, uses))})" if uses else "")
                 + (f"; in seed {', '.join(map(str, same))} it is the same network as the best of "
                    "(b) (fp16/fp32 only, trained once and reused)" if same else "") + ".")
    by_law = {law: np.mean(by[(law, "(c)")]) - np.mean(by[(law, "(b)")])
              for law in LAWS if (law, "(c)") in by}
    law_b = max(by_law, key=lambda law: np.mean(by[(law, "(b)")]))
    b_best = by[(law_b, "(b)")]
    d_ba = np.mean(b_best) - np.mean(a)
    spread_ba = max(np.std(b_best, ddof=1), np.std(a, ddof=1))
    L.append(f"- In short, over {len(seeds)} seeds: (c) custom formats "
             + ("do not beat" if max(by_law.values()) <= 0 or all(
                 abs(d) <= max(np.std(by[(law, '(c)')], ddof=1), np.std(by[(law, '(b)')], ddof=1))
                 for law, d in by_law.items()) else "beat")
             + " (b) fp16 by more than the spread over seeds under either law (mean difference "
             + ", ".join(f"{d:+.4f} {law}" for law, d in by_law.items())
             + f"); (b) fp32 + fp16 under the {law_b} law is {d_ba:+.4f} above (a) fp32-only "
             f"(mean {np.mean(b_best):.4f} vs {np.mean(a):.4f}), "
             + ("more" if abs(d_ba) > spread_ba else "not more")
             + f" than the spread ({spread_ba:.4f}). With {len(seeds)} seeds and "
             f"{args.models} models per run this is a measured direction, not a significance test.")
    tot_s = sum(r["sampled"] for r in rows)
    tot_r = sum(r["rejected"] for r in rows)
    flash, ram = parse_quantity(args.flash), parse_quantity(args.ram)
    broke = sum(1 for c in csv_rows if c["model_bytes"] > flash or c["peak_act_bytes"] > ram
                or c["mcu_latency_ms"] > args.latency_ms)
    saved = sum(r["saved_s"] for r in rows)
    spent = sum(r["train_s"] for r in rows)
    L.append(f"- Over all runs {tot_r:.0f} of {tot_s:.0f} sampled candidates ({tot_r / tot_s:.0%}) "
             f"were rejected before training; {broke} of the {len(csv_rows)} trained candidates "
             f"broke a bound. Training them all would have cost about {saved / 60:.0f} min more "
             f"(step-timed) on top of the {spent / 60:.0f} min spent on the trained ones "
             "(runs counted separately, reused networks included).")
    return L


if __name__ == "__main__":
    main_or_exit(main, "narrow_precision.py")
