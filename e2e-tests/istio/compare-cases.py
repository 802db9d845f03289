#!/usr/bin/env python3
"""Compares, case by case, what `istioctl kube-inject` and the policy wrote for the cases
generate.py made (e2e-tests/istio-property.bats).

Usage: compare-cases.py DIR [SHOWN]

DIR is generate.py's directory, where the test also wrote, for each SIDE (istio, ours):
  batch.SIDE           the output of the batch (batch.yaml), or batch.SIDE.err when it failed;
  cases/cNNNN.SIDE     the output of one case run alone, or cases/cNNNN.SIDE.err when it failed:
                       for the refused cases always, for every case of a side whose batch failed.

A batch output is split into its documents (normalize.py: empty documents, such as the one after
kube-inject's trailing `---`, are dropped), which must be as many as the batch's cases and name
them in the same order (kind and metadata.name). Then each case's two documents are normalized by
normalize.py and must be equal. A case run alone must be refused by both (a non-zero exit), or
accepted by both with equal documents: only an error on both sides counts as equal, whatever the
two messages say.

Prints `N cases, E equal (A in the batch, R refused by both)`, the features drawn, then for the
first SHOWN (default 5) cases that differ: the input file, the differing paths (compare.py's
differences()) and a unified diff of the two normalized documents (Istio's the "-" side); every
case's differences go to DIR/diffs/cNNNN.diff. Exits 1 when a case differs.
"""
import collections
import difflib
import json
import os
import sys

import yaml

from compare import differences
from normalize import normalize_text


def identity(doc):
    """A document's kind and name (its generateName when it has no name)."""
    if not isinstance(doc, dict):
        return (None, None)
    metadata = doc.get("metadata") or {}
    return (doc.get("kind"), metadata.get("name") or metadata.get("generateName"))


def entry_identity(entry):
    return (entry["kind"], entry["name"] or entry["generateName"])


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def single(directory, name, side):
    """('error', message) or ('doc', normalized document) for a case run alone."""
    base = os.path.join(directory, "cases", f"{name}.{side}")
    if os.path.exists(base + ".err"):
        return ("error", read(base + ".err").strip())
    docs = normalize_text(read(base))
    if len(docs) != 1:
        return ("error", f"{len(docs)} documents written for one")
    return ("doc", docs[0])


def batch(directory, side, cases, problems):
    """{case name: ('doc', document)} from the batch output, or None when the batch failed."""
    path = os.path.join(directory, f"batch.{side}")
    if os.path.exists(path + ".err"):
        return None
    docs = normalize_text(read(path))
    expected = [entry_identity(c) for c in cases]
    got = [identity(d) for d in docs]
    if got != expected:
        problems.append(f"{side}: the batch's output has {len(docs)} documents for {len(cases)} cases"
                        + ("" if len(docs) != len(cases) else ", in another order")
                        + f"; first mismatch at document "
                        + str(next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))))
    results = {}
    for doc in docs:
        results.setdefault(identity(doc), ("doc", doc))
    return results


def case_name(entry):
    return f"c{entry['case']:04d}"


def as_text(result):
    if result[0] == "error":
        return ["error: " + line for line in result[1].splitlines()]
    return yaml.safe_dump(result[1], sort_keys=True, width=1000).splitlines()


def main():
    directory = sys.argv[1]
    shown = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with open(os.path.join(directory, "cases.json"), encoding="utf-8") as f:
        entries = json.load(f)
    in_batch = [e for e in entries if not e["refused"]]
    problems = []
    outputs = {side: batch(directory, side, in_batch, problems) for side in ("istio", "ours")}
    for side in ("istio", "ours"):
        if outputs[side] is None:
            message = " ".join(read(os.path.join(directory, f"batch.{side}.err")).split())[:300]
            problems.append(f"{side}: the batch failed ({message}); its cases were run one by one")
    os.makedirs(os.path.join(directory, "diffs"), exist_ok=True)
    equal, equal_batch, equal_refused, injected, differing = 0, 0, 0, 0, []
    features = collections.Counter()
    for entry in entries:
        name = case_name(entry)
        features.update(entry["features"])
        results = {}
        for side in ("istio", "ours"):
            if entry["refused"] or outputs[side] is None:
                results[side] = single(directory, name, side)
            else:
                results[side] = outputs[side].get(entry_identity(entry),
                                                  ("error", "no document of this kind and name in the batch's output"))
        a, b = results["istio"], results["ours"]
        if a[0] == "error" and b[0] == "error":
            diff = []
        elif a[0] == "error" or b[0] == "error":
            which = "Istio's" if a[0] == "error" else "ours"
            diff = [f"only {which} failed: {(a if a[0] == 'error' else b)[1][:300]}"]
        else:
            diff = differences(a[1], b[1])
        if a[0] == "doc" and "sidecar.istio.io/status" in json.dumps(a[1]):
            injected += 1
        if not diff and entry["refused"] and a[0] != "error":
            diff = ["expected refused by both, accepted by both"]
        with open(os.path.join(directory, "diffs", name + ".diff"), "w", encoding="utf-8") as f:
            f.write("\n".join(diff) + ("\n" if diff else ""))
        if diff:
            differing.append((entry, diff, a, b))
        else:
            equal += 1
            if entry["refused"]:
                equal_refused += 1
            else:
                equal_batch += 1
    refused = sum(1 for e in entries if e["refused"])
    print(f"{len(entries)} cases, {equal} equal ({equal_batch} of {len(in_batch)} in the batch, "
          f"{equal_refused} of {refused} refused by both); Istio injected {injected}")
    kinds = ", ".join(f"{k.split(':', 1)[1]} {n}" for k, n in sorted(features.items()) if k.startswith("kind:"))
    print(f"kinds: {kinds}; {len(features)} features drawn, the rarest: "
          + ", ".join(f"{k} {n}" for k, n in sorted(features.items(), key=lambda kv: (kv[1], kv[0]))[:6]))
    for problem in problems:
        print(f"note: {problem}")
    for entry, diff, a, b in differing[:shown]:
        name = case_name(entry)
        print(f"DIFFERS {name} ({' '.join(entry_identity(entry))}): input {directory}/cases/{name}.yaml; "
              f"features: {', '.join(entry['features'])}")
        for line in diff[:15]:
            print(f"    {line}")
        if a[0] == "error" or b[0] == "error":
            continue  # the difference says which failed, and why
        unified = list(difflib.unified_diff(as_text(a), as_text(b), "istioctl kube-inject", "sidecar-injector inject",
                                            n=2, lineterm=""))
        for line in unified[:80]:
            print(f"    {line}")
        if len(unified) > 80:
            print(f"    ... {len(unified) - 80} more lines of diff")
    if len(differing) > shown:
        print(f"... and {len(differing) - shown} more differing cases: "
              + " ".join(case_name(e) for e, *_ in differing[shown:shown + 40]))
    bad_batch = any(p for p in problems if "documents for" in p)
    sys.exit(1 if differing or bad_batch else 0)


if __name__ == "__main__":
    main()
