#!/usr/bin/env python3
"""Varied inputs for istio-property.bats: objects that `istioctl kube-inject` and the policy (with
examples/istio/istio.yaml) must inject alike.

Usage: generate.py COUNT SEED DIR

Writes into DIR (made if missing):
  cases/c0000.yaml ...  every case, one file each;
  batch.yaml            the cases both must accept, one YAML document each, in case order;
  cases.json            one entry per case: {case, kind, name, namespace, refused, features}.

The cases both must refuse (refused: true) are not in the batch: kube-inject stops at the first
object it refuses (exit 1, with what it wrote before), and the CLI writes nothing when one object
fails (exit 2), so each is run alone, from cases/.

Case i is named c<i> (c0007-web, or the ReplicaSet's Pod c0007-web-5d8f9c7b4-x2x9q): the names
say which case a document is. Every case is drawn from its own random.Random(f"{SEED}:{i}"): the
same SEED and i give the same case whatever COUNT is.

What is drawn, and what is left out because the policy (or examples/istio/istio.yaml) does not
match Istio there yet, is listed in the header of e2e-tests/istio-property.bats. Exclusions of a
value or combination of something that is drawn are marked "Left out" here, where it would be.
"""

import json
import os
import random
import sys

import yaml

WORDS = ["web", "api", "cart", "checkout", "payments", "inventory", "search", "front", "back", "reviews",
         "ratings", "details", "productpage", "worker", "cache", "gateway", "billing", "orders"]
CONTAINER_NAMES = ["app", "web", "worker", "api", "sidecar-logger", "metrics", "cache"]
INIT_NAMES = ["migrate", "setup", "fetch-config", "wait-db"]
PORT_NAMES = ["http", "grpc", "metrics", "admin", "https", "tcp-db", "http-alt", "grpc-web"]
IMAGES = ["registry.example/app:1.0", "registry.example/app:latest", "docker.io/library/nginx:1.27",
          "registry.example/tools@sha256:" + "a" * 64]
CPU = ["10m", "100m", "250m", "500m", "1", "2", "1500m", "2000m"]
MEMORY = ["32Mi", "64Mi", "128Mi", "256Mi", "1Gi", "1024Mi", "2Gi", "512M"]
# Ports of Istio's that a Pod may not have scraped (examples/istio/istio.yaml's reservedPorts, the
# agent's own 15020 apart).
RESERVED = [15000, 15001, 15004, 15006, 15008, 15021, 15053, 15090]
NAMESPACES = [None, None, None, "shop", "payments"]
# How a Prometheus annotation may be spelled: Prometheus, and Istio after it, reads every key that
# sanitizes to prometheus_io_<key> (any character that is not a letter, digit or _ becomes _).
PROM_PREFIXES = ["prometheus.io/", "prometheus.io/", "prometheus.io/", "prometheus-io/", "prometheus_io_",
                 "prometheus.io.", "prometheus-io-"]
TRUE_SPELLINGS = ["true", "true", "True", "TRUE", "1", "t", "T"]
FALSE_SPELLINGS = ["false", "false", "False", "FALSE", "0", "f", "F"]


def maybe(rng, probability=0.5):
    return rng.random() < probability


def dns_name(rng, index, long=False):
    """c0007-web; or, when long, a name of 64 to 90 characters, so that the canonical name (cut
    at 63) sometimes ends in a '-' that Istio trims."""
    name = f"c{index:04d}-{rng.choice(WORDS)}"
    if long:
        while len(name) < 64:
            name += "-" + rng.choice(WORDS)
        name = name[:rng.randint(64, 90)].rstrip("-")
    return name


class Features:
    """What a case exercises, for cases.json and the coverage line of the TAP output."""

    def __init__(self):
        self.items = []

    def add(self, feature):
        if feature not in self.items:
            self.items.append(feature)


