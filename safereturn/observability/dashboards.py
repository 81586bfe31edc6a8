"""The operators' Grafana dashboards: the platform at a glance, one per service, the legal
deadlines, the support money, the notifications. ``make dashboards`` writes them to
``deploy/observability/grafana/dashboards`` (a test checks the files are what this makes).

Group-wide figures (lag, pending, open tasks, the delivery queue) are exported by one replica
at a time but may briefly come from two: they are taken with ``max``, counters with ``sum``.
A panel that shows a count of failures falls back to zero per series, so it shows a flat line
rather than "no data" when all is well."""

import json
import sys
from dataclasses import replace
from pathlib import Path

from safereturn.observability import DEPLOY
from safereturn.observability.grafana import Dashboard, Query, Row, panel
from safereturn.observability.prometheus import JOB
from shared.names import Service

FOLDER = DEPLOY / "grafana" / "dashboards"
RATE = "$__rate_interval"
"""Grafana's window for ``rate``: at least four scrapes."""
RANGE = "$__range"
"""The dashboard's whole time range."""
HTTP = "http_server_duration_milliseconds"
TIME_TO_DECIDE = "safereturn_verification_decision_time_days_bucket"


def or_zero(expr: str, of: str, by: str) -> str:
    """``expr``, or zero for each ``by`` series of the counter ``of`` where it has none."""
    return f"{expr} or sum by ({by}) (rate({of}[{RATE}])) * 0"


# --- panels shared by several dashboards ----------------------------------------------------

REPORTS_IN = panel(
    "Reports in (per second)",
    "Reports intake accepted (202) over HTTP, and submissions it took from agency systems' "
    "stream; repeats of a report already received are not counted.",
    Query(f'sum(rate({HTTP}_count{{service="intake", http_target="/v1/reports", '
          f'http_method="POST", http_status_code="202"}}[{RATE}]))', "over HTTP"),
    Query(f'sum(rate(safereturn_events_consumed_total{{service="intake", '
          f'stream="safereturn:{{submissions}}", outcome="processed"}}[{RATE}]))',
          "on the submissions stream"),
)  # fmt: skip
OPEN_TASKS_BY_AGE = panel(
    "Open verification tasks by time since reception",
    "Verifications not decided, by how long ago the report was received.",
    Query("sum by (age) (max by (age, province) (safereturn_verification_open_tasks))", "{{age}}"),
    stacked=True,
)
OVERDUE_VERIFICATIONS = panel(
    "Verifications past their legal due date",
    "Tasks whose legal time limit has passed; each was escalated to the province.",
    Query("sum(max by (province) (safereturn_verification_overdue_tasks))", "overdue"),
    thresholds=(1,),
)
DAYS_TO_DECISION = panel(
    "Days from reception to decision",
    "Median and 90th percentile of the days from a report's reception to the first "
    "identification decision, over the dashboard's period.",
    Query(f"histogram_quantile(0.5, sum by (le) (increase({TIME_TO_DECIDE}[{RANGE}])))", "median"),
    Query(f"histogram_quantile(0.9, sum by (le) (increase({TIME_TO_DECIDE}[{RANGE}])))",
          "90th percentile"),
    unit="d", kind="stat",
)  # fmt: skip
APPROVALS_WAITING = panel(
    "Support applications waiting, by stage",
    "Applications for support not decided yet, by the stage they wait at (an approval waits "
    "for its second officer).",
    Query("max by (stage) (safereturn_support_open_applications)", "{{stage}}"),
    stacked=True,
)
APPLICATIONS_LATE = panel(
    "Support applications past their legal limit",
    "Applications whose current stage has passed the limit the law sets for it.",
    Query("max by (stage) (safereturn_support_overdue_applications)", "{{stage}}"),
    thresholds=(1,),
)
DISBURSED_BY_KIND = panel(
    "VND disbursed in the period, by kind",
    "Money paid to victims over the dashboard's period, by kind of support.",
    Query(f"sum by (kind) (increase(safereturn_support_disbursed_vnd_total[{RANGE}]))",
          "{{kind}}"),
    unit="suffix: ₫", kind="bargauge",
)  # fmt: skip
NOTIFY_QUEUE = panel(
    "Deliveries not sent, by status",
    "Notify's queue: pending, retrying after a failure, being sent, and failed for good.",
    Query("max by (status, channel) (safereturn_notify_queue)", "{{status}} {{channel}}"),
    stacked=True,
)
NOTIFY_ATTEMPTS = panel(
    "Delivery attempts by outcome",
    "Every attempt, by channel and how it ended; a failed attempt is retried with backoff "
    "until the delivery's attempts are used up.",
    Query(f"sum by (channel, outcome) (rate(safereturn_notify_attempts_total[{RATE}]))",
          "{{channel}} {{outcome}}"),
)  # fmt: skip
BREAKERS_OPEN = panel(
    "Circuit breakers open",
    "Endpoints left alone after failures in a row (or on trial), by channel.",
    Query("sum by (channel) (safereturn_notify_breakers_open)", "{{channel}}"),
    thresholds=(1,),
)


