"""The one grammar of durations and instants (every caller's spellings, old and new)."""

from __future__ import annotations

import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.times import format_duration, parse_duration, parse_instant

NOW = 1_767_312_000_000  # 2026-01-02T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("1m", 60_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        ("30d", 2_592_000_000),
        (" 2 m ", 120_000),  # spaces, as job declarations allowed
        ("0s", 0),
        ("1h30m", 5_400_000),
        ("2m 30s", 150_000),
        ("1.5s", 1_500),
    ],
)
def test_durations(text, ms):
    assert parse_duration(text, "k") == ms


@pytest.mark.parametrize("text", ["1 minute", "", "m", "-1s", "10", "1M", "1w", "1s2"])
def test_a_bad_duration_is_named_with_its_key_and_examples(text):
    with pytest.raises(ConfigError) as error:
        parse_duration(text, "jobs.j.window")
    assert str(error.value) == (
        f"jobs.j.window: {text!r} is not a duration such as 500ms, 30s, 1m, 1h, 1d"
    )


def test_format_duration_is_the_inverse_on_whole_units():
    assert [format_duration(ms) for ms in (500, 30_000, 60_000, 5_400_000, 86_400_000)] == [
        "500ms",
        "30s",
        "1m",
        "90m",
        "1d",
    ]


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("now", NOW),
        ("2h", NOW - 7_200_000),
        ("90m", NOW - 5_400_000),
        ("1767225600000", 1_767_225_600_000),
        ("2026-01-01", 1_767_225_600_000),
        ("2026-01-01T10:00:00Z", 1_767_261_600_000),
        ("2026-01-01T10:00:00", 1_767_261_600_000),  # no zone: UTC
        ("2026-01-01T12:00:00+02:00", 1_767_261_600_000),
        ("2026-01-01T10:00:00.250Z", 1_767_261_600_250),
    ],
)
def test_instants(text, ms):
    assert parse_instant(text, NOW, "--since") == ms


def test_a_bad_instant_is_named_with_its_option():
    with pytest.raises(ConfigError) as error:
        parse_instant("2026-13-01", NOW, "--since")
    assert str(error.value) == (
        "--since: '2026-13-01' is not an instant such as 2026-01-01, 2026-01-01T10:00:00Z, "
        "epoch ms, 2h (ago) or now"
    )
