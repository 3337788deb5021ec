"""Alerts: declared rules, evaluated on window results, published to SNS once per rule, key and
window (a replay, a re-run or a second evaluator publishes nothing more)."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from types import SimpleNamespace

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.alerts.complete import complete_before
from pipeline.alerts.deliver import AlertPublisher, claim_lifetime_s, topic_arn
from pipeline.alerts.evaluate import evaluate
from pipeline.alerts.rules import compile_rules
from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ProgressTable, ResultsTable
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.provision import Provisioner
from pipeline.aws.sinks import AwsOutputSink
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.core.errors import ConfigError
from pipeline.core.records import RawRecord
from pipeline.core.shard import ShardCore
from pipeline.testing import BOUNDED
from tests.reports import truth
from tests.reports.lake_run import (
    GAP_DEVICE,
    SILENT_DEVICE,
    START_MS,
    lake_config,
)

JOBS = load_config(env={}).window_jobs
MINUTE = 60_000
RULES_TOML = """
[[alerts]]
name = "hot"
job = "device_minute"
when = "temperature_max > 25"

[[alerts]]
name = "silent"
job = "device_minute"
when = "silent for 2 windows"

[[alerts]]
name = "fewer_events"
job = "device_minute"
when = "events drops 50%"
"""


def rules(*declared: tuple[str, str, str]):
    return compile_rules([SimpleNamespace(name=n, job=j, when=w) for n, j, w in declared], JOBS)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (("x", "nope", "events > 1"), "alerts.x.job: no job 'nope'"),
        (("x", "device_minute", "heat > 1"), "alerts.x.when: 'heat' is not a metric of job"),
        (("x", "device_minute", "events is big"), "alerts.x.when: cannot read 'events is big'"),
        (("x", "web_second", "unique_users drops 150%"), "a drop is between 0 and 100%"),
        (("X", "device_minute", "events > 1"), "alerts.X: rule name must be lower_snake_case"),
    ],
)
def test_bad_rules_stop_the_start_up_naming_the_rule(declared, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        rules(declared)


@pytest.mark.parametrize("command", [["ddl"], ["alerts", "run"]])
def test_a_bad_rule_stops_any_command_at_start_up_in_one_line(tmp_path, command):
    path = tmp_path / "c.toml"
    path.write_text('[[alerts]]\nname = "x"\njob = "nope"\nwhen = "events > 1"\n')
    result = CliRunner().invoke(main, ["--config", str(path), *command])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: alerts.x.job: no job 'nope' (jobs: {sorted(job.name for job in JOBS)})"
    ]


def test_a_file_that_replaces_the_jobs_keeps_only_alerts_on_its_jobs(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[[jobs]]\nname = "j"\nsource = "iot"\nwindow = "1m"\n[jobs.metrics]\nn = "count()"\n'
    )
    assert load_config(path, env={}).alerts == ()
    path.write_text(path.read_text() + '[[alerts]]\nname = "a"\njob = "j"\nwhen = "n > 3"\n')
    assert [a.name for a in load_config(path, env={}).alerts] == ["a"]


def _row(device: str, minute: int, **metrics: float) -> dict:
    start = START_MS + minute * MINUTE
    return {
        "job": "device_minute",
        "device_id": device,
        "device_type": "meter",
        "site": "s",
        "window_start_ms": start,
        "window_end_ms": start + MINUTE,
        **metrics,
    }


def test_band_silence_and_drop_alerts_with_stable_ids():
    rows = [_row("a", m, events=10, battery_min=50.0) for m in range(6)]
    rows += [_row("b", 0, events=10), _row("b", 4, events=4, battery_min=5.0)]
    alerts = evaluate(
        rules(
            ("low", "device_minute", "battery_min < 10 or battery_min > 90"),
            ("quiet", "device_minute", "silent for 3 windows"),
            ("drop", "device_minute", "events drops by 50%"),
        ),
        rows,
    )
    assert [(a.rule, dict(a.key)["device_id"], a.window_start_ms - START_MS) for a in alerts] == [
        ("low", "b", 4 * MINUTE),
        ("quiet", "b", 3 * MINUTE),  # minutes 1-3 missing: the 3rd missing window
    ]
    assert (
        alerts[0].alert_id
        == f"low|device_minute|device_id=b,device_type=meter,site=s|{START_MS + 4 * MINUTE}"
    )
    assert (
        alerts[0].message
        == "low: device_id=b, device_type=meter, site=s: battery_min = 5.0 (battery_min < 10)"
    )
    drops = evaluate(
        rules(("drop", "device_minute", "events drops 50%")),
        [_row("a", 0, events=10), _row("a", 1, events=4), _row("a", 3, events=1)],
    )
    assert [a.window_start_ms for a in drops] == [START_MS + MINUTE]  # minute 3: not adjacent


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 12), st.integers(0, 9)), max_size=40),
    st.randoms(),
)
def test_alerts_depend_on_the_results_not_on_their_order_or_copies(cells, rng):
    """A replay re-sends results in any order, some twice: the alerts are the same."""
    rows = {(d, m): _row(d, m, events=e, battery_min=float(e * 10)) for d, m, e in cells}
    declared = rules(
        ("low", "device_minute", "battery_min < 30"),
        ("quiet", "device_minute", "silent for 2 windows"),
        ("drop", "device_minute", "events drops 40%"),
    )
    once = evaluate(declared, list(rows.values()))
    replayed = list(rows.values()) + rng.sample(list(rows.values()), len(rows) // 2)
    rng.shuffle(replayed)
    assert evaluate(declared, replayed) == once


def _expected_alert_ids(sent) -> set[str]:
    """From the truth (plain Python): the windows of each device, then the three rules."""
    windows = truth.device_windows(sent)
    by_device: dict[str, dict[int, list[dict]]] = {}
    for (device, start), events in windows.items():
        by_device.setdefault(device, {})[start] = events
    newest = max(start for _, start in windows)
    ids = set()
    for device, starts in by_device.items():
        first = starts[min(starts)][0]
        key = f"device_id={device},device_type={first['device_type']},site={first['site']}"
        ordered = sorted(starts)
        for start in ordered:
            if max(e["temperature"] for e in starts[start]) > 25:
                ids.add(f"hot|device_minute|{key}|{start}")
            previous = starts.get(start - MINUTE)
            if previous and len(starts[start]) < len(previous) * 0.5:
                ids.add(f"fewer_events|device_minute|{key}|{start}")
        for last, following in zip(ordered, [*ordered[1:], newest + MINUTE], strict=True):
            if (following - last) // MINUTE - 1 >= 2:
                ids.add(f"silent|device_minute|{key}|{last + 2 * MINUTE}")
    return ids


@pytest.mark.emulator
def test_alerts_reach_sns_once_per_rule_key_and_window(emulator, iot_lake, tmp_path):
    config, clients, sent = iot_lake.config, iot_lake.clients, iot_lake.sent
    sns, sqs = clients.client("sns"), clients.client("sqs")
    url = sqs.create_queue(QueueName=config.names.alerts_topic)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(
        TopicArn=topic_arn(sns, config.names.alerts_topic), Protocol="sqs", Endpoint=arn["QueueArn"]
    )
    (tmp_path / "alerts.toml").write_text(RULES_TOML)
    env = iot_lake.env()
    args = ["--config", str(tmp_path / "alerts.toml"), "--endpoint-url", emulator.endpoint_url]
    first = CliRunner().invoke(main, [*args, "alerts", "run"], env=env)
    second = CliRunner().invoke(main, [*args, "alerts", "run"], env=env)  # a re-run, a replay

    expected = _expected_alert_ids(sent)
    assert {f"silent|device_minute|device_id={SILENT_DEVICE}" in i for i in expected} == {
        True,
        False,
    }
    assert any(f"device_id={GAP_DEVICE}" in i and i.startswith("silent") for i in expected)
    published = [json.loads(line)["alert_id"] for line in first.stdout.splitlines()]
    assert sorted(published) == sorted(expected)
    assert first.exit_code == second.exit_code == 0
    assert second.stdout == ""
    assert f"0 alerts published, {len(expected)} already sent" in second.output
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        received += [json.loads(json.loads(m["Body"])["Message"])["alert_id"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    assert sorted(received) == sorted(expected)


@pytest.mark.emulator
def test_two_evaluators_publish_each_alert_once_and_a_dead_claim_is_taken_over(iot_lake):
    config, clients = iot_lake.config, iot_lake.clients
    alerts = evaluate(
        rules(("low", "device_minute", "battery_min < 10")),
        [_row(d, 0, battery_min=1.0) for d in "abcdef"],
    )
    arn = topic_arn(clients.client("sns"), f"{config.names.alerts_topic}-{uuid.uuid4().hex[:6]}")
    now = [1000.0]

    def publisher():
        return AlertPublisher(
            clients.client("sns"),
            arn,
            clients.dynamodb,
            config.names.state_table,
            lambda: now[0],
            keep_s=claim_lifetime_s(config),
        )

    order = list(alerts)
    random.Random(1).shuffle(order)
    a, b = publisher().deliver(alerts[:4]), publisher().deliver(order)
    assert len(a.published) + len(b.published) == 6 and b.already_sent == 4
    # a claim expires (the table's TTL) when nothing can bring its result back: 30 days of
    # results here, longer than the stream's 24 hours
    claim = clients.dynamodb.get_item(
        TableName=config.names.state_table, Key={"pk": {"S": f"alert|{alerts[0].alert_id}"}}
    )["Item"]
    assert claim["status"] == {"S": "sent"}
    assert claim["expires_at"] == {"N": str(1000 + 30 * 86_400)}

    stale = alerts[0].alert_id.replace("device_id=a", "device_id=z")
    dead = evaluate(
        rules(("low", "device_minute", "battery_min < 10")), [_row("z", 0, battery_min=1.0)]
    )
    assert dead[0].alert_id == stale
    clients.dynamodb.put_item(  # an evaluator claimed it, then died before publishing
        TableName=config.names.state_table,
        Item={
            "pk": {"S": f"alert|{stale}"},
            "status": {"S": "pending"},
            "claimed_at": {"N": "900"},
        },
    )
    assert publisher().deliver(dead).already_sent == 1  # 100 s ago: may still be publishing
    now[0] = 1300.0
    assert [x.alert_id for x in publisher().deliver(dead).published] == [stale]


def _clicks(seconds: int, seed: int) -> list[dict]:
    """Clicks of 60 users, each about once a second, but only 5 of them during seconds 20-22
    (a true drop of unique users, and a true recovery)."""
    rng = random.Random(seed)
    clicks = []
    for second in range(seconds):
        users = range(5) if 20 <= second < 23 else range(60)
        for user in users:
            if rng.random() < 0.9:
                clicks.append(
                    {
                        "event_id": f"c-{second}-{user}",
                        "recordTime": (START_MS + second * 1000 + rng.randrange(1000)) / 1000,
                        "cognitoId": f"user-{user}",
                        "os": "Android",
                        "quadrant": "A",
                    }
                )
    return sorted(clicks, key=lambda c: c["recordTime"])


@pytest.mark.emulator
def test_three_shards_progressing_unevenly_raise_no_spurious_alert_and_every_true_one_once(
    emulator,
):
    """``web_second`` merges every shard's part of each second: evaluated while the parts are
    still coming in, a window holding only the quickest shard's part looks like a drop."""
    config = lake_config(emulator.endpoint_url, f"g{uuid.uuid4().hex[:10]}", "web")
    config = dataclasses.replace(config, stream=dataclasses.replace(config.stream, shards=3))
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    shards = [s.shard_id for s in KinesisStream(clients.kinesis, config.names.stream).shards()]
    per_shard: dict[str, list[RawRecord]] = {s: [] for s in shards}
    for click in _clicks(40, seed=4):
        shard = shards[int(click["cognitoId"].split("-")[1]) % 3]
        records = per_shard[shard]
        records.append(RawRecord(msgspec.json.encode(click), "k", str(len(records) + 1)))
    rule = compile_rules(
        [SimpleNamespace(name="drop", job="web_second", when="unique_users drops 50%")],
        config.window_jobs,
    )
    cores = {s: ShardCore(config.stream_type, config.stream_jobs, s, BOUNDED) for s in shards}
    sink, progress = (
        AwsOutputSink(config, clients),
        ProgressTable(clients.dynamodb, config.names.state_table, config.consumer.application),
    )
    publisher = AlertPublisher(
        clients.client("sns"),
        topic_arn(clients.client("sns"), config.names.alerts_topic),
        clients.dynamodb,
        config.names.state_table,
    )
    results = ResultsTable(clients.dynamodb, config.names.results_table)
    published, spurious_without_completeness = [], set()
    speeds = dict(zip(shards, (400, 150, 60), strict=True))  # records per round
    for round_ in range(12):
        for shard, core in cores.items():
            batch = per_shard[shard][round_ * speeds[shard] : (round_ + 1) * speeds[shard]]
            sink.write(core.process(batch), shard)
            progress.record(shard, core.newest_event_time_ms, False, ())
        rows = list(results.scan())
        listing = [(s, ()) for s in shards]
        now = evaluate(rule, rows, complete_before(listing, progress.read()))
        published += [a.alert_id for a in publisher.deliver(now).published]
        spurious_without_completeness |= {a.alert_id for a in evaluate(rule, rows)}
    for shard, core in cores.items():  # every shard finishes: all windows complete
        sink.write(core.process(per_shard[shard][12 * speeds[shard] :]), shard)
        sink.write(core.close_windows(end_of_stream=True), shard)
        progress.record(shard, core.newest_event_time_ms, True, ())
    rows = list(results.scan())
    final = evaluate(rule, rows, complete_before([(s, ()) for s in shards], progress.read()))
    published += [a.alert_id for a in publisher.deliver(final).published]

    true_alerts = {a.alert_id for a in evaluate(rule, rows)}  # on the final, complete results
    assert true_alerts == {f"drop|web_second|-|{START_MS + 20_000}"}  # the one true drop
    assert sorted(published) == sorted(true_alerts)  # each true alert once, nothing spurious
    assert spurious_without_completeness - true_alerts  # (partial windows did look like drops)
