#!/usr/bin/env python3
"""Bar charts of compare.py's results.tsv: one PNG per suite,
OUTDIR/compare_<suite>.png, with the rate (left) and the server CPU per
operation (right) of every server on every row: bars are medians over the
repetitions, whiskers min..max.

    plot.py --results R.tsv --outdir DIR
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from summarize import LABEL, SUITES, UNIT, Data, load, order_rows, row_unit  # noqa: E402

COLORS = {"epoll": "#888888", "uv": "#b0b0d8", "actnet": "#d9534f",
          "nginx": "#5b8f5b", "redis": "#4a6fa5", "actnet-1": "#d9534f",
          "actnet-2": "#f0ad4e", "uring": "#555555", "actnet-uring": "#8e44ad",
          "actnet-uring-1": "#8e44ad", "actnet-uring-2": "#c39bd3"}


def panel(ax, d, suite, key, title, scale=1.0):
    rows = order_rows(d.rows, suite)
    servers = d.servers(suite)
    width = 0.8 / max(1, len(servers))
    for i, s in enumerate(servers):
        meds, lo, hi = [], [], []
        for row in rows:
            st = d.metric(suite, row, s, key)
            m, a, b = (x * scale for x in st) if st else (0, 0, 0)
            meds.append(m)
            lo.append(m - a)
            hi.append(b - m)
        xs = [j + (i - (len(servers) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, label=LABEL[s],
               color=COLORS.get(s, None), edgecolor="black", linewidth=0.5)
    tops = [v for v in (d.metric(suite, row, s, key) for row in rows for s in servers) if v]
    if tops and min(t[0] for t in tops) > 0 and max(t[0] for t in tops) > 10 * min(
            t[0] for t in tops):
        ax.set_yscale("log")
        title += " (log scale)"
    ax.set_xticks(range(len(rows)))
    if suite == "tls":  # its rows count different things: say which under each
        _, short, op = zip(*(row_unit(suite, row) for row in rows))
        what = short if key == "rate" else [f"µs/{o}" for o in op]
        ax.set_xticklabels([f"{r}\n{w}" for r, w in zip(rows, what)], fontsize=8)
    else:
        ax.set_xticklabels(rows, rotation=0, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--outdir", required=True)
    a = p.parse_args()
    d = Data(load(a.results))
    os.makedirs(a.outdir, exist_ok=True)
    for suite in SUITES:
        if not any(r["suite"] == suite for r in d.rows):
            continue
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        if suite == "tls":  # requests/s, handshakes/s and MB/s: units under the rows
            panel(left, d, suite, "rate", "tls: rate, unit per row (higher is better)")
            panel(right, d, suite, "srv_us_per_op",
                  "tls: server CPU µs per operation of the row (lower is better)")
        else:
            panel(left, d, suite, "rate",
                  f"{suite}: thousand {UNIT[suite]} (higher is better)", 1e-3)
            panel(right, d, suite, "srv_us_per_op",
                  f"{suite}: server CPU µs per operation (lower is better)")
        fig.suptitle(f"actnet vs reference, {suite} (median, min..max whiskers; "
                     "server CPU 0, load CPU 1)", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(a.outdir, f"compare_{suite}.png"), dpi=90)
        plt.close(fig)


if __name__ == "__main__":
    main()
