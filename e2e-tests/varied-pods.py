#!/usr/bin/env python3
"""Varied Pods for apiserver.bats's property: injection never turns a Pod the API server accepts
into one it refuses.

Usage: varied-pods.py COUNT SEED > pods.json (a v1 List of COUNT Pods named pod-0000...).

The Pods are the kind people write, not random bytes: what the API server refuses on its own is
of no interest (the property only counts Pods it accepted without the policy), so most of what is
drawn is valid, and the draws lean on what meets the sidecar: init containers (the Pod's own native
sidecars among them), probes of every kind on named and numbered ports, ports and volumes named
like the sidecar's, containers named like the sidecar's (customizations: resources, env, ports,
securityContext, image), Windows Pods, Istio's annotations (resources, templates, the probe rewrite's opt-out and
port, log level), the inject label, hostNetwork, restart policies.
"""

import json
import random
import sys

# Names the example templates inject (examples/*.yaml): containers, init containers, volumes,
# ports and env variables a Pod may reuse.
SIDECAR_CONTAINERS = ["istio-proxy", "log-shipper", "debug-shell"]
SIDECAR_INIT_CONTAINERS = ["istio-init"]
SIDECAR_VOLUMES = ["istio-envoy", "istio-data", "workload-socket", "istio-token", "app-logs", "istiod-ca-cert"]
SIDECAR_PORT_NAMES = ["http-envoy-prom"]
SIDECAR_PORTS = [15090, 15020, 15021, 15001, 15006]
SIDECAR_ENV = ["POD_NAME", "PROXY_LOG_LEVEL", "ISTIO_META_APP_CONTAINERS", "PILOT_CERT_PROVIDER"]
TEMPLATE_NAMES = ["sidecar", "debug", "sidecar,debug", "debug,sidecar"]

APP_NAMES = ["app", "web", "worker", "api", "cache", "metrics"]
INIT_NAMES = ["migrate", "setup", "fetch-config", "wait-db"]
PORT_NAMES = ["http", "grpc", "metrics", "admin", "https", "tcp-db", "http-alt"]
IMAGES = ["registry.example/app:1.0", "registry.example/app:latest", "registry.example/tools@sha256:" + "a" * 64]
CPU = ["10m", "100m", "250m", "500m", "1", "2", "3", "1500m"]
MEMORY = ["32Mi", "64Mi", "128Mi", "256Mi", "1Gi", "2Gi"]


def maybe(rng, probability=0.5):
    return rng.random() < probability


def port_list(rng, used_names, numbers):
    ports = []
    for _ in range(rng.randint(0, 3)):
        number = rng.choice(SIDECAR_PORTS) if maybe(rng, 0.2) else rng.randint(1024, 9999)
        if number in numbers:
            continue
        numbers.add(number)
        port = {"containerPort": number}
        if maybe(rng, 0.7):
            name = rng.choice(SIDECAR_PORT_NAMES) if maybe(rng, 0.15) else rng.choice(PORT_NAMES)
            if name not in used_names:
                used_names.add(name)
                port["name"] = name
        if maybe(rng, 0.1):
            port["protocol"] = "UDP" if maybe(rng) else "TCP"
        ports.append(port)
    return ports


def probe(rng, ports):
    named = [p["name"] for p in ports if "name" in p]
    kind = rng.choice(["httpGet", "httpGet", "tcpSocket", "grpc", "exec"])
    if kind == "exec":
        action = {"exec": {"command": ["cat", "/tmp/healthy"]}}
    else:
        choices = [p["containerPort"] for p in ports] + named + [8080, "undeclared"]
        port = rng.choice(choices)
        if kind == "grpc":
            # gRPC probes take a number only.
            port = port if isinstance(port, int) else 9090
            action = {"grpc": {"port": port}}
            if maybe(rng, 0.3):
                action["grpc"]["service"] = "health"
        elif kind == "tcpSocket":
            action = {"tcpSocket": {"port": port}}
        else:
            action = {"httpGet": {"path": rng.choice(["/ready", "/healthz", "/live?full=1"]), "port": port}}
            if maybe(rng, 0.3):
                action["httpGet"]["scheme"] = "HTTPS"
            if maybe(rng, 0.2):
                action["httpGet"]["httpHeaders"] = [{"name": "X-Probe", "value": "kubelet"}]
    for field, values in [("periodSeconds", [1, 5, 10]), ("timeoutSeconds", [1, 3]),
                          ("failureThreshold", [1, 3, 30]), ("initialDelaySeconds", [0, 5])]:
        if maybe(rng, 0.3):
            action[field] = rng.choice(values)
    return action