def port_list(rng, used_names, used_numbers, features):
    ports = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        number = rng.choice([80, 8080, 8443, 9090, 3306]) if maybe(rng, 0.4) else rng.randint(1024, 14999)
        if number in used_numbers:
            continue
        used_numbers.add(number)
        port = {"containerPort": number}
        if maybe(rng, 0.65):
            name = rng.choice(PORT_NAMES)
            if name not in used_names:
                used_names.add(name)
                port["name"] = name
                features.add("port:named")
        if "name" not in port:
            features.add("port:numbered")
        if maybe(rng, 0.15):
            port["protocol"] = rng.choice(["TCP", "UDP", "SCTP"])
            features.add("port:protocol")
        if maybe(rng, 0.05):
            # A host port (and its IP) is one of the fields ISTIO_META_POD_PORTS writes.
            port["hostPort"] = number
            features.add("port:hostPort")
            if maybe(rng, 0.5):
                port["hostIP"] = "10.0.0.1"
        ports.append(port)
    return ports


def probe(rng, ports, features, kind_name):
    named = [p["name"] for p in ports if "name" in p]
    numbers = [p["containerPort"] for p in ports]
    kind = rng.choice(["httpGet", "httpGet", "httpGet", "tcpSocket", "tcpSocket", "grpc", "exec"])
    if kind == "exec":
        action = {"exec": {"command": ["cat", "/tmp/healthy"]}}
        features.add(f"probe:{kind_name}:exec")
    elif kind == "grpc":
        # gRPC probes take a number only; with a service or without (Istio writes "service":null
        # into ISTIO_KUBE_APP_PROBERS for none).
        action = {"grpc": {"port": rng.choice(numbers + [9090, 50051])}}
        if maybe(rng, 0.7):
            action["grpc"]["service"] = rng.choice(["", "health", "grpc.health.v1.Health"])
        features.add(f"probe:{kind_name}:grpc")
    else:
        # A named port the container declares, a number (declared or not). Left out: a named
        # port the container does not declare (see the header of istio-property.bats).
        if named and maybe(rng, 0.5):
            port, how = rng.choice(named), "named"
        else:
            port, how = rng.choice(numbers + [8080, 8081]), "numbered"
        if kind == "tcpSocket":
            action = {"tcpSocket": {"port": port}}
        else:
            # The fields in Kubernetes' order (HTTPGetAction: path, port, host, scheme,
            # httpHeaders), or shuffled: Istio writes them in Kubernetes' order.
            get = {}
            if maybe(rng, 0.8):
                get["path"] = rng.choice(["/ready", "/healthz", "/live?full=1", "/"])
            get["port"] = port
            if maybe(rng, 0.1):
                get["host"] = "127.0.0.1"
                features.add("probe:httpGet:host")
            if maybe(rng, 0.3):
                get["scheme"] = rng.choice(["HTTPS", "HTTPS", "HTTP"])
                features.add(f"probe:httpGet:scheme:{get['scheme']}")
            if maybe(rng, 0.15):
                get["httpHeaders"] = [{"name": "X-Probe", "value": "kubelet"}]
                features.add("probe:httpGet:headers")
            if maybe(rng, 0.3):
                items = list(get.items())
                rng.shuffle(items)
                get = dict(items)
                features.add("probe:httpGet:shuffled")
            action = {"httpGet": get}
        features.add(f"probe:{kind_name}:{kind}:{how}")
    # No field at 0: kube-inject's round trip through Go types drops an integer at 0 (omitempty)
    # that the CLI keeps, a difference of encoding that injection has no part in.
    for field, values in [("initialDelaySeconds", [5, 10]), ("timeoutSeconds", [1, 3]), ("periodSeconds", [1, 5, 10]),
                          ("successThreshold", [1]), ("failureThreshold", [1, 3, 30])]:
        if maybe(rng, 0.25):
            action[field] = rng.choice(values)
    return action


def hook(rng, ports, features, hook_name):
    """A lifecycle hook: httpGet and tcpSocket go to the agent as probes do; exec and sleep stay."""
    named = [p["name"] for p in ports if "name" in p]
    numbers = [p["containerPort"] for p in ports]
    kind = rng.choice(["httpGet", "httpGet", "tcpSocket", "exec", "sleep"])
    if kind == "exec":
        features.add(f"lifecycle:{hook_name}:exec")
        return {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}
    if kind == "sleep":
        features.add(f"lifecycle:{hook_name}:sleep")
        return {"sleep": {"seconds": rng.choice([1, 5])}}
    # As for probes, left out: a named port the container does not declare.
    if named and maybe(rng, 0.5):
        port, how = rng.choice(named), "named"
    else:
        port, how = rng.choice(numbers + [8080, 8081]), "numbered"
    features.add(f"lifecycle:{hook_name}:{kind}:{how}")
    if kind == "tcpSocket":
        return {"tcpSocket": {"port": port}}
    get = {"path": rng.choice(["/drain", "/started"])} if maybe(rng, 0.8) else {}
    get["port"] = port
    if maybe(rng, 0.2):
        get["scheme"] = "HTTPS"
    return {"httpGet": get}


