"""DynamoDB fidelity patch: transactions that cost what AWS's cost, not a copy of the table.

moto 5.2.5's ``TransactWriteItems`` deep-copies every table it touches, once per item of the
transaction, to be able to roll back: a 100-item transaction on a 20,000-item table copies two
million items. The results table grows with every window, so the emulator slowed down
quadratically and its memory churned by gigabytes in long runs. This patch backs up only the
items the transaction touches and restores exactly those on cancellation; moto's own logic
(conditions, per-item errors, cancellation reasons) runs unchanged.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_lock = threading.Lock()
_original = DynamoDBBackend.transact_write_items


def _key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    table_name = op.get("TableName")
    if not table_name or table_name not in backend.tables:
        return None
    if op_type != "Put":
        return op.get("Key")
    table = backend.tables[table_name]
    attrs = op.get("Item", {})
    if table.hash_key_attr not in attrs:
        return None
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None and table.range_key_attr in attrs:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _table_itself(self: Table, memo: dict[int, Any]) -> Table:
    return self


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    backups: list[tuple[str, dict[str, Any], Any]] = []
    for item in transact_items:
        if len(item) != 1:
            continue  # moto rejects it before writing anything
        op_type, op = next(iter(item.items()))
        key = _key(self, op_type, op)
        if key is not None:
            current = self.get_item(op["TableName"], key)
            backups.append((op["TableName"], key, copy.deepcopy(current)))
    with _lock:
        Table.__deepcopy__ = _table_itself  # moto's whole-table "backup" becomes a no-op
        try:
            _original(self, transact_items)
        except Exception:
            for table_name, key, before in reversed(backups):
                if before is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before.to_json()["Attributes"])
            raise
        finally:
            del Table.__deepcopy__


def install() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
