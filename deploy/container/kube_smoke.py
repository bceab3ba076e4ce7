#!/usr/bin/env python3
"""Turns the rendered dev overlay into what `podman kube play` (4.3) can run on one host
against the host's Postgres, Redis and NATS, for `make k8s-smoke`:

- Deployments of the four services, each with replicas 1 and hostNetwork, without
  containerPorts (kube play has no
  Services, so the pods reach each other and the infrastructure on 127.0.0.1); their
  ConfigMaps with the gRPC ports moved to PORT_BASE..+3 and this run's Redis/NATS prefixes;
- the migration Jobs as Pods (restartPolicy Never): kube play knows no Job;
- the Secrets' values as plain env of the containers that reference them, pointing at this
  run's databases, Redis and NATS on the host (kube play 4.3 has no Secret support); their
  other keys (the internal token) as rendered;
- everything else (Services, NetworkPolicies, PDBs, HPAs, StatefulSets, the Namespace)
  left out: kube play does not act on them; kubernetes-validate checks them.
Container images, args, envFrom ConfigMaps, securityContext (user,
read-only root, capabilities) and resources stay exactly as rendered.

Usage: kube_smoke.py RENDERED.yaml OUT_DIR RUN_ID PORT_BASE PG_BASE REDIS_URL NATS_URL
"""
import base64
import sys
from pathlib import Path

import yaml

PORTS = {"raffle": 0, "strategy": 1, "activity": 2, "award": 3}


def main(rendered, out_dir, run_id, port_base, pg_base, redis_url, nats_url):
    port_base = int(port_base)
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    port = {svc: port_base + i for svc, i in PORTS.items()}
    secret_env = {
        f"{svc}-secrets": {
            "BM_DATABASE__URL": f"{pg_base}/bmsmoke_{run_id}_{svc}",
            "BM_REDIS__URL": redis_url,
            "BM_NATS__URL": nats_url,
        }
        for svc in ("strategy", "activity", "award")
    }
    secret_env["raffle-secrets"] = {"BM_REDIS__URL": redis_url, "BM_NATS__URL": nats_url}
    secret_names = {}
    secret_data = {}
    for d in docs:
        if d["kind"] == "Secret":
            for base in secret_env:
                if d["metadata"]["name"].startswith(base + "-") or d["metadata"]["name"] == base:
                    secret_names[d["metadata"]["name"]] = base
                    rendered_values = {k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()}
                    rendered_values.update(d.get("stringData") or {})
                    secret_data[d["metadata"]["name"]] = rendered_values

    def fix_pod(spec):
        spec["hostNetwork"] = True
        for c in spec["containers"]:
            # With hostNetwork the container listens on the host directly; kube play 4.3
            # refuses port mappings there.
            c.pop("ports", None)
            env_from = []
            for ref in c.get("envFrom", []):
                if "secretRef" in ref:
                    name = ref["secretRef"]["name"]
                    values = {**secret_data[name], **secret_env[secret_names[name]]}
                    c.setdefault("env", [])
                    c["env"] = [{"name": k, "value": v} for k, v in values.items()] + c["env"]
                else:
                    env_from.append(ref)
            c["envFrom"] = env_from
        return spec

    config, jobs, services = [], [], []
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind == "ConfigMap":
            svc = next((s for s in PORTS if name.startswith(f"{s}-config")), None)
            if svc:
                data = d["data"]
                data["BM_GRPC__PORT"] = str(port[svc])
                if svc == "raffle":
                    for target in ("strategy", "activity", "award"):
                        data[f"BM_DOWNSTREAM__{target.upper()}_URL"] = f"http://127.0.0.1:{port[target]}"
                data["BM_REDIS__KEY_PREFIX"] = f"bmsmoke:{run_id}:"
                data["BM_NATS__SUBJECT_PREFIX"] = f"bmsmoke_{run_id}"
                data["BM_NATS__STREAM_PREFIX"] = f"BMSMOKE_{run_id.upper()}"
                config.append(d)
        elif kind == "Deployment" and name in PORTS:
            d["spec"]["replicas"] = 1  # hostNetwork: a second pod would need the same port
            fix_pod(d["spec"]["template"]["spec"])
            services.append(d)
        elif kind == "Job":
            template = d["spec"]["template"]
            spec = fix_pod(template["spec"])
            spec["restartPolicy"] = "Never"
            jobs.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "labels": template["metadata"].get("labels", {})},
                         "spec": spec})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "jobs.yaml").write_text(yaml.safe_dump_all(config + jobs, sort_keys=False))
    (out / "services.yaml").write_text(yaml.safe_dump_all(config + services, sort_keys=False))
    for svc in PORTS:
        print(f"{svc} {port[svc]}")


if __name__ == "__main__":
    main(*sys.argv[1:])
