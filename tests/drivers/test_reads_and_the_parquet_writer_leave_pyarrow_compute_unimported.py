"""The database readers reach Arrow's kernels without importing `pyarrow.compute`, which builds
~300 documented wrappers (~25 ms alone, 100+ ms while reader threads run): a PostgreSQL or
MariaDB -> Parquet run paid it before its first batch (docs/performance.md). The kernels they
use still give pyarrow.compute's results. (The Parquet writer calls no kernel at all:
test_parquet_dictionary_choice_calls_no_arrow_kernel.py.)"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from osiris.drivers.common.arrow_types import cast


@pytest.mark.parametrize("module", ["osiris.drivers.postgres.extractor", "osiris.drivers.postgres.extract",
                                    "osiris.drivers.mysql.extractor", "osiris.drivers.mysql.bulk",
                                    "osiris.drivers.files.parquet_writer"])
def test_importing_the_module_leaves_pyarrow_compute_unimported(module: str) -> None:
    code = f"import sys\nimport {module}\nprint('pyarrow.compute' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(("values", "target"), [
    (pa.array(["1.50", "-2.25", None], pa.string()), pa.decimal128(12, 2)),
    (pa.array([Decimal("1.5"), None], pa.decimal128(38, 10)), pa.decimal128(12, 2)),
    (pa.array([1, 2, None], pa.int64()), pa.int32()),
    (pa.chunked_array([pa.array(["2024-01-02 03:04:05"]), pa.array([None], pa.string())]), pa.timestamp("us")),
])
def test_cast_is_pyarrow_s_safe_cast(values: pa.Array, target: pa.DataType) -> None:
    assert cast(values, target).equals(pc.cast(values, target))


def test_cast_refuses_what_a_safe_cast_refuses() -> None:
    with pytest.raises(pa.ArrowInvalid):
        cast(pa.array([Decimal("1.234")], pa.decimal128(10, 3)), pa.decimal128(10, 2))
    with pytest.raises(pa.ArrowInvalid):
        cast(pa.array([2**40]), pa.int32())