def _platform() -> Dashboard:
    consumed = "safereturn_events_consumed_total"
    return Dashboard("safereturn-platform", "SafeReturn — platform overview",
        "Is every report flowing, where is a backlog building, what is failing.", (
        Row("Flow", (
            panel("Services up", "Each service's /metrics answering Prometheus.",
                  Query(f'min by (service) (up{{job="{JOB}"}})', "{{service}}"),
                  kind="stat", width=6),
            replace(REPORTS_IN, width=8),
            panel("Events published per stream", "Events the outboxes put on each stream.",
                  Query(f"sum by (stream) (rate(safereturn_events_published_total[{RATE}]))",
                        "{{stream}}"), width=10),
        )),
        Row("Backlogs", (
            panel("Consumer lag", "Entries on a stream a group has not read yet.",
                  Query("max by (stream, group) (safereturn_consumer_lag)",
                        "{{group}} ← {{stream}}"), width=8),
            panel("Pending", "Entries a group has read and not acknowledged yet.",
                  Query("max by (stream, group) (safereturn_consumer_pending)",
                        "{{group}} ← {{stream}}"), width=8),
            panel("Oldest pending entry", "How long the oldest unacknowledged entry has waited.",
                  Query("max by (stream, group) (safereturn_consumer_oldest_pending_age_seconds)",
                        "{{group}} ← {{stream}}"), unit="s", width=8),
            panel("Outbox backlog", "Events committed and not yet published, per service.",
                  Query("sum by (service) (safereturn_outbox_backlog)", "{{service}}"), width=8),
            panel("Oldest outbox event", "How long the oldest unpublished event has waited.",
                  Query("max by (service) (safereturn_outbox_oldest_age_seconds)", "{{service}}"),
                  unit="s", width=8, thresholds=(60, 300)),
            panel("Consumers per group", "Consumers reading for each group (0: nothing reads).",
                  Query("max by (stream, group) (safereturn_consumer_consumers)",
                        "{{group}} ← {{stream}}"), width=8),
        )),
        Row("Failures", (
            panel("Dead letters", "Entries a group gave up on, per stream: `safereturn dlq list`.",
                  Query("max by (stream) (safereturn_stream_dead_letters)", "{{stream}}"),
                  width=8, thresholds=(1,)),
            panel("Events not processed", "Entries handled otherwise than processed or ignored "
                  "(dead-lettered, retried), per service and outcome.",
                  Query(or_zero(f'sum by (service, outcome) (rate({consumed}'
                                f'{{outcome!~"processed|ignored"}}[{RATE}]))', consumed,
                                "service"), "{{service}} {{outcome}}"), width=8),
            panel("HTTP 5xx", "Server errors per service.",
                  Query(or_zero(f'sum by (service) (rate({HTTP}_count'
                                f'{{http_status_code=~"5.."}}[{RATE}]))', f"{HTTP}_count",
                                "service"), "{{service}}"), width=8),
            panel("Stream length", "Entries kept on each stream (trimmed by retention).",
                  Query("max by (stream) (safereturn_stream_length)", "{{stream}}")),
            panel("Redis memory", "Memory Redis uses, and its limit (0: none set).",
                  Query("max(safereturn_redis_memory_used_bytes)", "used"),
                  Query("max(safereturn_redis_memory_limit_bytes)", "limit"), unit="bytes"),
        )),
        Row("HTTP", (
            panel("Requests per route", "Requests per second by service and route.",
                  Query(f"sum by (service, http_target) (rate({HTTP}_count[{RATE}]))",
                        "{{service}} {{http_target}}")),
            panel("Latency per route (95th percentile)", "Time to answer, by service and route.",
                  Query(f"histogram_quantile(0.95, sum by (service, http_target, le) "
                        f"(rate({HTTP}_bucket[{RATE}])))", "{{service}} {{http_target}}"),
                  unit="ms"),
        )),
    ))  # fmt: skip


