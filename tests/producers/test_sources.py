"""The simulated sources: valid events of the schema, in event-time order, that behave like
their fleet (intervals, drifting readings, draining batteries, offline gaps, sessions)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import msgspec
import numpy as np
import pytest

from pipeline.config import shipped_event_type
from producers.iot import PROFILES, IotFleet
from producers.run import DEFAULT_START_MS, ProduceOptions, _paced, source_blocks
from producers.web import WebUsers

HOUR = 3_600_000


def test_iot_events_are_valid_ordered_and_behave_like_their_devices():
    fleet = IotFleet(60, seed=3, start_ms=DEFAULT_START_MS, offline_per_hour=1.0)
    blocks = list(fleet.blocks(DEFAULT_START_MS + HOUR))
    data = [d for b in blocks for d in b.data]
    events = [msgspec.json.decode(d, type=shipped_event_type("iot").struct) for d in data]
    ts = np.array([e.ts for e in events])
    assert (
        (np.diff(ts) >= 0).all() and ts[0] >= DEFAULT_START_MS and ts[-1] < DEFAULT_START_MS + HOUR
    )
    assert [k for b in blocks for k in b.keys] == [e.device_id for e in events]
    assert len({e.event_id for e in events}) == len(events)
    by_device = defaultdict(list)
    for event in events:
        by_device[event.device_id].append(event)
    offline = 0
    for reports in by_device.values():
        profile = PROFILES[reports[0].device_type]
        gaps = np.diff([e.ts for e in reports])
        interval = profile.interval_s * 1000
        assert gaps.min() >= 0.9 * interval - 1
        offline += int((gaps > 1.1 * interval + 1).sum())  # an offline period
        assert len({e.site for e in reports}) == 1
        temperature = [e.temperature for e in reports]
        assert None not in temperature and max(np.abs(np.diff(temperature))) < 2.0  # drifts
        if profile.humidity is None:
            assert {e.humidity for e in reports} == {None}
        if profile.battery_drain_per_hour is None:
            assert {e.battery for e in reports} == {None}
        else:
            drops = np.diff([e.battery for e in reports])
            assert (drops <= 0.011).sum() >= len(drops) - 1  # drains (one replacement at most)
    assert offline > 10
    types = Counter(e.device_type for e in events)
    assert set(types) == set(PROFILES)


def test_web_clicks_are_valid_ordered_and_come_in_sessions():
    users = WebUsers(80, seed=5, start_ms=DEFAULT_START_MS)
    data = [d for b in users.blocks(DEFAULT_START_MS + HOUR) for d in b.data]
    clicks = [msgspec.json.decode(d, type=shipped_event_type("web").struct) for d in data]
    assert set(msgspec.json.decode(data[0])) == set(shipped_event_type("web").fields)
    ts = np.array([round(c.recordTime * 1000) for c in clicks])
    assert (np.diff(ts) >= 0).all()
    sessions = defaultdict(list)
    oses = defaultdict(set)
    for click in clicks:
        sessions[click.session_id].append(click)
        oses[click.cognitoId].add(click.os)
    assert all(len(os) == 1 for os in oses.values())  # a user keeps their OS
    per_user = Counter(c[0].cognitoId for c in sessions.values())
    assert max(per_user.values()) >= 3  # users come back
    moved = total = 0
    for session in sessions.values():
        gaps = np.diff([round(c.recordTime * 1000) for c in session])
        assert len({c.cognitoId for c in session}) == 1
        assert gaps.size == 0 or (gaps.min() >= 799 and gaps.max() <= 1201)
        moved += sum(a.quadrant != b.quadrant for a, b in itertools.pairwise(session))
        total += len(session) - 1
    assert 0.05 < moved / total < 0.1  # a new quadrant drawn on 10% of clicks (same one: 1/4)
    shares = Counter(c.os for c in clicks)
    assert shares["Android"] > shares["Windows Phone"]


@pytest.mark.parametrize("source", ["iot", "web"])
def test_count_bounds_a_run_exactly(source):
    options = ProduceOptions(source=source, devices=30, count=1_234, seed=2)
    assert sum(len(b) for b in source_blocks(options)) == 1_234


def test_speed_releases_each_record_only_once_its_simulated_time_has_come(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr("producers.run.time.monotonic", lambda: clock["now"])
    monkeypatch.setattr(
        "producers.run.time.sleep", lambda s: clock.__setitem__("now", clock["now"] + s)
    )
    options = ProduceOptions(devices=20, minutes=2, seed=1, speed=60.0)
    released = []
    for block in _paced(source_blocks(options), options):
        simulated = DEFAULT_START_MS + (clock["now"] - 100.0) * 60_000
        assert block.ts.max() <= simulated
        released.append((simulated - block.ts.min(), len(block)))
    assert len(released) > 10 and max(lag for lag, _ in released) < 60 * 50 + 1_000


def test_a_start_outside_the_encodable_years_is_refused():
    with pytest.raises(ValueError, match="between 2001-09-09 and 2286"):
        IotFleet(5, seed=1, start_ms=0)
