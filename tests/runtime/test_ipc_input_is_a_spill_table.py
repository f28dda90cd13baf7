"""runtime.testing.ipc_input gives drivers' tests a SpillTable, re-scannable like the real one."""

from __future__ import annotations

import pyarrow as pa


def test_ipc_input_is_a_spill_table(tmp_path):
    from osiris.runtime.local.spill import SpillTable
    from osiris.runtime.testing import ipc_input

    table = pa.table({"a": [1, 2, 3]})
    spilled = ipc_input("up", table, tmp_path)
    assert isinstance(spilled, SpillTable)
    assert (spilled.name, spilled.num_rows, spilled.schema) == ("up", 3, table.schema)
    assert spilled.reader().read_all().equals(table)
    assert spilled.reader().read_all().equals(table)  # re-scannable
    assert spilled.dataset().to_table().equals(table)