def _service(service: Service) -> Dashboard:
    s = f'service="{service}"'
    group = f'group="safereturn.{service}"'
    events = [
        panel("Events consumed", "Entries handled per second, by stream and outcome.",
              Query(f"sum by (stream, outcome) (rate(safereturn_events_consumed_total{{{s}}}"
                    f"[{RATE}]))", "{{stream}} {{outcome}}"), width=8),
        panel("Batch duration (95th percentile)", "Time to handle one batch read from a stream.",
              Query(f"histogram_quantile(0.95, sum by (stream, le) "
                    f"(rate(safereturn_consume_batch_duration_seconds_bucket{{{s}}}[{RATE}])))",
                    "{{stream}}"), unit="s", width=8),
        panel("Lag and pending", "Entries not read yet, and read but not acknowledged.",
              Query(f"max by (stream) (safereturn_consumer_lag{{{group}}})", "lag {{stream}}"),
              Query(f"max by (stream) (safereturn_consumer_pending{{{group}}})",
                    "pending {{stream}}"), width=8),
        panel("Outbox", "Events committed and not yet published; the oldest one's age.",
              Query(f"sum(safereturn_outbox_backlog{{{s}}})", "backlog"),
              Query(f"max(safereturn_outbox_oldest_age_seconds{{{s}}})", "oldest (s)"),
              width=8),
    ]  # fmt: skip
    if service != Service.STATS:  # stats publishes nothing
        events.append(panel(
            "Events published", "Events this service put on each stream, per second.",
            Query(f"sum by (stream) (rate(safereturn_events_published_total{{{s}}}[{RATE}]))",
                  "{{stream}}"), width=8))  # fmt: skip
    return Dashboard(f"safereturn-{service}", f"SafeReturn — {service}",
        f"The {service} service: its API, the events it handles and publishes, its process.", (
        Row("HTTP", (
            panel("Requests per route", "Requests per second by route and method.",
                  Query(f"sum by (http_target, http_method) (rate({HTTP}_count{{{s}}}[{RATE}]))",
                        "{{http_method}} {{http_target}}"), width=8),
            panel("Latency per route (95th percentile)", "Time to answer, by route.",
                  Query(f"histogram_quantile(0.95, sum by (http_target, le) "
                        f"(rate({HTTP}_bucket{{{s}}}[{RATE}])))", "{{http_target}}"),
                  unit="ms", width=8),
            panel("Responses by status", "Answers per second by HTTP status code.",
                  Query(f"sum by (http_status_code) (rate({HTTP}_count{{{s}}}[{RATE}]))",
                        "{{http_status_code}}"), width=8),
        )),
        Row("Events", tuple(events)),
        Row("Process", (
            panel("Memory (RSS)", "Resident memory of each replica.",
                  Query(f"process_resident_memory_bytes{{{s}}}", "{{instance}}"),
                  unit="bytes", width=6),
            panel("CPU", "CPU seconds per second of each replica.",
                  Query(f"rate(process_cpu_seconds_total{{{s}}}[{RATE}])", "{{instance}}"),
                  unit="percentunit", width=6),
            panel("Audit records appended", "Records added to the audit chain, per second.",
                  Query(f"sum(rate(safereturn_audit_appends_total{{{s}}}[{RATE}]))", "appended"),
                  width=6),
            panel("Signing-key refresh failures", "Failures to fetch intake's token keys.",
                  Query(f"sum(increase(safereturn_jwks_refresh_failures_total{{{s}}}[{RANGE}]))",
                        "failures"), kind="stat", width=6, thresholds=(1,)),
        )),
        *_own_rows(service),
    ))  # fmt: skip


def _own_rows(service: Service) -> tuple[Row, ...]:
    """What only this service can tell."""
    match service:
        case Service.INTAKE:
            tokens = panel(
                "Token requests by outcome", "Answers of the token endpoint (issued, refused, …).",
                Query(f"sum by (outcome) (rate(safereturn_token_requests_total[{RATE}]))",
                      "{{outcome}}"))  # fmt: skip
            return (Row("Reports and tokens", (REPORTS_IN, tokens)),)
        case Service.VERIFICATION:
            return (Row("Tasks", (OPEN_TASKS_BY_AGE, OVERDUE_VERIFICATIONS, DAYS_TO_DECISION)),)
        case Service.SUPPORT:
            return (Row("Applications and money",
                        (APPROVALS_WAITING, APPLICATIONS_LATE, DISBURSED_BY_KIND)),)  # fmt: skip
        case Service.NOTIFY:
            return (Row("Deliveries", (NOTIFY_QUEUE, NOTIFY_ATTEMPTS, BREAKERS_OPEN)),)
    return ()


