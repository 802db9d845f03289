#!/usr/bin/env python3
"""The cases of Istio's TestInjection, read from Istio's own source at test time.

Usage: istio-cases.py INJECT_DIR

INJECT_DIR is pkg/kube/inject of the istio.io/istio module pinned by go.mod (in the Go module
cache). Prints one JSON object per case, in TestInjection's order: the explicit cases of its
`cases` list, then one per input file under testdata/inject/ whose golden file no explicit case
names (TestInjection adds those itself). Each has:

  index, in, want (null for the cases that expect an error), expectedError, expectedLog,
  category: what sets the case apart from Istio's default configuration:
    default     the default mesh config and values, native sidecars on (the test's fake nodes
                run Kubernetes 1.33 and 1.34, so its "auto" mode turns them on)
    native-off  the same with native sidecars turned off (ENABLE_NATIVE_SIDECARS=false)
    error       default configuration, the case expects kube-inject to fail
    setFlags    values set with --set flags (flags lists them)
    iop         an IstioOperator file of testdata/inject/ (inFilePath)
    mesh        a mesh config changed in Go code
    openshift   the OpenShift platform (webhook only, kube-inject skipped)
    fips        the FIPS 140-3 compliance policy
  flags, inFilePath: as the case sets them.

Nothing of Istio's is copied into this repository: this reads the test where it is. The parsing
is a brace matcher over the Go composite literal, enough for that list's simple shape; a change
of shape makes it fail loudly rather than guess (istio.bats checks the counts).
"""
import json
import os
import re
import sys


def literal_entries(body, start):
    """The top-level {...} elements of the composite literal whose '{' ends at start."""
    depth, entries, begin, j = 1, [], None, start
    while depth > 0:
        c = body[j]
        if c == "{":
            depth += 1
            if depth == 2:
                begin = j
        elif c == "}":
            depth -= 1
            if depth == 1:
                entries.append(body[begin : j + 1])
        elif c == '"':
            k = j + 1
            while body[k] != '"':
                k += 2 if body[k] == "\\" else 1
            j = k
        elif c == "`":
            j = body.index("`", j + 1)
        elif body.startswith("//", j):
            j = body.index("\n", j)
        j += 1
    return entries


def string_field(entry, name):
    m = re.search(r"\b" + name + r':\s*"((?:[^"\\]|\\.)*)"', entry)
    return json.loads('"' + m.group(1) + '"') if m else None


def has_field(entry, name):
    return re.search(r"^\s*" + name + r":", entry, re.M) is not None


def main():
    inject_dir = sys.argv[1]
    text = open(os.path.join(inject_dir, "inject_test.go"), encoding="utf-8").read()
    body = text[text.index("func TestInjection(t *testing.T)") :]
    body = body[: body.index("\nfunc ")]
    marker = "cases := []testCase{"
    cases = []
    for entry in literal_entries(body, body.index(marker) + len(marker)):
        flags = []
        if has_field(entry, "setFlags"):
            block = entry[entry.index("setFlags") :]
            block = block[: block.index("}")]
            flags = [a or b for a, b in re.findall(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`', block)]
        case = {
            "in": string_field(entry, "in"),
            "want": string_field(entry, "want"),
            "expectedError": string_field(entry, "expectedError"),
            "expectedLog": string_field(entry, "expectedLog"),
            "inFilePath": string_field(entry, "inFilePath"),
            "flags": flags,
        }
        if case["in"] is None:
            sys.exit(f"istio-cases: a case without an input:\n{entry}")
        if case["expectedError"]:
            category = "error"
        elif "platform.OpenShift" in entry:
            category = "openshift"
        elif "CompliancePolicy" in entry:
            category = "fips"
        elif case["inFilePath"]:
            category = "iop"
        elif flags:
            category = "setFlags"
        elif has_field(entry, "mesh"):
            category = "mesh"
        elif "NativeSidecarModeDisabled" in entry:
            category = "native-off"
        elif has_field(entry, "setup") or has_field(entry, "skipInjection"):
            sys.exit(f"istio-cases: a case of a kind this script does not know:\n{entry}")
        else:
            category = "default"
        case["category"] = category
        cases.append(case)
    tested = {c["want"] or c["in"] + ".injected" for c in cases}
    for name in sorted(os.listdir(os.path.join(inject_dir, "testdata", "inject"))):
        if name.endswith(".iop.yaml") or not name.endswith(".yaml") or name + ".injected" in tested:
            continue
        cases.append({"in": name, "want": name + ".injected", "expectedError": None, "expectedLog": None,
                      "inFilePath": None, "flags": [], "category": "default"})
    for index, case in enumerate(cases):
        print(json.dumps({"index": index, **case}))


if __name__ == "__main__":
    main()
