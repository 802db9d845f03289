#!/usr/bin/env python3
"""Compares Istio's injection with the policy's, input by input (e2e-tests/istio-diff.bats).

Usage: compare.py DIR EQUAL_LIST NOT_EQUAL_LIST INPUT...

For each INPUT (a file name of Istio's testdata/inject/), DIR holds INPUT.istio (what
`istioctl kube-inject` wrote) and INPUT.ours (what `sidecar-injector inject` wrote), or
INPUT.istio.err / INPUT.ours.err when one failed. Both are normalized by normalize.py and
compared; the differing paths go to DIR/INPUT.diff.

EQUAL_LIST names the inputs expected to come out equal, one a line; NOT_EQUAL_LIST the others,
as `INPUT: reason` (the feature the policy or its example lacks). Lines starting with # are
comments. Prints `equal E of R run, X excluded`, then each excluded input with its reason.
Exits 1 when an input of EQUAL_LIST differs, when an input of NOT_EQUAL_LIST comes out equal
(move it), or when an input is in neither list or in both: the lists stay what is true.
"""
import json
import os
import sys

from normalize import normalize_text


def read_list(path, with_reason):
    entries = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if with_reason:
                name, _, reason = line.partition(":")
                entries[name.strip()] = reason.strip()
            else:
                entries[line] = ""
    return entries


def differences(a, b, path="", out=None):
    """Paths where a (Istio's) and b (the policy's) differ."""
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            here = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append(f"{here}: only Istio's: {json.dumps(a[key])[:200]}")
            elif key not in a:
                out.append(f"{here}: only ours: {json.dumps(b[key])[:200]}")
            else:
                differences(a[key], b[key], here, out)
    elif isinstance(a, list) and isinstance(b, list):
        # Lists of named objects (containers, env, volumes) are matched by name, so that one
        # missing entry shows as one difference; their order is compared apart.
        names_a = [x.get("name") if isinstance(x, dict) else None for x in a]
        names_b = [x.get("name") if isinstance(x, dict) else None for x in b]
        if all(names_a) and all(names_b) and len(set(names_a)) == len(a) and len(set(names_b)) == len(b):
            differences(dict(zip(names_a, a)), dict(zip(names_b, b)), path, out)
            common = [n for n in names_a if n in names_b]
            if common != [n for n in names_b if n in names_a]:
                out.append(f"{path}: order: Istio's {names_a}, ours {names_b}")
        elif len(a) != len(b):
            out.append(f"{path}: Istio's {json.dumps(a)[:300]}, ours {json.dumps(b)[:300]}")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                differences(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: Istio's {json.dumps(a)[:300]}, ours {json.dumps(b)[:300]}")
    return out


def compare(directory, name):
    """None when equal, else the list of differences."""
    istio, ours = os.path.join(directory, name + ".istio"), os.path.join(directory, name + ".ours")
    istio_err, ours_err = os.path.exists(istio + ".err"), os.path.exists(ours + ".err")
    if istio_err or ours_err:
        if istio_err and ours_err:
            return None  # both refuse the input
        which = "Istio's" if istio_err else "ours"
        with open((istio if istio_err else ours) + ".err", encoding="utf-8") as f:
            return [f"only {which} failed: {f.read().strip()[:300]}"]
    with open(istio, encoding="utf-8") as f:
        a = normalize_text(f.read())
    with open(ours, encoding="utf-8") as f:
        b = normalize_text(f.read())
    if len(a) != len(b):
        return [f"documents: Istio's {len(a)}, ours {len(b)}"]
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        differences(x, y, f"[{i}]", out)
    return out or None


def main():
    directory, equal_path, not_equal_path, inputs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    expected_equal = read_list(equal_path, False)
    excluded = read_list(not_equal_path, True)
    failures, equal = [], 0
    for name in inputs:
        diff = compare(directory, name)
        with open(os.path.join(directory, name + ".diff"), "w", encoding="utf-8") as f:
            f.write("\n".join(diff or []) + "\n")
        if name in expected_equal and name in excluded:
            failures.append(f"{name}: in both {equal_path} and {not_equal_path}")
        elif name in expected_equal:
            if diff:
                failures.append(f"{name}: expected equal, differs:\n    " + "\n    ".join(diff[:15]))
            else:
                equal += 1
        elif name in excluded:
            if not diff:
                failures.append(f"{name}: now equal: move it from {not_equal_path} to {equal_path}")
        else:
            state = "equal" if not diff else "differs:\n    " + "\n    ".join(diff[:15])
            failures.append(f"{name}: in neither list ({state})")
    for name in list(expected_equal) + list(excluded):
        if name not in inputs:
            failures.append(f"{name}: listed, but not one of Istio's default inputs")
    run_excluded = [n for n in inputs if n in excluded and n not in expected_equal]
    print(f"equal {equal} of {len(inputs)} run, {len(run_excluded)} excluded")
    for name in run_excluded:
        print(f"  excluded {name}: {excluded[name]}")
    for failure in failures:
        print(f"FAIL {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
