#!/usr/bin/env python3
"""Normalizes what `istioctl kube-inject` and `sidecar-injector inject` write, so that the two
can be compared (e2e-tests/istio-diff.bats).

Usage: normalize.py FILE   prints FILE's documents normalized, as JSON with sorted keys, one
                           document a line.

Every normalization is one of the items below, applied to both sides alike. Anything not listed
here is compared as it is: values, list order, fields present on one side only.

 1. Documents are compared as parsed data (YAML 1.1, as kubectl reads it): key order, quoting,
    indentation and flow or block style do not count. kube-inject writes keys sorted, the CLI
    keeps the input's order; both mean the same object.
 2. Empty documents are dropped: kube-inject ends every object with a document separator `---`,
    which a YAML reader sees as an empty document.
 3. `status: {}` on an object is dropped: kube-inject decodes the object into its Go type and
    encodes it again, which writes the empty status struct; the CLI writes what the input had.
 4. `strategy: {}` and `updateStrategy: {}` in a workload's spec, `resources: {}` on a container
    or init container, and `creationTimestamp: null` in any `metadata`: the same round trip
    through Go types writes these empty values of fields the input did not set. Dropped only
    when empty (or null), so a value either side sets still counts.
 5. Resource quantities under a container's `resources` are written in Kubernetes' canonical
    form (`2000m` is `2`, `1024Mi` is `1Gi`): kube-inject's round trip through the Quantity type
    canonicalizes them, as the API server does when it stores a Pod, so the stored Pods are the
    same. Quantities this script cannot parse are left as they are.
 6. On a `List`, `metadata: {}` is dropped; on any object, a `status` whose every value is zero
    (0, false, empty) is dropped: kube-inject's round trip through Go types writes the List's
    empty metadata and the status fields that are not omitted when zero (`replicas: 0`,
    `numberReady: 0`...), which the input did not have.
 7. An env entry's `value: ""` is dropped: Kubernetes' EnvVar omits an empty value when it is
    encoded, so kube-inject (and the API server, when it stores a Pod) writes none; the two
    mean the same variable, set to the empty string.
 8. The status annotation `sidecar.istio.io/status` is compared on the parts both write:
    `initContainers`, `containers`, `volumes`, `imagePullSecrets`, with `null` the same as an
    empty list (Istio writes `null` for none, the policy `[]`), in the order written, and
    `revision`, the revision's name in both. Dropped: the fields only the policy writes (`hash`
    of what was injected, `templates`, `labels`, `annotations`, `probes`, `metrics`).
 9. A probe's `grpc.service: null` is dropped (on every container and init container): Kubernetes'
    GRPCAction declares `service` without omitempty, so kube-inject's round trip through Go types
    writes `null` for a service the input did not set, where the CLI writes nothing; both mean
    no service (the API server defaults it to ""). A service either side sets still counts.
10. The annotation `proxy.istio.io/overrides` (the Pod's own containers that customized the
    template's) is compared as parsed JSON, with each container's quantities canonical (item 5)
    and an empty `resources: {}` dropped: Istio writes the containers through Go's Container
    type, which writes its fields in the type's order and an empty resources struct the Pod did
    not set; the policy writes each container as the Pod wrote it. Both record the same
    containers, under the same list.
11. In a workload's spec, outside its pod template, values at Go's zero (0, false, "", empty
    objects and lists) are dropped, at any depth: kube-inject's round trip through the workload's
    Go type writes some of them (OpenShift DeploymentConfig's `test: false`, `strategy.resources:
    {}`) and drops others the input set (`minReadySeconds: 0`, `paused: false`); injection never
    touches that part of the object.
"""
import json
import re
import sys
from fractions import Fraction

import yaml

STATUS = "sidecar.istio.io/status"
OVERRIDES = "proxy.istio.io/overrides"
STATUS_PARTS = ("initContainers", "containers", "volumes", "imagePullSecrets")

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": 1,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
QUANTITY = re.compile(r"^([+-]?[0-9]*\.?[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")


