"""Builds monitoring/grafana/ivr-dashboard.json with Grafana's own foundation SDK.

The dashboard is written with the SDK's typed builders (so its JSON follows Grafana's dashboard
schema) and committed; tests/monitoring checks the file is what this script builds and that
every query names a metric the server exports. Run after changing a panel:

    .venv/bin/python monitoring/grafana/build.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUTPUT = Path(__file__).with_name("ivr-dashboard.json")
SOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).datasource(SOURCE)


def series(title: str, unit: str, *queries: prometheus.Dataquery) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .unit(unit)
        .datasource(SOURCE)
        .draw_style(GraphDrawStyle.LINE)
        .line_width(2)
        .height(8)
        .span(12)
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def single(title: str, unit: str, expr: str) -> stat.Panel:
    return (
        stat.Panel().title(title).unit(unit).datasource(SOURCE).height(4).span(6)
        .with_target(query(expr, title))
    )  # fmt: skip


def build() -> dict[str, Any]:
    board = (
        dashboard.Dashboard("ivr: callers, webhooks and dependencies")
        .uid("ivr-overview")
        .tags(["ivr", "ivr-engine"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_row(dashboard.Row("Callers"))
        .with_panel(single("Calls in progress", "short", "sum(ivr_active_calls)"))
        .with_panel(
            single(
                "Calls routed on by a fault (5 min)",
                "percentunit",
                "sum(rate(ivr_fallbacks_total[5m])) / sum(rate(ivr_calls_ended_total[5m]))",
            )
        )
        .with_panel(
            single(
                "Verified, of calls with a status (1 h)",
                "percentunit",
                'sum(rate(ivr_calls_ended_total{idv_status="identified_and_verified"}[1h]))'
                ' / sum(rate(ivr_calls_ended_total{idv_status!=""}[1h]))',
            )
        )
        .with_panel(
            single(
                "Webhook p99 (5 min)",
                "s",
                "histogram_quantile(0.99, sum by (le) (rate(ivr_webhook_seconds_bucket[5m])))",
            )
        )
        .with_panel(
            series(
                "Calls ended by ID&V status",
                "cps",
                query("sum by (idv_status) (rate(ivr_calls_ended_total[5m]))", "{{idv_status}}"),
            )
        )
        .with_panel(
            series(
                "Calls routed on by a fault, by cause",
                "cps",
                query("sum by (cause) (rate(ivr_fallbacks_total[5m]))", "{{cause}}"),
            )
        )
        .with_panel(
            series(
                "Step outcomes (top 10)",
                "cps",
                query(
                    "topk(10, sum by (step, outcome) (rate(ivr_step_outcomes_total[5m])))",
                    "{{step}} {{outcome}}",
                ),
            )
        )
        .with_row(dashboard.Row("Webhooks"))
        .with_panel(
            series(
                "Events by gateway",
                "reqps",
                query("sum by (adapter) (rate(ivr_events_total[5m]))", "{{adapter}}"),
                query("sum(rate(ivr_duplicate_events_total[5m]))", "redeliveries answered"),
            )
        )
        .with_panel(
            series(
                "Webhook latency",
                "s",
                query(
                    "histogram_quantile(0.5, sum by (le) (rate(ivr_webhook_seconds_bucket[5m])))",
                    "p50",
                ),
                query(
                    "histogram_quantile(0.99, sum by (le) (rate(ivr_webhook_seconds_bucket[5m])))",
                    "p99",
                ),
            )
        )
        .with_panel(
            series(
                "Requests refused and unknown calls",
                "reqps",
                query("sum by (reason) (rate(ivr_rejected_requests_total[5m]))", "{{reason}}"),
                query("sum(rate(ivr_unknown_call_events_total[5m]))", "unknown call"),
                query("sum(rate(ivr_deadline_overruns_total[5m]))", "deadline overrun"),
            )
        )
        .with_row(dashboard.Row("Journal"))
        .with_panel(
            series(
                "Journal records",
                "short",
                query("max(ivr_journal_queue_depth)", "records waiting"),
                query("sum(rate(ivr_journal_records_written_total[5m]))", "records stored/s"),
                query("sum(rate(ivr_journal_write_errors_total[5m]))", "write errors/s"),
                query("sum(rate(ivr_journal_records_dropped_total[5m]))", "records dropped/s"),
                query("max(ivr_journal_spool_records)", "records spooled"),
                query(
                    "sum(rate(ivr_journal_spool_dropped_records_total[5m]))",
                    "spooled records lost/s",
                ),
            )
        )
        .with_row(dashboard.Row("Abuse"))
        .with_panel(
            series(
                "Rate limits and shedding",
                "ops",
                query("sum by (limit) (rate(ivr_limited_total[5m]))", "limited: {{limit}}"),
                query("sum(rate(ivr_shed_total[5m]))", "connections shed"),
                query("sum(ivr_open_connections)", "open connections"),
            )
        )
    )
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built


def text() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(text(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT}\n")
