#!/usr/bin/env python3
"""Policy checks on a rendered overlay, beyond the schemas: what issue #13 asks of every
service Deployment, and the network rules (only the orchestrator is reachable from outside
the namespace). Usage: check_manifests.py RENDERED.yaml  (exit 1 on a violation)
"""
import sys
from pathlib import Path

import yaml

SERVICES = {"raffle": 50050, "strategy": 50051, "activity": 50052, "award": 50053}


METRICS_PORTS = {"raffle": 51050, "strategy": 51051, "activity": 51052, "award": 51053}


def metrics_scrape(rule, selected):
    """An ingress rule that opens only `selected`'s metrics port, only to the monitoring namespace."""
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    sources = rule.get("from") or []
    ports = [p.get("port") for p in rule.get("ports", [])]
    return (
        bool(sources)
        and all(set(s) == {"namespaceSelector"} and s["namespaceSelector"].get("matchLabels") == monitoring for s in sources)
        and ports == [METRICS_PORTS.get(selected)]
    )


def main(path):
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    errors = []
    err = errors.append
    configmaps = by_kind.get("ConfigMap", {})
    for svc, port in SERVICES.items():
        dep = by_kind.get("Deployment", {}).get(svc)
        if not dep:
            err(f"{svc}: no Deployment")
            continue
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        if spec.get("replicas", 1) < 2:
            err(f"{svc}: replicas < 2")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if c.get(probe, {}).get("grpc", {}).get("port") != port:
                err(f"{svc}: {probe} is not a native gRPC probe on {port}")
        metrics = METRICS_PORTS[svc]
        if {p["name"]: p["containerPort"] for p in c.get("ports", [])}.get("metrics") != metrics:
            err(f"{svc}: no container port `metrics` on {metrics}")
        ann = spec["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(metrics):
            err(f"{svc}: not annotated for Prometheus scraping on {metrics}")
        sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
        if not psc.get("runAsNonRoot") or not psc.get("runAsUser"):
            err(f"{svc}: not runAsNonRoot with a numeric user")
        if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
            err(f"{svc}: root file system not read-only or privilege escalation allowed")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            err(f"{svc}: capabilities not dropped")
        res = c.get("resources", {})
        if not res.get("requests") or not res.get("limits", {}).get("memory"):
            err(f"{svc}: resource requests/limits missing")
        if not pod.get("topologySpreadConstraints"):
            err(f"{svc}: no topology spread")
        # terminationGracePeriodSeconds must cover the drain and the grace of the binary.
        env = {}
        for ref in c.get("envFrom", []):
            if "configMapRef" in ref:
                env.update(configmaps[ref["configMapRef"]["name"]].get("data", {}))
        drain = int(env.get("BM_SHUTDOWN__DRAIN_DELAY_MS", 1000))
        grace = int(env.get("BM_SHUTDOWN__GRACE_MS", 10000))
        tgps = pod.get("terminationGracePeriodSeconds", 30)
        if tgps * 1000 < drain + grace:
            err(f"{svc}: terminationGracePeriodSeconds {tgps} < drain {drain} ms + grace {grace} ms")
        rp = c["readinessProbe"]
        if drain < rp.get("periodSeconds", 10) * 1000 * rp.get("failureThreshold", 3):
            err(f"{svc}: the drain ({drain} ms) is shorter than readiness needs to notice NOT_SERVING")
        if svc not in by_kind.get("PodDisruptionBudget", {}):
            err(f"{svc}: no PodDisruptionBudget")
        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(svc)
        if not hpa or hpa["spec"]["scaleTargetRef"]["name"] != svc:
            err(f"{svc}: no HorizontalPodAutoscaler")
        if svc not in by_kind.get("Service", {}):
            err(f"{svc}: no Service")
        if svc != "raffle" and f"{svc}-migrate" not in by_kind.get("Job", {}):
            err(f"{svc}: no migration Job")
    # Network: a default deny, and the only ingress rules open to other namespaces are raffle's
    # and, on each service's metrics port only, the `monitoring` namespace's (Prometheus).
    policies = by_kind.get("NetworkPolicy", {})
    deny = policies.get("default-deny")
    if not deny or deny["spec"]["podSelector"] or sorted(deny["spec"]["policyTypes"]) != ["Egress", "Ingress"]:
        err("no default-deny NetworkPolicy for ingress and egress")
    for name, pol in policies.items():
        selected = pol["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in pol["spec"].get("ingress", []):
            sources = rule.get("from")
            open_to_all = not sources or any("namespaceSelector" in s or "ipBlock" in s for s in sources)
            if open_to_all and selected != "raffle" and not metrics_scrape(rule, selected):
                err(f"NetworkPolicy {name}: ingress from outside the namespace to {selected or 'every pod'}")
    for svc in ("strategy", "activity", "award"):
        if f"{svc}-egress" not in policies:
            err(f"{svc}: no egress NetworkPolicy to its database, Redis and NATS")
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    if not errors:
        print(f"{path}: {len(docs)} objects; Deployments, probes, security, PDB, HPA, Jobs and NetworkPolicies as required")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(max(main(p) for p in sys.argv[1:]))
