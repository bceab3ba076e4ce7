#!/usr/bin/env python3
"""Checks deploy/grafana/bigmarket.json: valid JSON, every panel has a query, and every
bm_* metric it queries is emitted by the code (a `metrics::counter!/gauge!/histogram!`
name in shared/ or services/). Exit 1 on a problem."""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
dashboard = json.loads((ROOT / "deploy/grafana/bigmarket.json").read_text())
emitted = set()
for path in list((ROOT / "shared").rglob("*.rs")) + list((ROOT / "services").rglob("*.rs")):
    emitted |= set(re.findall(r'(?:counter|gauge|histogram)!\(\s*"(bm_[a-z_]+)"', path.read_text()))
problems = []
for panel in dashboard["panels"]:
    exprs = [t.get("expr", "") for t in panel.get("targets", [])]
    if not exprs or not all(exprs):
        problems.append(f"panel {panel['title']!r} has no query")
    for expr in exprs:
        # Metric names only: drop label matchers `{…}` and grouping `by (…)` first.
        bare = re.sub(r"\{[^}]*\}|\bby \([^)]*\)", " ", expr)
        for name in re.findall(r"\b(bm_[a-z_]+)", bare):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if base not in emitted:
                problems.append(f"panel {panel['title']!r} queries {name}, which no service emits")
for p in problems:
    print(f"ERROR: {p}")
print(f"dashboard: {len(dashboard['panels'])} panels, {len(emitted)} metrics emitted by the code")
sys.exit(1 if problems else 0)
