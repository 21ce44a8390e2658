"""Narrow-space search with and without reduced-precision formats, at one memory bound.

Runs the ``narrow`` strategy through the engine on Fashion-MNIST with the ``resnet8`` space in
three configurations that differ only in the number formats a layer may use:

(a) fp32 only;  (b) fp32 + fp16;  (c) fp32 + fp16 + custom reduced floats (e5m6, e4m3).

All three share the bounds (flash = model_bytes, RAM = peak activation bytes, latency of the
STM32H743 MCU model), the reference model the sampling laws are centred on (ResNet-8 at half
width, fp32: it breaks the flash bound, like the source paper's reference IoT model), the
training recipe, the number of trained models and the seed.  Then, for the rejection part,
it trains a few candidates that configuration (c) rejected before training, to check the
modelled training-time saving against measured times.

Writes ``<out>/README.md`` (tables + the command) and ``<out>/evaluations.csv``.

    python bench/narrow_precision.py            # ~25 min on 2 shared CPU cores
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moo_nas import costs  # noqa: E402
from moo_nas.engine import Budget, observation, run_search  # noqa: E402
from moo_nas.evaluator import Evaluator, EvaluatorSpec, needed_providers  # noqa: E402
from moo_nas.objectives import make_objective, parse_quantity  # noqa: E402
from moo_nas.store import Store  # noqa: E402
from moo_nas.training import Recipe  # noqa: E402
from strategies import get_strategy  # noqa: E402
from strategies.base import Problem  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-size", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=2000)
    ap.add_argument("--test-size", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", type=int, default=8, help="models trained per configuration")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flash", default="64KiB", help="bound on model_bytes")
    ap.add_argument("--ram", default="64KiB", help="bound on peak_act_bytes")
    ap.add_argument("--latency-ms", type=float, default=60.0, help="bound on mcu_latency_ms")
    ap.add_argument("--time-rejected", type=int, default=3,
                    help="rejected candidates of (c) to train, to check the time-saved model")
    ap.add_argument("--store", default="/tmp/narrow_precision.sqlite")
    ap.add_argument("--out", default=str(ROOT / "reports" / "narrow"))
    args = ap.parse_args()
    flash, ram = parse_quantity(args.flash), parse_quantity(args.ram)
    task_opts = {"train_size": args.train_size, "val_size": args.val_size,
                 "test_size": args.test_size}
    recipe = Recipe(epochs=args.epochs)
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", flash),
            make_objective("peak_act_bytes", ram), make_objective("mcu_latency_ms", args.latency_ms))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    rows, csv_rows, strategies = [], [], {}
    with Store(args.store) as store:
        for law, label, formats in RUNS:
            options = dict(LAWS[law], reference=REFERENCE)
            spec = EvaluatorSpec("resnet8", {"formats": formats}, "fashion-mnist", task_opts,
                                 recipe, objs, needed_providers(objs, ["test_accuracy"]))
            ev = Evaluator(spec)
            pb = Problem(ev.space, objs, ev.task, recipe)
            t0 = time.perf_counter()
            res = run_search(store, pb, ev, "narrow", options, args.seed,
                             Budget(evaluations=args.models), experiment="narrow-precision")
            ok = [e for e in res.evaluations if e.status == "ok"]
            best = max(ok, key=lambda e: e.value("val_accuracy"))
            g = best.genotype
            fmts = sorted({v for k, v in g.items() if k.startswith("fmt_")}) or ["fp32"]
            st = res.stats
            rows.append({
                "law": law, "config": label, "best_val": best.value("val_accuracy"),
                "best_test": best.value("test_accuracy"),
                "bytes": best.value("model_bytes"), "ram": best.value("peak_act_bytes"),
                "lat": best.value("mcu_latency_ms"), "macs": best.value("macs"),
                "widths": "-".join(f"{g[f'c{i}']}/{g[f'm{i}']}" for i in range(1, int(g["stacks"]) + 1)),
                "formats": ",".join(fmts), "trained": st["trained"], "sampled": st["sampled"],
                "rejected": st["rejected"], "rej_flash": st["rejected_flash"],
                "rej_ram": st["rejected_ram"], "rej_lat": st["rejected_latency"],
                "reused": sum(bool(e.cached) for e in res.evaluations),
                "frac": st["rejected_fraction"], "train_s": st["train_seconds"],
                "saved_s": st.get("est_train_seconds_saved", float("nan")),
                "wall": time.perf_counter() - t0, "mean_val": np.mean([e.value("val_accuracy") for e in ok]),
            })
            for e in res.evaluations:
                csv_rows.append({"law": law, "config": label, "seq": e.seq, "status": e.status,
                                 "val_accuracy": e.value("val_accuracy"),
                                 "test_accuracy": e.value("test_accuracy"),
                                 "model_bytes": e.value("model_bytes"),
                                 "peak_act_bytes": e.value("peak_act_bytes"),
                                 "mcu_latency_ms": e.value("mcu_latency_ms"), "macs": e.value("macs"),
                                 "train_s": e.train_s, "reused": bool(e.cached), "device": e.device,
                                 "genotype": " ".join(f"{k}={v}" for k, v in e.genotype.items())})
            # the same strategy, replayed (deterministic), to list what it rejected
            strat = get_strategy("narrow").create(pb, args.seed, options)
            strat.ask(args.models)
            strat.tell([_obs(pb, e) for e in res.evaluations])
            strategies[(law, label)] = (strat, ev)
            print(f"{law} {label}: best val {best.value('val_accuracy'):.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)

        # reference model and timed rejected candidates: trained without bounds
        free = (make_objective("val_accuracy"),)
        last_label = list(CONFIGS)[-1]
        strat, ev_c = strategies[("plain", last_label)]
        spec_free = EvaluatorSpec("resnet8", {"formats": CONFIGS[last_label]}, "fashion-mnist",
                                  task_opts, recipe, free, needed_providers(free, ["test_accuracy"]))
        ev_free = Evaluator(spec_free)
        ref_g = dict(REFERENCE, **{v.name: "fp32" for v in ev_free.space.variables
                                   if v.name.startswith("fmt_")})
        ref_ev = ev_free.evaluate(ev_free.space.make(ref_g), args.seed)
        ref_arch = ev_free.space.arch(ev_free.space.make(ref_g))
        reference = {"val": ref_ev.value("val_accuracy"), "test": ref_ev.value("test_accuracy"),
                     "bytes": float(costs.model_bytes(ref_arch)),
                     "ram": float(costs.peak_activation_bytes(ref_arch)), "train_s": ref_ev.train_seconds}
        timed = []
        rejected = sorted(strat.rejected, key=lambda r: r[2])
        if args.time_rejected and rejected:
            picks = np.unique(np.linspace(0, len(rejected) - 1, args.time_rejected).round().astype(int))
            for i in picks:
                g, reason, macs = rejected[int(i)]
                e = ev_free.evaluate(g, args.seed)
                timed.append((reason, macs, e.train_seconds, strat.estimate_train_seconds(macs)))
                print(f"timed rejected ({reason}, {macs / 1e6:.2f} M MACs): {e.train_seconds:.1f} s",
                      flush=True)
    total = time.perf_counter() - t_all
    write_csv(out / "evaluations.csv", csv_rows)
    write_report(out / "README.md", args, rows, reference, timed, strategies, total, csv_rows)
    print(f"wrote {out / 'README.md'} ({total:.0f} s)")


def _obs(pb, e):
    return observation(pb, pb.space.make(e.genotype), e.status,
                       {k: v.value for k, v in e.values.items()}, e)


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_report(path, args, rows, reference, timed, strategies, total, csv_rows) -> None:
    cmd = " ".join(["python bench/narrow_precision.py"] + sys.argv[1:])
    device = csv_rows[0]["device"] if csv_rows else "?"
    lat_src = next(iter(strategies.values()))[0].latency_source
    compute = (sum(c["train_s"] for c in csv_rows if not c["reused"]) + reference["train_s"]
               + sum(t[2] for t in timed))
    L = ["# Narrow-space search with reduced-precision formats (Fashion-MNIST, resnet8)", "",
         f"Command: `{cmd}` (this invocation: {total / 60:.1f} min wall; evaluations already in "
         "the store are replayed, not retrained. Training time of all the networks in the tables, "
         f"each counted once, on 2 CPU cores shared with other jobs: {compute / 60:.1f} min).", "",
         f"Setup: task fashion-mnist, train/val/test = {args.train_size}/{args.val_size}/"
         f"{args.test_size} images (28x28), recipe {args.epochs} epochs, batch 32, Adam 3e-3, "
         f"cosine, 1 thread; {args.models} models trained per configuration; seed {args.seed}. "
         f"Bounds (checked by the strategy before training): flash = model_bytes <= {args.flash}, "
         f"RAM = peak_act_bytes <= {args.ram}, latency <= {args.latency_ms:g} ms "
         f"({lat_src}). Sampling laws centred on the reference ResNet-8 at half width "
         "(8/8-16/16-32/32 channels, 3x3 kernels, fp32), default narrow options; the "
         "'memory-scaled' law adds `memory_scaling = true` (width targets times "
         "sqrt(reference bits / candidate bits)), which leaves fp32-only candidates unchanged, so "
         "(a) is run once. 'Models trained' includes networks the engine reused from an identical "
         "network trained in another configuration's run (same architecture, task, recipe, seed; "
         "column 'reused').", "",
         "Accuracy is measured (trained on " + device + ", emulated formats on weights and "
         "activations, validation split for selection, test split reported); bytes, RAM and "
         "MACs are modelled (analytic cost formulas), latency modelled (MCU model).", "",
         "## Best accuracy at the same memory bound", "",
         "| sampling law | configuration | models trained | reused | best val acc | its test acc | mean val acc | "
         "model bytes | peak act bytes | MCU ms | MACs | widths c/m per kept stack | formats |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
         f"| - | reference (fp32, breaks the flash bound) | 1 | 0 | {reference['val']:.4f} | "
         f"{reference['test']:.4f} | - | {reference['bytes']:.0f} | {reference['ram']:.0f} | - | - | "
         "8/8-16/16-32/32 | fp32 |"]
    for r in rows:
        L.append(f"| {r['law']} | {r['config']} | {r['trained']:.0f} | {r['reused']} | {r['best_val']:.4f} | {r['best_test']:.4f} | "
                 f"{r['mean_val']:.4f} | {r['bytes']:.0f} | {r['ram']:.0f} | {r['lat']:.1f} | "
                 f"{r['macs'] / 1e6:.2f} M | {r['widths']} | {r['formats']} |")
    L += ["", "## Rejection before training", "",
          "| sampling law | configuration | sampled | rejected (flash / RAM / latency) | fraction rejected | "
          "trained | training s (measured) | training s saved (modelled) |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['law']} | {r['config']} | {r['sampled']:.0f} | {r['rejected']:.0f} ({r['rej_flash']:.0f} / "
                 f"{r['rej_ram']:.0f} / {r['rej_lat']:.0f}) | {r['frac']:.3f} | {r['trained']:.0f} | "
                 f"{r['train_s']:.0f} | {r['saved_s']:.0f} |")
    L += ["", "\"Sampled\" counts distinct architectures drawn; every rejected one failed a bound "
          "and was never built or trained. The saving is *modelled*: a least-squares line of "
          "measured training seconds against MACs over the trained candidates of the same run, "
          "summed over the rejected candidates' MACs (it would have cost that much to train them "
          "all instead). Check of that model: candidates rejected in configuration (c) "
          "(plain law), trained anyway and timed:", "",
          "| rejected by | MACs | measured training s | modelled s |", "|---|---|---|---|"]
    for reason, macs, secs, est in timed:
        L.append(f"| {reason.replace('rejected_', '')} | {macs / 1e6:.2f} M | {secs:.1f} | "
                 f"{est:.1f} |")
    if timed:
        ratio = np.mean([secs / est for _, _, secs, est in timed])
        L += ["", f"Measured / modelled training time of these: {ratio:.2f} on average (the line "
              "is fitted on times measured earlier, under different load from other jobs, and "
              "extrapolates beyond the MACs of the feasible candidates; read the modelled "
              "saving as an estimate within that factor)."]
    L += ["", "## Reading", ""]
    for law in dict.fromkeys(r["law"] for r in rows):
        best = {r["config"][:3]: r for r in rows if r["law"] == law or r["config"].startswith("(a)")}
        parts = ", ".join(f"{k} {v['best_val']:.4f} (test {v['best_test']:.4f})"
                          for k, v in sorted(best.items()))
        L.append(f"- {law} law: best validation accuracy {parts}.")
    tot_s = sum(r["sampled"] for r in rows)
    tot_r = sum(r["rejected"] for r in rows)
    flash, ram = parse_quantity(args.flash), parse_quantity(args.ram)
    broke = sum(1 for c in csv_rows if c["model_bytes"] > flash or c["peak_act_bytes"] > ram
                or c["mcu_latency_ms"] > args.latency_ms)
    L += [f"- Over all runs {tot_r:.0f} of {tot_s:.0f} sampled candidates ({tot_r / tot_s:.0%}) "
          f"were rejected before training; {broke} of the {len(csv_rows)} trained candidates "
          "broke a bound.",
          "- One seed and 8 models per configuration: differences of about 1 % are within the "
          "spread between seeds one would expect at this budget; the table shows the direction "
          "of the effect, not its size with a confidence interval."]
    L += ["", "Per-evaluation data: `evaluations.csv`. Training times were measured on a shared "
          "machine (other jobs running), so they carry contention noise.", ""]
    Path(path).write_text("\n".join(L))


if __name__ == "__main__":
    main()
