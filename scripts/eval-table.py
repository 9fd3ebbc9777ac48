#!/usr/bin/env python3
"""A markdown table of `softrl eval --json` results, with each model's change against a base paired per problem.

Usage: python3 scripts/eval-table.py [--title TEXT] [--pair A B ...] ROW [ROW ...]
  ROW   LABEL=FILE, or LABEL=FILE@BASE_FILE for a row whose change against BASE_FILE (the same test problems,
        e.g. the SFT start with the same inference) is shown: the mean per-problem difference in sampled pass@1,
        and in pass@k as the indicator "one of k samples correct", each with its standard error.
  --pair A B   after the table, pass@k of row A minus row B (rows of the same inference), paired per problem
               (repeatable).
Used by scripts/results-smollm2.sh for its tables; docs/RESULTS.md shows how each of its tables was made.
"""
import json
import math
import sys


def pm(v, se, fmt="%.3f"):
    return "-" if v is None else (fmt % v) + ("" if se is None else " ± " + (fmt % se))


def paired(base, r, score):
    """Mean per-problem change of `score(correct, samples)` from `base` to `r`, and its standard error."""
    a, b = base.get("correctPerProblem"), r.get("correctPerProblem")
    if not a or not b or len(a) != len(b):
        sys.exit("paired change: the two evaluations are not of the same problems (correctPerProblem differs in length)")
    d = [score(y, r["samples"]) - score(x, base["samples"]) for x, y in zip(a, b)]
    m = sum(d) / len(d)
    se = math.sqrt(sum((v - m) ** 2 for v in d) / (len(d) - 1) / len(d))
    return m, se


def shown(m, se):
    return f"{m:+.3f} ± {se:.3f}" + (f" ({m / se:+.1f} SE)" if se > 0 else "")


def main(argv):
    title, pairs, rows = None, [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--title":
            title = argv[i + 1]; i += 2
        elif argv[i] == "--pair":
            pairs.append((argv[i + 1], argv[i + 2])); i += 3
        elif "=" in argv[i]:
            label, spec = argv[i].split("=", 1)
            path, _, base = spec.partition("@")
            rows.append((label, json.load(open(path)), json.load(open(base)) if base else None)); i += 1
        else:
            sys.exit(f"eval-table.py: '{argv[i]}' is neither LABEL=FILE[@BASE_FILE], --title TEXT nor --pair A B")
    if not rows:
        return
    k = max(max(int(x) for x in r["passAtK"]) for _, r, _ in rows)
    one = lambda c, n: c / n
    anyk = lambda c, n: float(c > 0)
    if title:
        print(f"\n{title}: {rows[0][1]['problems']} test problems, {rows[0][1]['samples']} samples each; ± one standard error")
    print(f"| model | inference | greedy pass@1 | sampled pass@1 | pass@4 | pass@{k} | change in sampled pass@1 | change in pass@{k} | thinking (greedy) | thinking (sampled) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, r, base in rows:
        se = r.get("passAtKSE") or {}
        cells = [label, r.get("inference", "?"), pm(r["greedyPass1"], r.get("greedyPass1SE")),
                 pm(r["sampledPass1"], se.get("1")), pm(r["passAtK"].get("4"), se.get("4")),
                 pm(r["passAtK"].get(str(k)), se.get(str(k))),
                 shown(*paired(base, r, one)) if base else "", shown(*paired(base, r, anyk)) if base else "",
                 pm(r["greedyThinkingLength"], r.get("greedyThinkingLengthSE"), "%.1f"),
                 pm(r["meanThinkingLength"], r.get("meanThinkingLengthSE"), "%.1f")]
        print("| " + " | ".join(cells) + " |")
    by_row = {(label, r.get("inference")): r for label, r, _ in rows}
    if any(a == label for a, _ in pairs for label, _ in by_row):
        print()
    for a, b in pairs:
        for (label, inference), r in by_row.items():
            if label == a and (b, inference) in by_row:
                print(f"- pass@{k} of {a} minus {b}, {inference} inference, paired: "
                      + shown(*paired(by_row[(b, inference)], r, anyk)))


if __name__ == "__main__":
    main(sys.argv[1:])
