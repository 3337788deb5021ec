"""Raw records and checkpoints: positions order as integers, never as strings."""

from pipeline.core.records import Checkpoint, RawRecord


def test_positions_order_by_sequence_number_as_an_integer_then_sub_sequence():
    nine, ten = RawRecord(b"", "k", "9", 3), RawRecord(b"", "k", "10")
    assert nine.position < ten.position < RawRecord(b"", "k", "10", 1).position
    assert Checkpoint.of(nine).key == nine.position


def test_a_checkpoint_shows_its_sub_sequence_only_inside_an_aggregate():
    assert (str(Checkpoint("42")), str(Checkpoint("42", 7))) == ("42", "42/7")