def container(rng, name, used_port_names, used_numbers, volume_names, features, probes=True):
    c = {"name": name, "image": rng.choice(IMAGES)}
    if maybe(rng, 0.15):
        c["imagePullPolicy"] = rng.choice(["Always", "IfNotPresent"])
    if maybe(rng, 0.15):
        c["args"] = ["--port", "8080"]
    ports = port_list(rng, used_port_names, used_numbers, features)
    if ports:
        c["ports"] = ports
    if probes:
        for kind in ["readinessProbe", "livenessProbe", "startupProbe"]:
            if maybe(rng, 0.4):
                c[kind] = probe(rng, ports, features, kind)
        if maybe(rng, 0.25):
            hooks = [h for h in ["preStop", "postStart"] if maybe(rng, 0.6)] or ["preStop"]
            c["lifecycle"] = {h: hook(rng, ports, features, h) for h in hooks}
    if maybe(rng, 0.5):
        resources = {"requests": {"cpu": rng.choice(CPU), "memory": rng.choice(MEMORY)}}
        if maybe(rng, 0.4):
            resources["limits"] = {"cpu": "4", "memory": "4Gi"}
        c["resources"] = resources
        features.add("container:resources")
    if maybe(rng, 0.3):
        c["env"] = [{"name": "LOG_LEVEL", "value": rng.choice(["debug", "info"])}]
        if maybe(rng, 0.3):
            c["env"].append({"name": "EMPTY", "value": ""})
    mounts = [{"name": v, "mountPath": f"/mnt/{v}"} for v in volume_names if maybe(rng, 0.5)]
    if mounts:
        c["volumeMounts"] = mounts
    if maybe(rng, 0.15):
        c["securityContext"] = rng.choice([
            {"runAsNonRoot": True, "runAsUser": 1000},
            {"readOnlyRootFilesystem": True},
            {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        ])
    return c


def prometheus_annotations(rng, annotations, features):
    """The Pod's own scrape settings, one spelling per key (Istio reads its annotations from a Go
    map, so two spellings of one key with different values would be merged in a random order)."""
    if maybe(rng, 0.45):
        prefix = rng.choice(PROM_PREFIXES)
        if prefix != "prometheus.io/":
            features.add("prometheus:other-spelling")
        if maybe(rng, 0.8):
            scrape = rng.choice(TRUE_SPELLINGS + FALSE_SPELLINGS + ["yes", "maybe"])
            annotations[prefix + "scrape"] = scrape
            features.add("prometheus:scrape:" + ("true" if scrape in TRUE_SPELLINGS else
                                                  "false" if scrape in FALSE_SPELLINGS else "not-a-bool"))
        if maybe(rng, 0.7):
            # Left out of the batch: the agent's port and the reserved ones, refused (refusal()).
            annotations[prefix + "port"] = str(rng.choice([8080, 9090, 9102, rng.randint(1024, 14999)]))
            features.add("prometheus:port")
        if maybe(rng, 0.5):
            annotations[prefix + "path"] = rng.choice(["/metrics", "/stats", "/actuator/prometheus"])
            features.add("prometheus:path")
    if maybe(rng, 0.08):
        targets = rng.sample(["8080:/metrics", "9090", "9102:/m", "7070:/x/y"], k=rng.randint(1, 3))
        annotations["prometheus.istio.io/scrape-targets"] = ",".join(targets)
        features.add("prometheus:scrape-targets")
    if maybe(rng, 0.15):
        # Only booleans: any other value is refused by both (refusal()).
        annotations["prometheus.istio.io/merge-metrics"] = rng.choice(TRUE_SPELLINGS + FALSE_SPELLINGS)
        features.add("prometheus:merge-metrics")
    if maybe(rng, 0.03):
        # Merged before: the port already is the agent's, so nothing changes. The only spelling
        # of the port (with two, Istio would find either first).
        for key in [k for k in annotations if k.startswith(("prometheus.io", "prometheus-io", "prometheus_io"))]:
            del annotations[key]
        annotations["prometheus.io/port"] = "15020"
        annotations["prometheus.io/scrape"] = "true"
        annotations["prometheus.io/path"] = "/stats/prometheus"
        features.add("prometheus:already-merged")


def pod_metadata(rng, features):
    """The labels and annotations injection reads, for a Pod or a pod template."""
    labels, annotations = {}, {}
    if maybe(rng, 0.6):
        labels["app"] = rng.choice(WORDS)
        features.add("label:app")
    if maybe(rng, 0.3):
        labels["version"] = rng.choice(["v1", "v2", "1.4.0"])
        features.add("label:version")
    if maybe(rng, 0.2):
        labels["app.kubernetes.io/name"] = rng.choice(WORDS)
        features.add("label:app.kubernetes.io/name")
    if maybe(rng, 0.15):
        labels["app.kubernetes.io/version"] = rng.choice(["1.0.0", "2.3"])
        features.add("label:app.kubernetes.io/version")
    if maybe(rng, 0.05):
        labels["service.istio.io/canonical-name"] = rng.choice(WORDS)
        features.add("label:canonical-name")
    if maybe(rng, 0.05):
        labels["service.istio.io/canonical-revision"] = "r7"
        features.add("label:canonical-revision")
    if maybe(rng, 0.1):
        labels["sidecar.istio.io/inject"] = rng.choice(["true", "false"])
        features.add("label:inject:" + labels["sidecar.istio.io/inject"])
    if maybe(rng, 0.1):
        annotations["sidecar.istio.io/inject"] = rng.choice(["true", "false", "True", "yes"])
        features.add("annotation:inject:" + annotations["sidecar.istio.io/inject"])
    if maybe(rng, 0.1):
        # "false" moves istio-proxy to the containers, istio-init after the Pod's own init
        # containers, and drops the drain hook.
        annotations["sidecar.istio.io/nativeSidecar"] = rng.choice(["true", "false"])
        features.add("annotation:nativeSidecar:" + annotations["sidecar.istio.io/nativeSidecar"])
    prometheus_annotations(rng, annotations, features)
    if maybe(rng, 0.15):
        annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = rng.choice(["false", "false", "true"])
        features.add("annotation:rewriteAppHTTPProbers:" + annotations["sidecar.istio.io/rewriteAppHTTPProbers"])
    if maybe(rng, 0.1):
        # Left out: "0" (e2e-tests/istio/not-equal.txt's status_annotations_zeroport.yaml).
        annotations["status.sidecar.istio.io/port"] = rng.choice(["15020", "15030", "15099"])
        features.add("annotation:status-port")
    if maybe(rng, 0.15):
        # Any of the four, alone or together: Istio then writes only those (typed values that
        # leave a field out). A request within its limit: 4 CPUs and 2Gi are above every request.
        resources = {"proxyCPU": rng.choice(CPU), "proxyMemory": rng.choice(MEMORY),
                     "proxyCPULimit": "4", "proxyMemoryLimit": rng.choice(["2Gi", "4096Mi"])}
        chosen = rng.sample(sorted(resources), k=rng.randint(1, 4))
        for key in chosen:
            annotations["sidecar.istio.io/" + key] = resources[key]
        features.add(f"annotation:proxy-resources:{len(chosen)}")
    if maybe(rng, 0.1):
        # Integers from annotations. Left out: 0 (see the header: kube-inject drops a zero).
        for key in rng.sample(["initialDelaySeconds", "periodSeconds", "failureThreshold"], k=rng.randint(1, 3)):
            annotations["readiness.status.sidecar.istio.io/" + key] = str(rng.randint(1, 30))
        features.add("annotation:readiness")
    if maybe(rng, 0.08):
        # Volumes and the proxy's mounts of them, as JSON objects by name.
        names = rng.sample(["data", "cache", "extra-certs"], k=rng.randint(1, 2))
        sources = [{"emptyDir": {}}, {"emptyDir": {"medium": "Memory"}}, {"configMap": {"name": "proxy-extra"}}]
        volumes = {name: rng.choice(sources) for name in names}
        # readOnly true or absent: kube-inject's round trip through Go types drops a false.
        mounts = {name: {"mountPath": "/etc/extra/" + name} for name in names}
        for mount in mounts.values():
            if maybe(rng):
                mount["readOnly"] = True
        annotations["sidecar.istio.io/userVolume"] = json.dumps(volumes)
        if maybe(rng, 0.7):
            annotations["sidecar.istio.io/userVolumeMount"] = json.dumps(mounts)
        features.add("annotation:user-volume")
    for key, values in [("traffic.sidecar.istio.io/includeOutboundPorts", ["80,443", "8080"]),
                        ("traffic.sidecar.istio.io/excludeOutboundPorts", ["3306", "5432,6379"]),
                        ("traffic.sidecar.istio.io/kubevirtInterfaces", ["net1", "net1,net2"]),
                        ("istio.io/reroute-virtual-interfaces", ["net3"]),
                        ("traffic.sidecar.istio.io/excludeInterfaces", ["eth1", "eth1,eth2"])]:
        # istio-init's -q, -o, -k and -c pairs, only when their annotation is set.
        if maybe(rng, 0.05):
            annotations[key] = rng.choice(values)
            features.add("annotation:" + key.split("/")[1])
    for key, values in [("sidecar.istio.io/logLevel", ["debug", "info", "trace"]),
                        ("sidecar.istio.io/componentLogLevel", ["misc:info", "upstream:debug,misc:error"]),
                        ("sidecar.istio.io/agentLogLevel", ["default:debug", "ads:debug"]),
                        ("sidecar.istio.io/proxyImage", ["registry.example/proxyv2:1.27", "proxyv2:custom"]),
                        ("inject.istio.io/templates", ["sidecar"]),
                        ("kubectl.kubernetes.io/default-container", ["chosen"])]:
        if maybe(rng, 0.06):
            annotations[key] = rng.choice(values)
            features.add("annotation:" + key.split("/")[1])
    if maybe(rng, 0.1):
        annotations["example.com/owner"] = "team-a"
    return labels, annotations


def pod_spec(rng, features, restart_policy=None):
    # Volumes of the Pod's own, mounted by its containers: the injected ones go before them.
    volume_names = rng.sample(["app-data", "config", "tmp"], k=rng.choice([0, 0, 1, 2]))
    if volume_names:
        features.add(f"volumes:{len(volume_names)}")
    used_port_names, used_numbers = set(), set()
    names = rng.sample(CONTAINER_NAMES, k=rng.choice([1, 1, 1, 2, 2, 3]))
    features.add(f"containers:{len(names)}")
    containers = [container(rng, n, used_port_names, used_numbers, volume_names, features) for n in names]
    spec = {"containers": containers}
    init = []
    for name in rng.sample(INIT_NAMES, k=rng.choice([0, 0, 0, 1, 1, 2])):
        c = container(rng, name, set(), set(), volume_names, features, probes=False)
        if maybe(rng, 0.25):
            # The Pod's own native sidecar.
            c["restartPolicy"] = "Always"
            features.add("init:own-native-sidecar")
            # It may have probes (both rewrite them as a container's).
            for kind in ["readinessProbe", "livenessProbe", "startupProbe"]:
                if maybe(rng, 0.3):
                    c[kind] = probe(rng, c.get("ports", []), features, "init:" + kind)
        init.append(c)
    features.add(f"init:{len(init)}")
    if init:
        spec["initContainers"] = init
    if volume_names:
        spec["volumes"] = [{"name": v, "emptyDir": {}} if v != "config" else {"name": v, "configMap": {"name": "cfg"}}
                           for v in volume_names]
        features.add("volumes")
    if maybe(rng, 0.15):
        spec["imagePullSecrets"] = [{"name": "regcred"}]
        features.add("imagePullSecrets")
    if maybe(rng, 0.2):
        spec["serviceAccountName"] = rng.choice(["default", "web-sa"])
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    elif maybe(rng, 0.15):
        spec["restartPolicy"] = "Always"
    if maybe(rng, 0.1):
        spec["securityContext"] = {"runAsNonRoot": True, "fsGroup": 2000}
    if maybe(rng, 0.1):
        spec["terminationGracePeriodSeconds"] = rng.choice([5, 60])
    if maybe(rng, 0.03):
        spec["hostNetwork"] = True
        features.add("hostNetwork")
    return spec


def controlled_pod_metadata(rng, index, metadata, features):
    """A Pod a controller made: generateName, ownerReferences, and for a ReplicaSet's the
    pod-template-hash label (its workload is then the Deployment)."""
    owner_kind = rng.choice(["ReplicaSet", "ReplicaSet", "ReplicaSet", "ReplicaSet-nohash", "Job", "CronJob-Job",
                             "StatefulSet", "DaemonSet", "custom"])
    base = dns_name(rng, index, long=maybe(rng, 0.15))
    suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    if owner_kind.startswith("ReplicaSet"):
        template_hash = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(rng.choice([9, 10])))
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{base}-{template_hash}"}
        if owner_kind == "ReplicaSet":
            metadata["labels"]["pod-template-hash"] = template_hash
        generate = f"{base}-{template_hash}-"
    elif owner_kind == "Job":
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": base}
        generate = f"{base}-"
    elif owner_kind == "CronJob-Job":
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": f"{base}-{rng.randint(28000000, 29999999)}"}
        generate = owner["name"] + "-"
    elif owner_kind == "StatefulSet":
        owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": base}
        generate = f"{base}-"
    elif owner_kind == "DaemonSet":
        owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": base}
        generate = f"{base}-"
    else:
        owner = {"apiVersion": "example.com/v1", "kind": "Widget", "name": base}
        generate = f"{base}-"
    owner["uid"] = "12345678-1234-1234-1234-123456789012"
    if maybe(rng, 0.9):
        owner["controller"] = True
        owner["blockOwnerDeletion"] = True
    else:
        features.add("owner:not-controller")
    metadata["generateName"] = generate
    metadata["name"] = (generate + suffix) if owner_kind != "StatefulSet" else f"{base}-{rng.randint(0, 3)}"
    if owner.get("controller") and owner_kind != "StatefulSet" and maybe(rng, 0.3):
        # As the API server receives it: no name yet (the workload's is the controller's).
        # Left out: no name and no controller (ISTIO_META_WORKLOAD_NAME and ISTIO_META_OWNER,
        # which Istio omits when the workload has no name: examples/istio/istio.yaml's header).
        del metadata["name"]
        features.add("pod:generateName-only")
    metadata["ownerReferences"] = [owner]
    features.add(f"owner:{owner_kind}")


