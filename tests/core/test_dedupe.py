"""Dedupe by event id over the horizon: duplicates dropped and counted whatever the batch split,
copies beyond the horizon late, memory bounded, merged memories holding an id once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import shipped_event_type as event_type
from pipeline.core.dedupe import Deduper
from pipeline.core.shard import ShardCore
from pipeline.testing import iot_event, records
from tests.core.shards import JOBS, T0, core, event_lists, metrics, run


def test_duplicates_are_dropped_and_counted():
    c = core()
    out = c.process(records([iot_event(1, T0), iot_event(1, T0), iot_event(2, T0 + 1)]))
    assert out.counters.duplicates == 1
    assert [r.sequence_number for r in out.events] == ["1", "3"]
    (result,) = c.close_windows(end_of_stream=True).results
    assert metrics(result)["events"] == 2


@settings(max_examples=100, deadline=None)
@given(event_lists, st.randoms(use_true_random=False), st.lists(st.integers(0, 300), max_size=5))
def test_redelivering_any_subset_in_any_split_changes_nothing(events, rng, splits):
    replayed = list(events)
    horizon = ShardCore(event_type("iot"), JOBS, "s").deduper.horizon_ms
    for event in rng.sample(events, k=len(events) // 2):  # at-least-once: again, somewhere later
        position = replayed.index(event) + 1
        # ...within the dedupe horizon: later than that, a copy is late (see the next test)
        newest, limit = max(e["ts"] for e in replayed[:position]), position
        while limit < len(replayed) and max(newest, replayed[limit]["ts"]) <= event["ts"] + horizon:
            newest = max(newest, replayed[limit]["ts"])
            limit += 1
        replayed.insert(rng.randint(position, limit), dict(event))
    results, late, _ = run(replayed, splits)
    expected_results, expected_late, _ = run(events, [])
    assert results == expected_results
    # a late event's copy is late again: the late output's ids (as the lake counts them) are equal
    assert set(late) == set(expected_late)


def test_a_copy_beyond_the_dedupe_horizon_is_late_never_counted():
    first, newer = iot_event(1, T0), iot_event(2, T0 + 10 * 60_000)
    results, late, _ = run([first, newer, dict(first)], [])
    assert late == ["e-1"]
    assert sum(m["events"] for m in results.values()) == 2


@settings(max_examples=60, deadline=None)
@given(event_lists, st.integers(0, 120))
def test_state_is_bounded_by_the_dedupe_horizon(events, _):
    _, _, core = run(sorted(events, key=lambda e: e["ts"]), [])
    if events:
        newest = max(e["ts"] for e in events)
        horizon = core.deduper.horizon_ms + core.deduper.bucket_ms
        remembered = sum(1 for e in events if e["ts"] >= newest - horizon)
        assert len(core.deduper) <= len({e["event_id"] for e in events})
        assert len(core.deduper) <= remembered


def test_a_merged_child_of_two_split_siblings_holds_their_common_memory_once():
    grandparent = core()
    grandparent.process(records([iot_event(1, T0), iot_event(2, T0 + 1_000)]))
    grandparent.close_windows()
    siblings = [core(), core()]
    for sibling in siblings:  # a split: both children adopt the parent's dedupe memory
        sibling.adopt_parent(grandparent.snapshot())
        sibling.close_windows()
    merged = core()
    for sibling in siblings:  # then the two children are merged
        merged.adopt_parent(sibling.snapshot())
    assert len(merged.deduper) == 2
    merged.process(records([iot_event(3, T0 + 20 * 60_000)], first_sequence=5))  # forgets both
    assert len(merged.deduper) == 1


def test_merged_memories_keep_an_id_once_in_its_newest_bucket():
    deduper = Deduper(60_000, bucket_ms=1_000)
    deduper.load_state({"5": ["a", "b"]})
    deduper.merge({"7": ["a"], "3": ["b", "c"]})
    assert deduper.to_state() == {"7": ["a"], "5": ["b"], "3": ["c"]}
