"""Markdown tables and matplotlib charts from a ``compare.py`` result."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

NAMES = {
    "tcp": "raw loopback TCP (floor)",
    "srpy": "**srpy** (CPython client)",
    "rust": "**srpy** (Rust client)",
    "pyro5": "Pyro5 (marshal)",
    "pyro5-msgpack": "Pyro5 (msgpack)",
    "pyro5-serpent": "Pyro5 (serpent)",
    "rpyc": "RPyC (classic)",
    "execnet": "execnet",
    "ipyparallel": "ipyparallel",
    "dask": "Dask distributed",
}
SHORT = {
    "tcp": "TCP floor", "srpy": "srpy (Py)", "rust": "srpy (Rust)", "pyro5": "Pyro5",
    "pyro5-msgpack": "Pyro5 msgpack", "pyro5-serpent": "Pyro5 serpent", "rpyc": "RPyC",
    "execnet": "execnet", "ipyparallel": "ipyparallel", "dask": "Dask",
}
COLORS = {
    "tcp": "#888888", "srpy": "#d62728", "rust": "#ff9896", "pyro5": "#1f77b4",
    "pyro5-msgpack": "#aec7e8", "pyro5-serpent": "#c5dbef", "rpyc": "#2ca02c",
    "execnet": "#9467bd", "ipyparallel": "#8c564b", "dask": "#e377c2",
}

#: Ratios to a floor measured in the same child, interleaved (round trips).
PAIRED = {"rtt_p50_us": "rtt_p50_x_floor", "rtt_p99_us": "rtt_p99_x_floor"}

#: The floor the Rust client's bench measured itself, per metric.
RUST_FLOOR = {"rtt_p50_us": "tcp_rtt_p50_us", "rtt_p99_us": "tcp_rtt_p99_us",
              "push_64MiB_MBps": "tcp_bulk_MBps", "pull_64MiB_MBps": "tcp_bulk_MBps"}

SIZES = ["1KiB", "1MiB", "64MiB", "np64MiB"]
SIZE_TITLES = {"1KiB": "1 KiB bytes", "1MiB": "1 MiB bytes", "64MiB": "64 MiB bytes",
               "np64MiB": "64 MiB numpy float64 array"}


def _spec(**kw: Any) -> dict[str, Any]:
    return kw


def metric_specs() -> list[dict[str, Any]]:
    """key, title, unit, which way is better, the floor it is compared with."""
    specs: list[dict[str, Any]] = [
        _spec(key="rtt_p50_us", group="rtt", title="Round trip of a remote `1+1`, p50",
             unit="µs", better="lower", fmt="{:.1f}", floor="tcp:rtt_p50_us"),
        _spec(key="rtt_p99_us", group="rtt", title="Round trip of a remote `1+1`, p99",
             unit="µs", better="lower", fmt="{:.1f}", floor="tcp:rtt_p99_us"),
    ]
    for size in SIZES:
        for d, verb in (("push", "Push (client → engine)"), ("pull", "Pull (engine → client)")):
            specs.append(_spec(key=f"{d}_{size}_MBps", group="bulk",
                              title=f"{verb} of {SIZE_TITLES[size]}", unit="MB/s",
                              better="higher", fmt="{:,.0f}" if size != "1KiB" else "{:,.1f}",
                              floor=f"tcp:{d}_{size}_MBps"))
    specs += [
        _spec(key="cpu_speedup", group="cpu",
             title="CPU-bound map: 16 items of ~50 ms pure Python on 2 engines, speedup vs serial",
             unit="×", better="higher", fmt="{:.2f}", floor="ideal"),
        _spec(key="tiny_us", group="tiny",
             title="Tiny-task map: `x + 1` over 2,000 items, overhead per task",
             unit="µs", better="lower", fmt="{:.1f}", floor="tcp:rtt_p50_us"),
        _spec(key="cold_ms", group="cold",
             title="Cold start: fresh client interpreter → import, 2 engines up, first result",
             unit="ms", better="lower", fmt="{:,.0f}", floor="tcp:cold_ms"),
        _spec(key="rss_engine_MiB", group="rss", title="Idle engine RSS (per engine process)",
             unit="MiB", better="lower", fmt="{:.1f}", floor="tcp:rss_engine_MiB"),
        _spec(key="rss_total_MiB", group="rss",
             title="RSS of every process the client started for 2 engines (servers, "
             "controllers, nannies, engines)", unit="MiB", better="lower", fmt="{:.1f}",
             floor="tcp:rss_total_MiB"),
    ]
    return specs


FLOOR_NOTES = {
    "rtt": "floor: 16-byte ping-pong between two Python processes over loopback TCP "
    "(TCP_NODELAY) — no library can answer faster. The wake-up latency of this 2-core "
    "machine changes with whatever else runs (the floor alone moved between ~14 and ~55 µs "
    "from one repetition to the next), so each library's round trips are interleaved, in "
    "4 blocks, with a floor ping-pong in the same child: × floor is the median over "
    "repetitions of that paired ratio; the floor row shows the floor's own child.",
    "bulk": "floor: the same number of bytes pushed (`sendall`, 1-byte ack) or pulled "
    "(`recv_into` a preallocated buffer) between two Python processes over loopback TCP.",
    "cpu": "ideal: 2.00× (2 engines, 2 cores; the client and the machine's other load "
    "share the same cores). Serial = the 16 items run one after the other in the client "
    "process, measured in the same child just before the map.",
    "tiny": "compared with one raw loopback TCP round trip (p50): below 1× means the "
    "library batches items rather than paying a round trip per item. Overhead = "
    "(map wall time − local loop time) / 2,000.",
    "cold": "floor: starting 2 bare Python interpreters and getting one answer over a pipe. "
    "Measured in a fresh client interpreter, including the library's import.",
    "rss": "floor: an idle bare Python interpreter (2 of them for the total). Measured "
    "1 s after the first result, before any other work.",
}


def _fmt(spec: dict[str, Any], v: float) -> str:
    return spec["fmt"].format(v)


def _floor_value(spec: dict[str, Any], stats: dict[str, Any]) -> float | None:
    if spec["floor"] == "ideal":
        return 2.0
    lib, key = spec["floor"].split(":")
    s = stats.get(lib, {}).get(key)
    return s["median"] if s else None


def _ratio(spec: dict[str, Any], v: float, floor: float | None) -> str:
    if not floor:
        return "—"
    if spec["better"] == "higher":
        return f"{100 * v / floor:.0f}%"
    r = v / floor
    return f"{r:.2f}×" if r < 10 else f"{r:,.0f}×"


def ranking(spec: dict[str, Any], stats: dict[str, Any], libs: list[str]) -> list[str]:
    have = [lib for lib in libs if spec["key"] in stats.get(lib, {})]
    rev = spec["better"] == "higher"
    return sorted(have, key=lambda lib: stats[lib][spec["key"]]["median"], reverse=rev)


def _na_reason(result: dict[str, Any], lib: str, spec: dict[str, Any]) -> str:
    errs = result.get("errors", {}).get(lib, {})
    group = spec["group"]
    job = "cold" if group in ("cold", "rss") else group
    for k in (job, "all"):
        if k in errs:
            lines = [x.strip() for x in str(errs[k]).splitlines() if x.strip()]
            msg = lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}"
            return msg.replace("|", "\\|")[:300]
    if lib == "rust":
        return "not measured by the Rust client's bench"
    if group not in result["workloads"]:
        return "workload not run"
    if spec["key"].endswith("64MiB_MBps") and result.get("quick"):
        return "skipped by --quick"
    return "not measured"


def table(spec: dict[str, Any], result: dict[str, Any], libs: list[str]) -> list[str]:
    stats = result["stats"]
    floor = _floor_value(spec, stats)
    order = ranking(spec, stats, libs)
    rank = {lib: i + 1 for i, lib in enumerate(order)}
    ratio_head = "% of floor" if spec["better"] == "higher" else "× floor"
    if spec["floor"] == "ideal":
        ratio_head = "% of ideal"
    lines = [f"#### {spec['title']} ({spec['unit']}, {spec['better']} is better)", "",
             f"| library | median | spread (min–max, n) | {ratio_head} | rank |",
             "|---|---:|---:|---:|---:|"]
    if spec["floor"] == "ideal":
        lines.append("| ideal (2 engines, 2 cores) | 2.00 | — | 100% | — |")
    else:
        flib, fkey = spec["floor"].split(":")
        s = stats.get(flib, {}).get(fkey)
        if s:
            label = NAMES["tcp"] if fkey == spec["key"] else f"{NAMES['tcp']}: one round trip"
            lines.append(f"| {label} | {_fmt(spec, s['median'])} | "
                         f"{_fmt(spec, s['min'])}–{_fmt(spec, s['max'])}, {s['n']} | "
                         f"{'1.00×' if spec['better'] == 'lower' else '100%'} | — |")
    how = result.get("how", {})
    for lib in order + [x for x in libs if x not in rank]:
        name = NAMES.get(lib, lib)
        if "_np" in spec["key"] and how.get(lib, {}).get("array", "").startswith("no numpy"):
            name += " (as bytes: no numpy form)"
        s = stats.get(lib, {}).get(spec["key"])
        if not s:
            lines.append(f"| {name} | n/a | {_na_reason(result, lib, spec)} | — | — |")
            continue
        spread = (f"{_fmt(spec, s['min'])}–{_fmt(spec, s['max'])}, {s['n']}" if s["n"] > 1
                  else "1 run")
        ratio = _ratio(spec, s["median"], floor)
        paired = stats.get(lib, {}).get(PAIRED.get(spec["key"], ""))
        if paired:
            r = paired["median"]
            ratio = f"{r:.2f}×" if r < 10 else f"{r:,.0f}×"
        own = RUST_FLOOR.get(spec["key"])
        if lib == "rust":
            # The Rust bench runs once, at its own moment: compare it with the
            # floor it measured itself.
            f = stats["rust"].get(own or "", {}).get("median")
            ratio = f"{_ratio(spec, s['median'], f)} (own floor)" if f else "—"
        lines.append(f"| {name} | {_fmt(spec, s['median'])} | {spread} | {ratio} | {rank[lib]} |")
    return lines + [""]


def losses(result: dict[str, Any], libs: list[str]) -> list[str]:
    """Rows where the CPython SRPy client is not first."""
    out = []
    stats = result["stats"]
    peers = [x for x in libs if x not in ("srpy", "rust")]
    for spec in metric_specs():
        order = ranking(spec, stats, ["srpy", *peers])
        if "srpy" not in order or order[0] == "srpy":
            continue
        best = order[0]
        v = stats["srpy"][spec["key"]]["median"]
        b = stats[best][spec["key"]]["median"]
        factor = v / b if spec["better"] == "lower" else b / v
        out.append(f"- {spec['title']}: srpy {_fmt(spec, v)} {spec['unit']} vs "
                   f"{NAMES[best]} {_fmt(spec, b)} {spec['unit']} (srpy {factor:.2f}× worse; "
                   f"rank {order.index('srpy') + 1} of {len(order)})")
    return out


SUMMARY_KEYS = ["rtt_p50_us", "rtt_p50_x_floor", "push_64MiB_MBps", "pull_64MiB_MBps", "push_np64MiB_MBps",
                "pull_np64MiB_MBps", "cpu_speedup", "tiny_us", "cold_ms", "rss_engine_MiB"]
SUMMARY_HEADS = ["RTT p50 µs", "RTT × floor (paired)", "push 64 MiB MB/s", "pull 64 MiB MB/s", "push np MB/s",
                 "pull np MB/s", "CPU map ×", "tiny µs/task", "cold start ms", "idle RSS MiB"]


def summary(result: dict[str, Any], libs: list[str]) -> list[str]:
    stats = result["stats"]
    specs = {s["key"]: s for s in metric_specs()}
    specs["rtt_p50_x_floor"] = _spec(key="rtt_p50_x_floor", better="lower", fmt="{:,.2f}×")
    lines = ["| library | " + " | ".join(SUMMARY_HEADS) + " |",
             "|---|" + "---:|" * len(SUMMARY_KEYS)]
    best = {}
    for k in SUMMARY_KEYS:
        order = ranking(specs[k], stats, libs)
        best[k] = order[0] if order else None
    for lib in ["tcp", *libs]:
        cells = []
        for k in SUMMARY_KEYS:
            spec = specs[k]
            s = stats.get(lib, {}).get(k)
            if lib == "tcp" and k == "rtt_p50_x_floor":
                cells.append("1.00×")
            elif lib == "rust" and k == "rtt_p50_x_floor":
                f = stats.get("rust", {}).get("tcp_rtt_p50_us")
                r = stats.get("rust", {}).get("rtt_p50_us")
                cells.append(f"{r['median'] / f['median']:.2f}× (own floor)" if f and r else "n/a")
            elif lib == "tcp" and k == "cpu_speedup":
                cells.append("2.00 (ideal)")
            elif lib == "tcp" and k == "tiny_us":
                s = stats.get("tcp", {}).get("rtt_p50_us")
                cells.append(f"({_fmt(spec, s['median'])} = 1 RTT)" if s else "—")
            elif s is None:
                cells.append("n/a")
            else:
                txt = _fmt(spec, s["median"])
                if k == "rtt_p50_x_floor" and s["median"] >= 10:
                    txt = f"{s['median']:,.0f}×"
                cells.append(f"**{txt}**" if best[k] == lib else txt)
        lines.append(f"| {NAMES.get(lib, lib)} | " + " | ".join(cells) + " |")
    return lines + [""]


def write(result: dict[str, Any], md_path: Path, img_dir: Path) -> None:
    libs = [x for x in result["libs"]]
    charts = draw(result, libs, img_dir)
    m, v = result["machine"], result["versions"]
    loads = [x for x in result.get("loads", []) if x is not None]
    lines = [
        "# SRPy compared with Pyro5, RPyC, execnet, ipyparallel and Dask",
        "",
        (f"Measured {result['date']} in one run of `{result['command'].strip()}` "
         f"({result['reps']} repetition(s){', QUICK' if result['quick'] else ''}, "
         f"{result['seconds']} s). Generated by `bench/compare.py`; do not edit by hand."),
        "",
        (f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Linux "
         f"{m['kernel']}, Python {m['python']}, {m['rustc']}."),
        f"- Load: `uptime` before: `{result['uptime']['start']}`; after: "
        f"`{result['uptime']['end']}`"
        + (f"; 1-min load average at the start of each measurement: median "
           f"{sorted(loads)[len(loads) // 2]:.2f}, max {max(loads):.2f}." if loads else "."),
        ("- CPU idle states: held off for the whole run (`--cpu-awake`: 0 in "
         "`/dev/cpu_dma_latency`, so idle CPUs poll instead of halting and every wake-up is "
         "fast)." if result.get("cpu_awake") else
         "- CPU idle states: as the machine has them (idle CPUs halt; waking one is slow on "
         "this VM, see `--cpu-awake`)."),
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        ("- Method: every (library, repetition) runs in a fresh client interpreter; within "
         "each repetition the libraries take turns (round robin, the first one rotating). "
         "Median over repetitions; spread = min–max over repetitions. 2 engines per library, "
         "loopback only. Every process started is stopped and checked for "
         f"(leftovers found and killed: {len(result.get('leftovers', []))})."),
        "",
        "## Summary (medians; best of the libraries in bold)",
        "",
        *summary(result, libs),
    ]
    lost = losses(result, libs)
    lines += ["## Where SRPy (CPython client) is not first", ""]
    lines += lost or ["SRPy's CPython client is first on every row measured."]
    # The reasons written for a run of each mode (they quote its numbers).
    analysis = HERE / ("analysis-cpu-awake.md" if result.get("cpu_awake") else "analysis.md")
    if analysis.is_file():
        lines += ["", analysis.read_text().strip()]
    lines += ["", "## Tables", ""]
    group_titles = {"rtt": "Round trip", "bulk": "Bulk transfer", "cpu": "CPU-bound map",
                    "tiny": "Tiny-task map", "cold": "Cold start", "rss": "Memory"}
    done = set()
    for spec in metric_specs():
        g = spec["group"]
        if g not in done:
            done.add(g)
            lines += [f"### {group_titles[g]}", "", f"_{FLOOR_NOTES[g]}_", ""]
            if g in charts:
                rel = Path(os.path.relpath(charts[g].resolve(), md_path.resolve().parent))
                lines += [f"![{group_titles[g]}]({rel.as_posix()})", ""]
        lines += table(spec, result, libs)
    rust = next((r for r in result["runs"] if r["lib"] == "rust"), None)
    if rust and rust.get("rows"):
        lines += ["### The Rust client's own benchmark (same run)", "",
                  (f"`{rust.get('command', '')}`, run once; its 64 MiB figures are best of 3, "
                   "not medians."), "", "| measurement | result |", "|---|---|"]
        lines += [f"| {k} | {val} |" for k, val in rust["rows"].items()]
        lines.append("")
    lines += ["## How each library is driven", ""]
    how = result.get("how", {})
    wl_names = {"rtt": "round trip", "bulk": "bytes", "array": "numpy", "map": "maps",
                "cold": "cold start"}
    for lib in ["tcp", *libs]:
        if how.get(lib):
            lines.append(f"- {NAMES.get(lib, lib)}: " + "; ".join(
                f"{wl_names.get(k, k)}: {val}" for k, val in how[lib].items()))
    p = result["params"]
    lines += [
        "",
        f"Parameters: {p['rtt_calls']} timed round trips after {p['rtt_warmup']} warm-up "
        f"calls; transfers per repetition (median taken): "
        + ", ".join(f"{lab} × {cnt}" for lab, _, cnt in p["bulk_sizes"])
        + (f", numpy {p['array_mib']} MiB × {p['array_count']}" if p["array_mib"] else "")
        + f"; CPU task `cpu_task({p['cpu_n']})` (sum of primes by trial division, calibrated "
        f"to ~50 ms here) × {p['cpu_items']}; tiny map over {p['tiny_items']} items.",
        "",
    ]
    errs = {lib: e for lib, e in result.get("errors", {}).items() if e}
    if errs or result.get("leftovers"):
        lines += ["## Failures and leftovers", ""]
        for lib, e in errs.items():
            for w, msg in e.items():
                one = " ".join(str(msg).split())[:400]
                lines.append(f"- {NAMES.get(lib, lib)} / {w}: {one}")
        for lo in result.get("leftovers", []):
            lines.append(f"- leftover process killed: `{lo}`")
        lines.append("")
    md_path.write_text("\n".join(lines))


# ---------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------


def draw(result: dict[str, Any], libs: list[str], img_dir: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    stats = result["stats"]
    out: dict[str, Path] = {}
    sub = f"{result['date']}, {result['machine']['nproc']} CPUs, median of {result['reps']}"

    def med(lib: str, key: str) -> float | None:
        s = stats.get(lib, {}).get(key)
        return s["median"] if s else None

    def errs(lib: str, key: str) -> tuple[float, float]:
        s = stats[lib][key]
        return s["median"] - s["min"], s["max"] - s["median"]

    # -- latency
    have = [x for x in libs if med(x, "rtt_p50_us") is not None]
    if have:
        fig, ax = plt.subplots(figsize=(10, 5))
        xs = range(len(have))
        ax.bar(xs, [med(x, "rtt_p50_us") for x in have], color=[COLORS[x] for x in have],
               yerr=list(zip(*[errs(x, "rtt_p50_us") for x in have])), capsize=3,
               label="p50 (bar: median, whisker: min–max over repetitions)")
        p99 = [(i, med(x, "rtt_p99_us")) for i, x in enumerate(have) if med(x, "rtt_p99_us")]
        ax.scatter([i for i, _ in p99], [v for _, v in p99], marker="_", s=400, color="black",
                   label="p99", zorder=3)
        ticks = []
        for x in have:
            v = med(x, "rtt_p50_us")
            r = med(x, "rtt_p50_x_floor")
            if x == "rust" and med(x, "tcp_rtt_p50_us"):
                r = v / med(x, "tcp_rtt_p50_us")
            ticks.append(f"{SHORT[x]}\n{v:,.0f} µs" + (f"\n{r:,.1f}× floor" if r else ""))
        fl = med("tcp", "rtt_p50_us")
        if fl:
            ax.axhline(fl, color="gray", ls="--", label=f"raw TCP floor p50 ({fl:.0f} µs)")
        ax.set_yscale("log")
        ax.set_xticks(list(xs), ticks, fontsize=8)
        ax.set_ylabel("µs (log scale)")
        ax.set_title(f"Round trip of a remote 1+1 (lower is better)\n{sub}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        out["rtt"] = img_dir / "bench-latency.png"
        fig.savefig(out["rtt"], dpi=110)
        plt.close(fig)

    # -- bandwidth
    sizes = [s for s in SIZES if any(med(x, f"push_{s}_MBps") for x in libs)]
    have = [x for x in libs if any(med(x, f"push_{s}_MBps") or med(x, f"pull_{s}_MBps")
                                   for s in sizes)]
    if sizes and have:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
        w = 0.8 / len(have)
        for ax, d in zip(axes, ("push", "pull")):
            for j, x in enumerate(have):
                vals = [med(x, f"{d}_{s}_MBps") or 0 for s in sizes]
                ax.bar([i + j * w - 0.4 + w / 2 for i in range(len(sizes))], vals, w,
                       color=COLORS[x], label=SHORT[x])
            for i, s in enumerate(sizes):
                fl = med("tcp", f"{d}_{s}_MBps")
                if fl:
                    ax.hlines(fl, i - 0.45, i + 0.45, colors="black", linestyles="--",
                              label="raw TCP floor" if i == 0 else None)
            ax.set_yscale("log")
            ax.set_xticks(range(len(sizes)), [SIZE_TITLES[s].replace(" numpy float64 array",
                                                                     "\nnumpy array")
                                              for s in sizes])
            ax.set_title(f"{d} (client {'→ engine' if d == 'push' else '← engine'})")
            ax.grid(axis="y", which="major", alpha=0.3)
        axes[0].set_ylabel("MB/s (log scale, higher is better)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=8, loc="center right")
        fig.suptitle(f"Bulk transfer throughput\n{sub}", fontsize=10)
        fig.tight_layout(rect=(0, 0, 0.87, 1))
        out["bulk"] = img_dir / "bench-bandwidth.png"
        fig.savefig(out["bulk"], dpi=110)
        plt.close(fig)

    # -- maps
    hc = [x for x in libs if med(x, "cpu_speedup") is not None]
    ht = [x for x in libs if med(x, "tiny_us") is not None]
    if hc or ht:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
        if hc:
            a1.bar(range(len(hc)), [med(x, "cpu_speedup") for x in hc],
                   color=[COLORS[x] for x in hc],
                   yerr=list(zip(*[errs(x, "cpu_speedup") for x in hc])), capsize=3)
            a1.axhline(2.0, color="gray", ls="--", label="ideal 2×")
            a1.axhline(1.0, color="gray", ls=":", label="serial")
            a1.set_xticks(range(len(hc)), [SHORT[x] for x in hc], rotation=20)
            a1.set_ylabel("speedup vs serial (higher is better)")
            a1.set_title("CPU-bound map, 16 × ~50 ms on 2 engines")
            a1.legend(fontsize=8)
        if ht:
            a2.bar(range(len(ht)), [med(x, "tiny_us") for x in ht],
                   color=[COLORS[x] for x in ht],
                   yerr=list(zip(*[errs(x, "tiny_us") for x in ht])), capsize=3)
            for i, x in enumerate(ht):
                v = med(x, "tiny_us")
                a2.annotate(f"{v:,.1f}" if v < 100 else f"{v:,.0f}",
                            (i, stats[x]["tiny_us"]["max"]), ha="center",
                            va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
            fl = med("tcp", "rtt_p50_us")
            if fl:
                a2.axhline(fl, color="gray", ls="--", label=f"one raw TCP RTT ({fl:.0f} µs)")
                a2.legend(fontsize=8)
            a2.set_yscale("log")
            a2.set_xticks(range(len(ht)), [SHORT[x] for x in ht], rotation=20)
            a2.set_ylabel("µs per task (log scale, lower is better)")
            a2.set_title("Tiny-task map: x + 1 over 2,000 items")
        fig.suptitle(sub, fontsize=9)
        fig.tight_layout()
        out["cpu"] = out["tiny"] = img_dir / "bench-map.png"
        fig.savefig(out["cpu"], dpi=110)
        plt.close(fig)

    # -- startup and memory
    hs = [x for x in libs if med(x, "cold_ms") is not None]
    hr = [x for x in libs if med(x, "rss_engine_MiB") is not None]
    if hs or hr:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, have_, key, fl_key, ylabel, title in (
            (a1, hs, "cold_ms", "cold_ms", "ms (log scale, lower is better)",
             "Cold start: 2 engines → first result"),
            (a2, hr, "rss_engine_MiB", "rss_engine_MiB", "MiB (lower is better)",
             "Idle engine RSS (per engine)"),
        ):
            if not have_:
                continue
            ax.bar(range(len(have_)), [med(x, key) for x in have_],
                   color=[COLORS[x] for x in have_],
                   yerr=list(zip(*[errs(x, key) for x in have_])), capsize=3)
            for i, x in enumerate(have_):
                v = med(x, key)
                ax.annotate(f"{v:,.0f}", (i, stats[x][key]["max"]), ha="center", va="bottom",
                            fontsize=8,
                            xytext=(0, 2), textcoords="offset points")
            fl = med("tcp", fl_key)
            if fl:
                ax.axhline(fl, color="gray", ls="--", label=f"bare Python ({fl:,.0f})")
                ax.legend(fontsize=8)
            if key == "cold_ms":
                ax.set_yscale("log")
            ax.set_xticks(range(len(have_)), [SHORT[x] for x in have_], rotation=20)
            ax.set_ylabel(ylabel)
            ax.set_title(title)
        fig.suptitle(sub, fontsize=9)
        fig.tight_layout()
        out["cold"] = out["rss"] = img_dir / "bench-startup.png"
        fig.savefig(out["cold"], dpi=110)
        plt.close(fig)
    return out


if __name__ == "__main__":
    import json
    import sys

    res = json.loads(Path(sys.argv[1]).read_text())
    write(res, Path(sys.argv[1]).with_suffix(".md"), Path(sys.argv[2]) if len(sys.argv) > 2
          else HERE.parent / "docs" / "img")