def _deadlines() -> Dashboard:
    by_province = panel(
        "Open verification tasks by province", "Verifications not decided, per province code.",
        Query("sum by (province) (max by (age, province) (safereturn_verification_open_tasks))",
              "{{province}}"), kind="bargauge")  # fmt: skip
    overdue_by_province = panel(
        "Overdue verifications by province", "Tasks past their legal due date, per province.",
        Query("max by (province) (safereturn_verification_overdue_tasks)", "{{province}}"),
        kind="bargauge", thresholds=(1,))  # fmt: skip
    return Dashboard("safereturn-deadlines", "SafeReturn — legal deadlines",
        "Which legal time limits are slipping: verification (Law 53/2024) and support.", (
        Row("Verification", (OPEN_TASKS_BY_AGE, by_province, OVERDUE_VERIFICATIONS,
                             overdue_by_province, DAYS_TO_DECISION)),
        Row("Support", (APPROVALS_WAITING, APPLICATIONS_LATE)),
    ))  # fmt: skip


def _money() -> Dashboard:
    disbursed = "safereturn_support_disbursed_vnd_total"
    return Dashboard("safereturn-support-money", "SafeReturn — support money",
        "What money has gone out to victims, from which funding, and what waits for approval.", (
        Row("Disbursed", (
            DISBURSED_BY_KIND,
            panel("VND disbursed in the period, by funding", "State budget or donors.",
                  Query(f"sum by (funding) (increase({disbursed}[{RANGE}]))", "{{funding}}"),
                  unit="suffix: ₫", kind="stat"),
            panel("VND disbursed over time", "Payments as they are made, by funding.",
                  Query(f"sum by (funding) (increase({disbursed}[{RATE}]))", "{{funding}}"),
                  unit="suffix: ₫", stacked=True, width=24),
        )),
        Row("Waiting", (APPROVALS_WAITING, APPLICATIONS_LATE)),
    ))  # fmt: skip


def _notifications() -> Dashboard:
    ended = "safereturn_notify_deliveries_ended_total"
    attempts = "safereturn_notify_attempts_total"
    return Dashboard("safereturn-notifications", "SafeReturn — notifications",
        "Messages to agencies, people and integrators: sent, failed, retried, held back.", (
        Row("Outcomes", (
            panel("Sent", "Deliveries sent, per second and channel.",
                  Query(f'sum by (channel) (rate({ended}{{status="sent"}}[{RATE}]))',
                        "{{channel}}"), width=8),
            panel("Failed for good", "Deliveries that used up their attempts, per channel.",
                  Query(f'sum by (channel) (rate({ended}{{status="failed"}}[{RATE}]))',
                        "{{channel}}"), width=8, thresholds=(0.001,)),
            panel("Retries", "Failed attempts (each is retried until attempts run out).",
                  Query(f'sum by (channel) (rate({attempts}{{outcome="failed"}}[{RATE}]))',
                        "{{channel}}"), width=8),
            NOTIFY_ATTEMPTS,
            panel("Put off without an attempt", "Held back by an endpoint's rate limit or a pause.",
                  Query("sum by (channel, reason) "
                        f"(rate(safereturn_notify_deferred_total[{RATE}]))",
                        "{{channel}} {{reason}}")),
        )),
        Row("Queue and endpoints", (
            NOTIFY_QUEUE,
            panel("Delivery latency (95th percentile)", "From queued to accepted, by channel.",
                  Query("histogram_quantile(0.95, sum by (channel, le) (rate("
                        f"safereturn_notify_delivery_latency_seconds_bucket[{RATE}])))",
                        "{{channel}}"), unit="s", width=6),
            replace(BREAKERS_OPEN, width=6),
        )),
    ))  # fmt: skip


def dashboards() -> list[Dashboard]:
    return [_platform(), *(_service(name) for name in Service), _deadlines(), _money(),
            _notifications()]  # fmt: skip


def rendered(dashboard: Dashboard) -> str:
    return json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False) + "\n"


def write(folder: Path = FOLDER) -> list[Path]:
    """Write every dashboard as ``<uid>.json`` into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in dashboards():
        path = folder / f"{dashboard.uid}.json"
        path.write_text(rendered(dashboard))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER):
        sys.stdout.write(f"{path}\n")
