#!/usr/bin/env python3
"""Writes deploy/grafana/bigmarket.json, the Grafana dashboard of big-market's Prometheus
metrics (docs/operations.md). Run it after changing the panels; `make k8s-check` verifies
that every metric the dashboard queries is one the services emit (check_dashboard.py).
"""
import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SERVICE = 'job=~"$job"'


def panel(title, exprs, unit="short", x=0, y=0, w=12, h=8, legend=None, kind="timeseries"):
    return {
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": (legend or [""] * len(exprs))[i]}
            for i, expr in enumerate(exprs)
        ],
    }


panels = [
    panel("Requests / s by method", [f"sum by (method) (rate(bm_grpc_requests_total{{{SERVICE}}}[1m]))"],
          "reqps", 0, 0, legend=["{{method}}"]),
    panel("Errors / s by gRPC and big-market code",
          [f'sum by (method, code, bm_code) (rate(bm_grpc_requests_total{{{SERVICE}, code!="0"}}[1m]))'],
          "reqps", 12, 0, legend=["{{method}} {{code}} {{bm_code}}"]),
    panel("Latency p50 / p99 by method",
          [f"histogram_quantile(0.5, sum by (le, method) (rate(bm_grpc_request_duration_seconds_bucket{{{SERVICE}}}[5m])))",
           f"histogram_quantile(0.99, sum by (le, method) (rate(bm_grpc_request_duration_seconds_bucket{{{SERVICE}}}[5m])))"],
          "s", 0, 8, legend=["p50 {{method}}", "p99 {{method}}"]),
    panel("Draws / s by award and rule", ["sum by (award_id, rule_model) (rate(bm_draws_total[1m]))"],
          "ops", 12, 8, legend=["award {{award_id}} {{rule_model}}"]),
    panel("Partakes / s (new vs reused order) and quota rejections / s by quota",
          ["sum by (reused) (rate(bm_partakes_total[1m]))", "sum by (quota) (rate(bm_quota_rejections_total[1m]))"],
          "ops", 0, 16, legend=["partake reused={{reused}}", "rejected: {{quota}}"]),
    panel("Award stock left", ["max by (strategy_id, award_id) (bm_award_stock_remaining)"],
          "short", 12, 16, legend=["{{strategy_id}}/{{award_id}}"]),
    panel("Sku stock left", ["max by (sku) (bm_sku_stock_remaining)"], "short", 0, 24, legend=["sku {{sku}}"]),
    panel("Events redelivered and parked / s by consumer",
          ["sum by (durable) (rate(bm_events_redelivered_total[5m]))", "sum by (durable) (rate(bm_events_parked_total[5m]))"],
          "ops", 12, 24, legend=["redelivered {{durable}}", "parked {{durable}}"]),
    panel("Outbox backlog (award): tasks not yet published, age of the oldest",
          ["max(bm_outbox_pending_tasks)", "max(bm_outbox_oldest_pending_seconds)"],
          "short", 0, 40, w=24, legend=["pending tasks", "oldest pending (s)"]),
    panel("Group commit: statements / s and rows per statement (strategy draw records, outbox completions)",
          ["sum(rate(bm_draw_record_batch_size_count[1m]))",
           "sum(rate(bm_draw_record_batch_size_sum[5m])) / sum(rate(bm_draw_record_batch_size_count[5m]))",
           "sum by (job) (rate(bm_outbox_complete_batch_size_count[1m]))",
           "sum by (job) (rate(bm_outbox_complete_batch_size_sum[5m])) / sum by (job) (rate(bm_outbox_complete_batch_size_count[5m]))"],
          "short", 0, 48, w=24, legend=["draw records: statements / s", "draw records per statement",
                                         "{{job}} outbox completions: statements / s", "{{job}} tasks per completion"]),
    panel("Postgres pool connections (open / idle)", [f"sum by (job, state) (bm_db_pool_connections{{{SERVICE}}})"],
          "short", 0, 32, legend=["{{job}} {{state}}"]),
    panel("Redis pool connections (open / idle)", [f"sum by (job, state) (bm_redis_pool_connections{{{SERVICE}}})"],
          "short", 12, 32, legend=["{{job}} {{state}}"]),
]
for i, p in enumerate(panels):
    p["id"] = i + 1

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}],
    "title": "big-market",
    "uid": "bigmarket",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "time": {"from": "now-1h", "to": "now"},
    "refresh": "30s",
    "tags": ["bigmarket"],
    "templating": {"list": [{
        "name": "job", "label": "service", "type": "query", "datasource": DS,
        "query": "label_values(bm_grpc_requests_total, job)", "includeAll": True, "multi": True,
        "current": {"text": "All", "value": "$__all"}, "refresh": 2,
    }]},
    "panels": panels,
}
out = Path(__file__).with_name("bigmarket.json")
out.write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out}")
