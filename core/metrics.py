"""Prometheus metrics: what an operator graphs and alerts on. Never labelled with secrets.

Labels are bounded sets (status, connector type, outcome, job name), so the series count
stays small whatever the tenants do.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "intrex_bot_updates_total",
    "Telegram updates handled, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "intrex_bot_update_seconds",
    "Time to handle one Telegram update.",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SSL_CHECKS = Counter(
    "intrex_ssl_checks_total",
    "Certificate checks, by result status.",
    ["status"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "intrex_deliveries_total",
    "Delivery attempts, by connector type and outcome (sent, retry, dead_letter).",
    ["connector", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "intrex_job_seconds",
    "Duration of scheduled jobs.",
    ["job"],
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
JOB_FAILURES = Counter(
    "intrex_job_failures_total", "Scheduled job runs that failed.", ["job"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "intrex_notification_queue_depth",
    "Delivery steps due now and not yet sent (all tenants).",
    registry=REGISTRY,
)
QUEUE_OLDEST_SECONDS = Gauge(
    "intrex_notification_queue_oldest_seconds",
    "Age of the oldest due, unsent delivery step.",
    registry=REGISTRY,
)