def resources(rng):
    result = {}
    if maybe(rng, 0.6):
        result["requests"] = {"cpu": rng.choice(CPU), "memory": rng.choice(MEMORY)}
    if maybe(rng, 0.3):
        limits = {"memory": rng.choice(MEMORY)}
        if "requests" in result:
            # Valid on its own: limits at or above the requests.
            limits = {"cpu": "4", "memory": "4Gi"}
        result["limits"] = limits
    return result


def container(rng, name, mounts_from, used_port_names, used_numbers, probes=True):
    c = {"name": name, "image": rng.choice(IMAGES)}
    ports = port_list(rng, used_port_names, used_numbers)
    if ports:
        c["ports"] = ports
    if probes:
        for kind in ["readinessProbe", "livenessProbe", "startupProbe"]:
            if maybe(rng, 0.35):
                c[kind] = probe(rng, ports)
    r = resources(rng)
    if r:
        c["resources"] = r
    if maybe(rng, 0.3):
        c["env"] = [{"name": rng.choice(SIDECAR_ENV + ["LOG_LEVEL", "MODE"]), "value": "x"}]
    mounts = []
    paths = set()
    for volume in rng.sample(mounts_from, k=min(len(mounts_from), rng.randint(0, 2))):
        path = f"/mnt/{volume}"
        if path not in paths:
            paths.add(path)
            mounts.append({"name": volume, "mountPath": path})
    if mounts:
        c["volumeMounts"] = mounts
    if maybe(rng, 0.2):
        c["securityContext"] = rng.choice([
            {"runAsNonRoot": True, "runAsUser": 1000},
            {"readOnlyRootFilesystem": True},
            {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        ])
    return c


def customization(rng):
    """A container named like a template's: the Pod's fields win over the template's."""
    c = {"name": rng.choice(SIDECAR_CONTAINERS)}
    if maybe(rng, 0.3):
        c["image"] = "registry.example/proxy:custom"
    if maybe(rng, 0.4):
        c["resources"] = rng.choice([
            {"requests": {"cpu": rng.choice(CPU)}},
            {"limits": {"cpu": rng.choice(CPU), "memory": rng.choice(MEMORY)}},
            {"requests": {"memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        ])
    if maybe(rng, 0.4):
        c["env"] = [{"name": rng.choice(SIDECAR_ENV), "value": "custom"}]
    if maybe(rng, 0.3):
        c["ports"] = [rng.choice([
            {"containerPort": 15090, "name": "http-envoy-prom"},
            {"containerPort": 15091, "name": "http-custom"},
            {"containerPort": 15092, "name": "http-envoy-prom"},
        ])]
    if maybe(rng, 0.2):
        c["securityContext"] = {"runAsUser": 1337, "runAsNonRoot": True}
    if maybe(rng, 0.2):
        c["args"] = ["proxy", "sidecar", "--concurrency", "2"]
    if "image" not in c:
        # The API server refuses a container without an image before any webhook runs: a
        # customization that keeps the template's image still names one.
        c["image"] = "docker.io/istio/proxyv2:1.27.3"
    return c


def annotations(rng):
    result = {}
    if maybe(rng, 0.3):
        result["sidecar.istio.io/proxyCPU"] = rng.choice(CPU + ["lots", "100 m"])
    if maybe(rng, 0.2):
        result["sidecar.istio.io/proxyMemory"] = rng.choice(MEMORY + ["1G", "big"])
    if maybe(rng, 0.15):
        result["sidecar.istio.io/proxyCPULimit"] = rng.choice(CPU)
    if maybe(rng, 0.15):
        result["sidecar.istio.io/proxyMemoryLimit"] = rng.choice(MEMORY)
    if maybe(rng, 0.2):
        result["inject.istio.io/templates"] = rng.choice(TEMPLATE_NAMES)
    if maybe(rng, 0.15):
        result["sidecar.istio.io/rewriteAppHTTPProbers"] = rng.choice(["false", "true"])
    if maybe(rng, 0.1):
        result["status.sidecar.istio.io/port"] = rng.choice(["15021", "0", "15020"])
    if maybe(rng, 0.15):
        result["sidecar.istio.io/logLevel"] = rng.choice(["debug", "info", "warning"])
    if maybe(rng, 0.1):
        result["traffic.sidecar.istio.io/excludeOutboundIPRanges"] = "10.0.0.0/8"
    return result


def volume(rng, name):
    kind = rng.choice(["emptyDir", "configMap", "secret", "downwardAPI"])
    if kind == "emptyDir":
        return {"name": name, "emptyDir": {"medium": "Memory"} if maybe(rng, 0.3) else {}}
    if kind == "configMap":
        return {"name": name, "configMap": {"name": f"{name}-config"}}
    if kind == "secret":
        return {"name": name, "secret": {"secretName": f"{name}-secret"}}
    return {"name": name, "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}


def pod(rng, index):
    # On the host's network every port is a host port too, which must be unique in the Pod.
    host_network = maybe(rng, 0.05)
    pod_numbers = set()

    def numbers():
        return pod_numbers if host_network else set()

    volume_names = set()
    for _ in range(rng.randint(0, 3)):
        volume_names.add(rng.choice(SIDECAR_VOLUMES) if maybe(rng, 0.3) else rng.choice(["data", "config", "cache", "tmp"]))
    volume_names = sorted(volume_names)
    used_port_names = set()
    names = rng.sample(APP_NAMES, k=rng.randint(1, 3))
    containers = [container(rng, name, volume_names, used_port_names, numbers()) for name in names]
    if maybe(rng, 0.25):
        customized = customization(rng)
        if customized["name"] not in names:
            containers.insert(rng.randint(0, len(containers)), customized)
    spec = {"containers": containers}

    init = []
    init_names = set(names) | {c["name"] for c in containers}
    for _ in range(rng.randint(0, 2)):
        name = rng.choice(SIDECAR_INIT_CONTAINERS) if maybe(rng, 0.1) else rng.choice(INIT_NAMES)
        if name in init_names:
            continue
        init_names.add(name)
        c = container(rng, name, volume_names, set(), numbers(), probes=False)
        if maybe(rng, 0.3):
            # The Pod's own native sidecar: it may have probes.
            c["restartPolicy"] = "Always"
            if maybe(rng):
                c["readinessProbe"] = probe(rng, c.get("ports", []))
        init.append(c)
    if init:
        spec["initContainers"] = init
    if volume_names:
        spec["volumes"] = [volume(rng, name) for name in volume_names]
    if maybe(rng, 0.2):
        spec["imagePullSecrets"] = [{"name": rng.choice(["regcred", "istio-pull"])}]
    if maybe(rng, 0.3):
        spec["restartPolicy"] = rng.choice(["Always", "OnFailure", "Never"])
    if host_network:
        spec["hostNetwork"] = True
    if maybe(rng, 0.15):
        spec["securityContext"] = {"runAsNonRoot": True, "fsGroup": 2000}
    if maybe(rng, 0.1):
        spec["terminationGracePeriodSeconds"] = rng.choice([0, 5, 60])
    if maybe(rng, 0.1):
        spec["shareProcessNamespace"] = True
    if maybe(rng, 0.05):
        # A Windows Pod: none of the Linux security settings Kubernetes refuses in one.
        spec["os"] = {"name": "windows"}
        for key in ["securityContext", "shareProcessNamespace"]:
            spec.pop(key, None)
        for c in spec["containers"] + spec.get("initContainers", []):
            c.pop("securityContext", None)

    metadata = {"name": f"pod-{index:04d}", "labels": {"app": rng.choice(APP_NAMES)}}
    if maybe(rng, 0.3):
        metadata["labels"]["version"] = rng.choice(["v1", "v2"])
    if maybe(rng, 0.25):
        metadata["labels"]["sidecar.istio.io/inject"] = rng.choice(["true", "false"])
    a = annotations(rng)
    if a:
        metadata["annotations"] = a
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def main():
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    items = [pod(rng, index) for index in range(count)]
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
