"""Per-shard status files and their Prometheus exposition over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumers.kcl.metrics import MetricsServer, health, prometheus_text
from consumers.kcl.status import RateMeter, ShardStatus, StatusFile, read_statuses

STATUS = ShardStatus(
    shard_id="shardId-000000000000",
    state="processing",
    pid=42,
    updated_s=1_767_225_700.0,
    records=1_000,
    events=950,
    duplicates=40,
    late=3,
    dead_letters=7,
    results=12,
    records_per_second=250.5,
    millis_behind_latest=1_800,
    checkpoint="990",
    checkpoint_s=1_767_225_690.5,
)


def test_status_files_are_replaced_atomically_and_read_back(tmp_path):
    file = StatusFile(tmp_path, STATUS.shard_id)
    file.write(ShardStatus(shard_id=STATUS.shard_id, state="initializing", pid=1, updated_s=0))
    file.write(STATUS)
    (tmp_path / "garbage.json").write_text("{not json")
    assert read_statuses(tmp_path) == [STATUS]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.json", f"{STATUS.shard_id}.json"]


def test_records_per_second_over_a_sliding_window():
    now = [0.0]
    meter = RateMeter(window_s=10.0, clock=lambda: now[0])
    assert meter.observe(0) == 0.0
    now[0] = 2.0
    assert meter.observe(100) == 50.0
    now[0] = 12.0
    assert meter.observe(600) == 50.0  # (600 - 100) / 10: the point at 0 s has left the window
    now[0] = 20.0
    assert meter.observe(600) == pytest.approx(500 / 18)  # the point at 2 s still spans it


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, by name and labels (as a scraper reads them)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_prometheus_exposition_per_shard():
    text = prometheus_text([STATUS], daemon_up=True)
    shard = (("shard", "shardId-000000000000"),)
    states = {
        ("kpipe_shard_state", (*shard, ("state", state))): float(state == "processing")
        for state in ("initializing", "processing", "ended", "lease_lost", "shut_down", "failed")
    }
    assert samples(text) == {
        ("kpipe_kcl_daemon_up", ()): 1.0,
        ("kpipe_shard_records_total", shard): 1000.0,
        ("kpipe_shard_events_total", shard): 950.0,
        ("kpipe_shard_duplicates_total", shard): 40.0,
        ("kpipe_shard_late_events_total", shard): 3.0,
        ("kpipe_shard_dead_letters_total", shard): 7.0,
        ("kpipe_shard_window_results_total", shard): 12.0,
        ("kpipe_shard_records_per_second", shard): 250.5,
        ("kpipe_shard_millis_behind_latest", shard): 1800.0,
        ("kpipe_shard_last_checkpoint_timestamp_seconds", shard): 1767225690.5,
        **states,
    }
    assert "# TYPE kpipe_shard_records_total counter" in text
    assert "# TYPE kpipe_shard_millis_behind_latest gauge" in text


def test_health_names_the_failed_shard_or_the_stopped_daemon():
    failed = ShardStatus(
        shard_id="shardId-000000000001", state="failed", pid=1, updated_s=0, error="SinkError: x"
    )
    assert health([STATUS], True) == (True, "ok")
    assert health([STATUS, failed], True) == (False, "shardId-000000000001: SinkError: x")
    assert health([STATUS], False) == (False, "the MultiLangDaemon is not running")


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_the_server_serves_metrics_health_and_status():
    up = [True]
    server = MetricsServer(lambda: [STATUS], lambda: up[0], port=0, host="127.0.0.1").start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        code, content_type, body = _get(f"{base}/metrics")
        assert (code, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        assert body == prometheus_text([STATUS], True)
        assert _get(f"{base}/healthz") == (200, "text/plain", "ok\n")
        code, _, body = _get(f"{base}/status")
        assert code == 200 and json.loads(body)[0]["checkpoint"] == "990"
        up[0] = False
        assert _get(f"{base}/healthz") == (
            503,
            "text/plain",
            "the MultiLangDaemon is not running\n",
        )
        assert _get(f"{base}/nope")[0] == 404
    finally:
        server.stop()
