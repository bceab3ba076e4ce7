#!/usr/bin/env python3
"""The BM_* keys of compose, Kubernetes, the Dockerfile and `make up` against the config code.

Reads the configuration structs (shared/server/src/*.rs, services/*/src/lib.rs), turns
them into the set of environment keys each binary accepts (figment: `BM_` + path joined by
`__`, upper case; the structs deny unknown fields, so any other BM_* key stops the binary),
then checks:
  1. every BM_* key set anywhere for a service is one the service's code knows;
  2. compose and the Kubernetes dev overlay set the same keys for each service (server +
     migration step together), and the prod overlay the same non-secret ones;
  3. the keys of the dev Secrets are the keys the prod overlay expects in its Secrets.
Keys in PROD_ONLY are on in prod only, by design (ARCHITECTURE.md §8.16: caller
authentication is off in the demo and dev, on in prod; the rebate apps are the prod
Secret `raffle-rebate-apps`, absent in dev, where every Rebate is refused).
Usage: check_env_keys.py RENDERED_DEV.yaml RENDERED_PROD.yaml   (exit 1 on a mismatch)
"""
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["raffle", "strategy", "activity", "award"]
PROD_ONLY = {"raffle": {"BM_AUTH__CALLERS_FILE", "BM_REBATE__APPS_FILE"}}


def structs(paths):
    """name -> [(field, type)] of every `pub struct Name { pub field: Type, ... }`."""
    found = {}
    for path in paths:
        text = path.read_text()
        for m in re.finditer(r"pub struct (\w+)(?:<\w+>)?\s*\{(.*?)\n\}", text, re.S):
            fields = re.findall(r"^\s*pub (\w+): ([\w:<>]+),", m.group(2), re.M)
            found[m.group(1)] = fields
    return found


def keys_of(struct, all_structs, params, prefix="BM"):
    out = set()
    for field, typ in all_structs[struct]:
        typ = typ.split("::")[-1]
        typ = params.get(typ, typ)
        key = f"{prefix}_{field.upper()}" if prefix == "BM" else f"{prefix}__{field.upper()}"
        if typ in all_structs:
            out |= keys_of(typ, all_structs, params, key)
        else:
            out.add(key)
    return out


def code_keys():
    shared = sorted((ROOT / "shared/server/src").glob("*.rs"))
    files = shared + [ROOT / f"services/{s}/src/lib.rs" for s in SERVICES]
    all_structs = structs(files)
    result = {}
    for svc in SERVICES:
        lib = (ROOT / f"services/{svc}/src/lib.rs").read_text()
        m = re.search(r"pub type Settings = StatefulSettings<(\w+)>;", lib)
        if m:
            result[svc] = keys_of("StatefulSettings", all_structs, {"X": m.group(1)})
        else:
            result[svc] = keys_of("Settings", structs(shared + [ROOT / f"services/{svc}/src/lib.rs"]), {})
    return result


def compose_keys():
    doc = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    out = {s: set() for s in SERVICES}
    for name, spec in doc["services"].items():
        svc = name.removesuffix("-seed")
        if svc in out:
            env = spec.get("environment") or {}
            keys = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
            out[svc] |= {k for k in keys if k.startswith("BM_")}
    return out


def k8s_keys(rendered):
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    maps = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("ConfigMap", "Secret")}
    plain = {s: set() for s in SERVICES}
    secret = {s: set() for s in SERVICES}
    expected_secrets = {s: set() for s in SERVICES}
    for d in docs:
        if d["kind"] not in ("Deployment", "Job"):
            continue
        svc = d["metadata"]["labels"].get("app.kubernetes.io/name")
        if svc not in plain:
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            plain[svc] |= {e["name"] for e in c.get("env", []) if e["name"].startswith("BM_")}
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    cm = maps[("ConfigMap", ref["configMapRef"]["name"])]
                    plain[svc] |= {k for k in cm.get("data", {}) if k.startswith("BM_")}
                if "secretRef" in ref:
                    expected_secrets[svc].add(ref["secretRef"]["name"])
                    s = maps.get(("Secret", ref["secretRef"]["name"]))
                    if s:
                        secret[svc] |= {k for k in {**s.get("data", {}), **s.get("stringData", {})} if k.startswith("BM_")}
    return plain, secret, expected_secrets


def dockerfile_keys():
    text = (ROOT / "deploy/docker/Dockerfile").read_text()
    out = {s: set() for s in SERVICES}
    stage = None
    common = set()
    for line in text.splitlines():
        m = re.match(r"FROM \S+ AS (\w+)", line)
        if m:
            stage = m.group(1)
        for key in re.findall(r"\b(BM_[A-Z_]+)=", line) if line.startswith("ENV") else []:
            (out[stage] if stage in out else common).add(key)
    return {s: out[s] | common for s in SERVICES}


def up_keys():
    text = (ROOT / "deploy/local/up.sh").read_text()
    keys = set(re.findall(r"\b(BM_(?:GRPC|LOG|DATABASE|REDIS|NATS|SHUTDOWN|SERVICE|DOWNSTREAM|REBATE)__[A-Z_]+)=", text))
    return keys


def main():
    dev, prod = sys.argv[1], sys.argv[2]
    code = code_keys()
    errors = []
    comp = compose_keys()
    dev_plain, dev_secret, _ = k8s_keys(dev)
    prod_plain, prod_secret, prod_refs = k8s_keys(prod)
    docker = dockerfile_keys()
    up = up_keys()
    for svc in SERVICES:
        if not code[svc]:
            errors.append(f"{svc}: found no configuration keys in the code")
        for where, keys in [("deploy/compose.yaml", comp[svc]), ("k8s dev", dev_plain[svc] | dev_secret[svc]),
                            ("k8s prod", prod_plain[svc]), ("deploy/docker/Dockerfile", docker[svc])]:
            for key in sorted(keys - code[svc]):
                errors.append(f"{svc}: {where} sets {key}, which the {svc} binary does not know (it would refuse to start)")
        dev_all = dev_plain[svc] | dev_secret[svc]
        if comp[svc] != dev_all:
            errors.append(f"{svc}: compose and k8s dev differ: only compose {sorted(comp[svc] - dev_all)}, only k8s {sorted(dev_all - comp[svc])}")
        prod_only = PROD_ONLY.get(svc, set())
        if prod_only - prod_plain[svc]:
            errors.append(f"{svc}: the prod overlay must set {sorted(prod_only - prod_plain[svc])}")
        if prod_plain[svc] - prod_only != dev_plain[svc]:
            errors.append(f"{svc}: k8s prod and dev non-secret keys differ: {sorted((prod_plain[svc] - prod_only) ^ dev_plain[svc])}")
        if prod_secret[svc]:
            errors.append(f"{svc}: the prod overlay must not carry Secret values")
        if svc != "raffle" and not prod_refs[svc]:
            errors.append(f"{svc}: the prod overlay references no Secret")
        print(f"{svc:9} {len(code[svc]):2} keys in code; compose {len(comp[svc])}, k8s dev {len(dev_all)} "
              f"({len(dev_secret[svc])} from its Secret), prod {len(prod_plain[svc])} + Secret {sorted(prod_refs[svc])}")
    all_code = set().union(*code.values())
    for key in sorted(up - all_code):
        errors.append(f"deploy/local/up.sh sets {key}, which no binary knows")
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    if errors:
        return 1
    print("env keys: compose, k8s (dev, prod), Dockerfile and make up agree with the config code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
