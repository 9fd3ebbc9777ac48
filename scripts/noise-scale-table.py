#!/usr/bin/env python3
"""Markdown table of `softrl noise-scale --json` reports: per report and weight block, the signal |G|^2, the
noise tr(Sigma) per group, B_simple = noise / signal in groups (with its jackknife SE, when the signal estimate is
positive), the smallest B_simple the signal's upper 2-SE bound allows (noise / (signal + 2 SE)), in groups and in
rollouts, and the signal's share of an update of the run's prompts per update at the point estimate.
Usage: scripts/noise-scale-table.py LABEL=REPORT.json [LABEL=REPORT.json ...]"""
import json
import sys


def fmt(v, se):
    if isinstance(v, str) or v != v:
        return "no signal"
    return f"{v:.3g} ± {se:.2g}" if isinstance(se, (int, float)) else f"{v:.3g} ± inf"


def main(args):
    if not args or any("=" not in a for a in args):
        sys.exit(__doc__)
    print("| run | groups | groups with equal rewards | block | signal |G|^2 | noise tr(Sigma) per group "
          "| B_simple (groups) | B_simple at least, groups (rollouts) | signal share of an update |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arg in args:
        label, path = arg.split("=", 1)
        try:
            r = json.load(open(path))
        except (OSError, ValueError) as e:
            sys.exit(f"{path}: not a `softrl noise-scale --json` report ({e})")
        for block in ["all", "embedding", "other"]:
            b = r["blocks"][block]
            signal, se, noise = b["signal"], b["signalSE"], b["noise"]
            point = fmt(b["batchScale"], b["batchScaleSE"]) if signal > 0 else "no signal"
            upper = signal + 2 * se
            least = noise / upper if upper > 0 else float("inf")
            bound = f"{least:.3g} ({least * r['groupSize']:.3g})"
            share = signal / (signal + noise / r["batchGroups"]) if signal > 0 else 0.0
            print(f"| {label} | {r['groups']} x {r['groupSize']} | {r['flatGroups']} | {block} "
                  f"| {fmt(signal, se)} | {fmt(noise, b['noiseSE'])} | {point} | {bound} "
                  f"| {share:.3f} at {r['batchGroups']} groups |")


if __name__ == "__main__":
    main(sys.argv[1:])
