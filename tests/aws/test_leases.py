"""The KCL lease table before the KCL made it: no table means no leases, not an error.

(Seeding and the end-of-stream watch are tested with the KCL's operations, tests/kcl.)"""

from __future__ import annotations

import pytest

from pipeline.aws.leases import LeaseTable
from pipeline.core.errors import ConfigError

pytestmark = pytest.mark.emulator


def test_a_missing_lease_table_has_no_leases(client, name):
    table = LeaseTable(client("dynamodb"), name)
    assert not table.exists()
    assert table.leases() == []


def test_seeding_needs_a_position_the_kcl_would_sync_to(client, name):
    with pytest.raises(ConfigError, match="cannot pre-seed leases at 'AT_TIMESTAMP'"):
        LeaseTable(client("dynamodb"), name).seed([], "AT_TIMESTAMP")
