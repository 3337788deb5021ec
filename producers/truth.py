"""Ground truth: one JSON line per record delivered, in delivery order.

``{"n": 0, "partition_key": "...", "payload": "<exact payload text>", "labels": {...}}``; a
payload that is not valid UTF-8 is written as ``payload_b64`` instead. Labels say what the
producer injected (``duplicate_of``: the event id of the original, ...). The user records of a
KPL aggregate are listed one by one. Tests and the chaos harness compute the expected outputs
from this file alone.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import IO, Any

import msgspec

from producers.block import Block

_encode = msgspec.json.Encoder().encode


class TruthWriter:
    """Appends truth lines to a file (or only counts them when no file is given)."""

    def __init__(self, path: str | Path | None) -> None:
        self._file: IO[bytes] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = Path(path).open("wb")  # noqa: SIM115 - closed by close()/__exit__
        self.count = 0

    def write_block(self, block: Block) -> None:
        if block.members is not None:
            for members in block.members:
                self.write_block(members)
            return
        if self._file is None:
            self.count += len(block)
            return
        labels = block.labels
        lines = []
        for row, (key, data) in enumerate(zip(block.keys, block.data, strict=True)):
            try:
                payload = b'"payload":' + _encode(data.decode("utf-8"))
            except UnicodeDecodeError:
                payload = b'"payload_b64":"' + base64.b64encode(data) + b'"'
            lines.append(
                b'{"n":%d,"partition_key":%s,%s,"labels":%s}\n'
                % (self.count + row, _encode(key), payload, _encode(labels.get(row, {})))
            )
        self._file.write(b"".join(lines))
        self.count += len(block)

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