def case(index, seed):
    rng = random.Random(f"{seed}:{index}")
    features = Features()
    kind = rng.choices(["Pod", "Deployment", "StatefulSet", "Job", "DaemonSet"], weights=[50, 34, 7, 6, 3])[0]
    features.add(f"kind:{kind}")
    labels, annotations = pod_metadata(rng, features)
    namespace = rng.choice(NAMESPACES)
    if namespace:
        features.add("namespace:in-object")
    if kind == "Pod":
        long = maybe(rng, 0.1)
        if long:
            features.add("name:long")
        metadata = {"name": dns_name(rng, index, long=long), "labels": labels}
        if maybe(rng, 0.35):
            controlled_pod_metadata(rng, index, metadata, features)
        spec = pod_spec(rng, features)
        if annotations:
            metadata["annotations"] = annotations
        if namespace:
            metadata["namespace"] = namespace
        if not metadata["labels"]:
            del metadata["labels"]
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    else:
        long = maybe(rng, 0.1)
        if long:
            features.add("name:long")
        name = dns_name(rng, index, long=long)
        selector = {"app.example/case": f"c{index:04d}"}
        template_metadata = {"labels": {**selector, **labels}}
        if annotations:
            template_metadata["annotations"] = annotations
        spec = pod_spec(rng, features, restart_policy=rng.choice(["Never", "OnFailure"]) if kind == "Job" else None)
        workload_metadata = {"name": name}
        if namespace:
            workload_metadata["namespace"] = namespace
        if maybe(rng, 0.3):
            workload_metadata["labels"] = {"app": rng.choice(WORDS), "team": "a"}
        if maybe(rng, 0.1):
            # The workload's own metadata is not the Pod's: injection does not read it.
            workload_metadata["annotations"] = {"sidecar.istio.io/inject": "false", "prometheus.io/port": "15090"}
            features.add("workload:annotations-ignored")
        obj = {"apiVersion": "batch/v1" if kind == "Job" else "apps/v1", "kind": kind, "metadata": workload_metadata,
               "spec": {"template": {"metadata": template_metadata, "spec": spec}}}
        if kind != "Job":
            obj["spec"]["selector"] = {"matchLabels": selector}
        if kind in ("Deployment", "StatefulSet"):
            obj["spec"]["replicas"] = rng.choice([1, 2, 3])
        if kind == "StatefulSet":
            obj["spec"]["serviceName"] = name
        if kind == "Deployment" and maybe(rng, 0.2):
            obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        if kind == "Job" and maybe(rng, 0.3):
            obj["spec"]["backoffLimit"] = 2
    refused = refusal(rng, obj, features)
    return obj, {"case": index, "kind": kind, "name": obj["metadata"].get("name"),
                 "generateName": obj["metadata"].get("generateName"), "namespace": namespace,
                 "refused": refused, "features": features.items}


