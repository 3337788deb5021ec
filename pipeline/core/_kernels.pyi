"""Type stub of the compiled core (pipeline/core/_kernels.pyx)."""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

class Column:
    def __init__(
        self,
        kind: str,
        values: Any,
        offsets: np.ndarray | None = None,
        valid: np.ndarray | None = None,
    ) -> None: ...

def column_of(array: pa.Array | pa.ChunkedArray) -> Column: ...

class KeyTable:
    def __len__(self) -> int: ...
    @property
    def slots(self) -> int: ...
    def key(self, entry: int) -> tuple[Any, ...]: ...
    def live(self) -> tuple[list[int], list[int], list[tuple[Any, ...]]]: ...
    def add(self, key: Sequence[Any], value: int, keep_larger: bool = False) -> int: ...
    def clear(self) -> None: ...

class IdTable(KeyTable):
    def remove_below(self, limit: int) -> int: ...

def first_seen(
    table: IdTable,
    ids: Column,
    times: np.ndarray,
    newest_before: np.ndarray,
    horizon_ms: int,
    bucket_ms: int,
) -> np.ndarray: ...
def split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def normalize(limbs: np.ndarray) -> np.ndarray: ...
def value(l0: int, l1: int, l2: int, l3: int) -> float: ...

class SlotMetric:
    name: str
    def grow(self, capacity: int) -> None: ...

class NumericMetric(SlotMetric):
    function: str
    integer: bool
    exact: bool
    rare: dict[int, int]
    def __init__(
        self,
        name: str,
        kind: str,
        integer: bool,
        has_field: bool,
        with_rare: Callable[[Sequence[Any], int], Sequence[Any]],
        rare_value: Callable[[Any], float | None],
    ) -> None: ...
    def fold(
        self,
        slots: np.ndarray,
        values: np.ndarray | None,
        valid: np.ndarray | None,
        condition: np.ndarray | None,
    ) -> list[int]: ...
    def add_rare(self, slot: int, units: int) -> None: ...
    def load(self, slot: int, state: Any, canonical: Callable[[Any], Any]) -> None: ...
    def states(self, slots: Sequence[int]) -> list[Any]: ...

class PlainMetric(SlotMetric):
    slots: list[Any]
    def __init__(self, name: str, finish: Callable[[Any], Any]) -> None: ...
    def states(self, slots: Sequence[int]) -> list[Any]: ...

def assign_slots(
    table: KeyTable, starts: np.ndarray, columns: list[Column]
) -> tuple[np.ndarray, set[int]]: ...
def record_fields(records: list[Any]) -> tuple[list[bytes], np.ndarray]: ...
def take(items: list[Any], rows: np.ndarray) -> list[Any]: ...
def starting_with(payloads: list[bytes], prefix: bytes) -> list[int]: ...
def closing_slots(table: KeyTable, last_start: int) -> np.ndarray: ...
def emit(
    table: KeyTable,
    slots: np.ndarray,
    metrics: list[Any],
    result_type: type,
    job: str,
    size_ms: int,
    group_by: tuple[str, ...],
    names: tuple[str, ...],
) -> list[Any]: ...

class RecordScanner:
    def __init__(self, specs: list[tuple[Any, ...]], time_field: int, time_unit: int) -> None: ...
    def scan(
        self, payloads: list[bytes], max_bytes: int
    ) -> tuple[
        list[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
        np.ndarray | None,
        np.ndarray,
        list[int],
    ]: ...