def canonical_quantity(text):
    """Kubernetes' canonical form of a quantity (item 5), for the suffixes Pods use."""
    if not isinstance(text, (str, int, float)) or isinstance(text, bool):
        return text
    m = QUANTITY.match(str(text))
    if not m:
        return text
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in BINARY:
        value = number * BINARY[suffix]
        if value.denominator == 1 and value >= 1024:
            for name, size in sorted(BINARY.items(), key=lambda kv: -kv[1]):
                if value % size == 0:
                    return f"{int(value // size)}{name}"
        if value.denominator == 1:
            return str(int(value))
        suffix = ""  # a fractional binary quantity is written in decimal SI
        number = value
    value = number * DECIMAL[suffix]
    for name, size in (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6),
                       ("k", 10**3), ("", 1), ("m", Fraction(1, 1000)), ("n", Fraction(1, 10**9))):
        scaled = value / size
        if scaled.denominator == 1 and (scaled != 0 or name == ""):
            return f"{int(scaled)}{name}" if name != "m" or scaled % 1000 else f"{int(scaled // 1000)}"
    return text


def is_zero(value):
    if isinstance(value, dict):
        return all(is_zero(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return value in (0, False, "", None)


def drop_zeros(value):
    """`value` without the members and items at Go's zero (item 11)."""
    if isinstance(value, dict):
        kept = {k: drop_zeros(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if not is_zero(v)}
    if isinstance(value, list):
        return [drop_zeros(v) for v in value]
    return value


def containers_of(spec):
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                yield container


def normalize_pod_spec(spec):
    for container in containers_of(spec):
        normalize_container(container)


def normalize_container(container):
    for env in container.get("env") or []:
        if isinstance(env, dict) and env.get("value") == "":
            del env["value"]  # item 7
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        grpc = (container.get(kind) or {}).get("grpc") if isinstance(container.get(kind), dict) else None
        if isinstance(grpc, dict) and "service" in grpc and grpc["service"] is None:
            del grpc["service"]  # item 9
    resources = container.get("resources")
    if resources == {}:
        del container["resources"]  # item 4
    elif isinstance(resources, dict):
        for kind in ("requests", "limits"):
            if isinstance(resources.get(kind), dict):
                resources[kind] = {k: canonical_quantity(v) for k, v in resources[kind].items()}


def normalize_metadata(metadata):
    if not isinstance(metadata, dict):
        return
    if "creationTimestamp" in metadata and metadata["creationTimestamp"] is None:
        del metadata["creationTimestamp"]  # item 4
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and isinstance(annotations.get(STATUS), str):
        status = json.loads(annotations[STATUS])
        annotations[STATUS] = {part: status.get(part) or [] for part in STATUS_PARTS}  # item 8
        annotations[STATUS]["revision"] = status.get("revision")
    if isinstance(annotations, dict) and isinstance(annotations.get(OVERRIDES), str):
        try:
            overrides = json.loads(annotations[OVERRIDES])
        except ValueError:
            return
        for containers in overrides.values() if isinstance(overrides, dict) else []:
            for container in containers if isinstance(containers, list) else []:
                if isinstance(container, dict):
                    normalize_container(container)  # item 10
        annotations[OVERRIDES] = overrides


def normalize_object(obj):
    """Normalizes a Kubernetes object in place, with the pod templates it holds."""
    if not isinstance(obj, dict):
        return obj
    if obj.get("status") == {}:
        del obj["status"]  # item 3
    elif isinstance(obj.get("status"), dict) and is_zero(obj["status"]):
        del obj["status"]  # item 6
    if obj.get("kind", "").endswith("List") and obj.get("metadata") == {}:
        del obj["metadata"]  # item 6
    if isinstance(obj.get("items"), list):
        for item in obj["items"]:
            normalize_object(item)
    normalize_metadata(obj.get("metadata"))
    spec = obj.get("spec")
    if isinstance(spec, dict):
        for key in ("strategy", "updateStrategy"):
            if spec.get(key) == {}:
                del spec[key]  # item 4
        if obj.get("kind") not in ("Pod", None):
            for key in [k for k in spec if k not in ("template", "jobTemplate")]:
                spec[key] = drop_zeros(spec[key])  # item 11
                if is_zero(spec[key]):
                    del spec[key]
        if obj.get("kind") == "Pod":
            normalize_pod_spec(spec)
        # Pod templates: spec.template (most workloads), spec.jobTemplate.spec.template (CronJob).
        for template in (spec.get("template"), ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")):
            if isinstance(template, dict):
                normalize_metadata(template.get("metadata"))
                if isinstance(template.get("spec"), dict):
                    normalize_pod_spec(template["spec"])
    return obj


def normalize_text(text):
    """The documents of a YAML stream, normalized (items 1 and 2)."""
    return [normalize_object(doc) for doc in yaml.safe_load_all(text) if doc is not None]


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        for doc in normalize_text(f.read()):
            print(json.dumps(doc, sort_keys=True))


if __name__ == "__main__":
    main()