def refusal(rng, obj, features):
    """About one case in 25 gets an annotation both must refuse; returns whether it did."""
    if not maybe(rng, 0.04):
        return False
    template = obj["spec"]["template"] if obj["kind"] != "Pod" else obj
    metadata = template["metadata"]
    annotations = metadata.setdefault("annotations", {})
    # Refusals only count when the Pod is injected at all.
    metadata.get("labels", {}).pop("sidecar.istio.io/inject", None)
    annotations.pop("sidecar.istio.io/inject", None)
    template["spec"].pop("hostNetwork", None)
    for key in [k for k in annotations if "prometheus" in k]:
        del annotations[key]
    what = rng.choice(["reserved", "agent", "agent-written-otherwise", "not-a-port", "out-of-range",
                       "target-reserved", "merge-not-bool", "status-port"])
    # Left out: a resource annotation that is no quantity. istiod's webhook refuses it (it
    # validates the annotations first), kube-inject writes it into the resources, and the policy
    # refuses it with 400 as the API server would refuse the Pod.
    if what == "reserved":
        annotations[rng.choice(PROM_PREFIXES) + "port"] = str(rng.choice(RESERVED))
    elif what == "agent-written-otherwise":
        annotations["prometheus.io/port"] = "015020"
    elif what == "agent":
        annotations["prometheus.istio.io/scrape-targets"] = "15020:/metrics"
    elif what == "not-a-port":
        annotations["prometheus.io/port"] = rng.choice(["http", "80a", "8080 "])
    elif what == "out-of-range":
        annotations["prometheus.io/port"] = rng.choice(["0", "65536", "-1"])
    elif what == "target-reserved":
        annotations["prometheus.istio.io/scrape-targets"] = f"8080:/metrics,{rng.choice(RESERVED)}"
    elif what == "merge-not-bool":
        annotations["prometheus.istio.io/merge-metrics"] = rng.choice(["yes", "on", "enabled"])
    else:
        # Refused whatever sidecar.istio.io/rewriteAppHTTPProbers says, by Istio and by the policy
        # (which once checked it only when it rewrote probes: a gap this test found).
        annotations["status.sidecar.istio.io/port"] = rng.choice(["abc", "70000", "-5"])
    features.add(f"refused:{what}")
    return True


def main():
    count, seed, directory = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(os.path.join(directory, "cases"), exist_ok=True)
    entries, batch = [], []
    for index in range(count):
        obj, entry = case(index, seed)
        entries.append(entry)
        with open(os.path.join(directory, "cases", f"c{index:04d}.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(obj, f, sort_keys=False)
        if not entry["refused"]:
            batch.append(obj)
    with open(os.path.join(directory, "batch.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump_all(batch, f, sort_keys=False)
    with open(os.path.join(directory, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
