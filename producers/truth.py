"""Ground truth: one JSON line per record sent, in send order.

``{"n": 0, "partition_key": "...", "payload": "<exact payload text>", "labels": {...}}``; a
payload that is not valid UTF-8 is written as ``payload_b64`` instead. Labels say what the
producer injected (``duplicate_of``: the event id of the original, ...). Tests and the chaos
harness compute the expected outputs from this file alone.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import IO, Any

import msgspec

from producers.chaos import Outgoing

_encode = msgspec.json.Encoder().encode


class TruthWriter:
    """Appends truth lines to a file (or does nothing when no file is given)."""

    def __init__(self, path: str | Path | None) -> None:
        self._file: IO[bytes] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = Path(path).open("wb")  # noqa: SIM115 - closed by close()/__exit__
        self.count = 0

    def write(self, record: Outgoing) -> None:
        if self._file is None:
            self.count += 1
            return
        line: dict[str, Any] = {"n": self.count, "partition_key": record.partition_key}
        try:
            line["payload"] = record.data.decode("utf-8")
        except UnicodeDecodeError:
            line["payload_b64"] = base64.b64encode(record.data).decode("ascii")
        line["labels"] = record.labels
        self._file.write(_encode(line) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_truth(path: str | Path) -> list[dict[str, Any]]:
    """Every truth line, decoded (payload bytes under ``data``)."""
    out = []
    with Path(path).open("rb") as f:
        for raw in f:
            line = msgspec.json.decode(raw)
            if "payload" in line:
                line["data"] = line["payload"].encode("utf-8")
            else:
                line["data"] = base64.b64decode(line["payload_b64"])
            out.append(line)
    return out
