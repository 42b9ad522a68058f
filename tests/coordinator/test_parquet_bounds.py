"""Issue 14 finding 2a: a tiny Parquet file with one huge compressed cell (a compression bomb).

Publishing refuses it from its page headers; the web preview of such a file (one stored before the
check existed) costs under 50 MiB. Peak memory is measured in a child process as the growth of
VmHWM (peak RSS, reset through /proc/self/clear_refs) while the preview runs; a positive control
shows the same measurement sees the ~200 MiB that plain decoding costs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthspace.coordinator.parquet_bounds import ParquetBoundsError, check_parquet_pages
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    parquet_bytes,
    publish,
)

BOMB_CELL_BYTES = 200 * 1024 * 1024
PREVIEW_BUDGET_BYTES = 50 * 1024 * 1024

_WRITE_BOMB = """
import sys, pyarrow as pa, pyarrow.parquet as pq
cell = "a" * {n}
table = pa.table({{"record_id": ["r0"], "text": [cell]}})
pq.write_table(table, sys.argv[1], compression="zstd", compression_level=19)
"""

_MEASURE = """
import json, sys
from pathlib import Path

def hwm_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM")

mode, path = sys.argv[1], sys.argv[2]
import pyarrow.parquet as pq
from synthspace.coordinator.web.preview import preview_parquet
with open(sys.argv[3], "rb") as fh:  # warm up imports and pyarrow's pools on a small file
    preview_parquet(fh, 10)
open("/proc/self/clear_refs", "w").write("5")
before = hwm_kib()
if mode == "preview":
    with open(path, "rb") as fh:
        p = preview_parquet(fh, 10)
    out = {"error": p.error, "rows": len(p.rows), "columns": p.columns}
else:  # positive control: decode the cell the way the old preview did
    t = pq.ParquetFile(path).read_row_group(0)
    out = {"rows": t.num_rows}
out["peak_growth_bytes"] = (hwm_kib() - before) * 1024
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.parquet"
    subprocess.run([sys.executable, "-c", _WRITE_BOMB.format(n=BOMB_CELL_BYTES), str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.parquet"
    path.write_bytes(parquet_bytes(20))
    return path


def _measure(mode: str, path: Path, small: Path) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, mode, str(path), str(small)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_bomb_is_small_on_disk(bomb: Path) -> None:
    assert bomb.stat().st_size < 64 * 1024  # the attack: kilobytes on disk, 200 MiB decoded


def test_page_check_refuses_the_bomb_and_passes_a_normal_file(bomb: Path, small: Path) -> None:
    import pyarrow.parquet as pq

    with open(bomb, "rb") as fh, pytest.raises(ParquetBoundsError, match="uncompressed"):
        check_parquet_pages(fh, pq.read_metadata(bomb), bomb.stat().st_size)
    with open(small, "rb") as fh:
        sizes = check_parquet_pages(fh, pq.read_metadata(small), small.stat().st_size)
    assert sizes.pages >= 4 and 0 < sizes.largest_page < 1024 * 1024


def test_preview_of_the_bomb_stays_under_50_mib(bomb: Path, small: Path) -> None:
    result = _measure("preview", bomb, small)
    print("bomb preview:", result)
    assert result["columns"] == ["record_id", "text"]
    assert result["rows"] == 0 and "no preview" in str(result["error"])
    assert isinstance(result["peak_growth_bytes"], int)
    assert result["peak_growth_bytes"] < PREVIEW_BUDGET_BYTES


def test_positive_control_plain_decoding_of_the_bomb_is_seen(bomb: Path, small: Path) -> None:
    result = _measure("decode", bomb, small)
    print("bomb plain decode:", result)
    assert isinstance(result["peak_growth_bytes"], int)
    assert result["peak_growth_bytes"] > BOMB_CELL_BYTES // 2


def test_preview_of_a_normal_file_shows_clipped_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthspace.coordinator.web.preview import MAX_CELL_CHARS, preview_parquet

    path = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"t": ["x" * 5000, None, "short"], "b": [b"\0" * 10, b"", None]}), path)
    with open(path, "rb") as fh:
        p = preview_parquet(fh, 10)
    assert p.error is None and len(p.rows) == 3
    assert len(p.rows[0][0]) == MAX_CELL_CHARS and p.rows[0][0].endswith("\u2026")
    assert p.rows[0][1] == "<10 bytes>" and p.rows[1][0] == "\u2205" and p.rows[2][0] == "short"


def test_publish_refuses_the_bomb(server: CoordinatorServer, org: OrgIdentity, bomb: Path) -> None:
    envelope, data = build_artifact(org, rows=1, data=bomb.read_bytes())
    r = publish(org.client(), envelope, data)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"] == "parquet_too_large", r.text
    # positive control: a normal file from the same org publishes
    envelope, data = build_artifact(org, rows=3)
    assert publish(org.client(), envelope, data).status_code == 201


def test_page_header_reader_fuzz_raises_only_its_named_error() -> None:
    import io

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from synthspace.coordinator.parquet_bounds import _read_page_header

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=300))
    def run(blob: bytes) -> None:
        try:
            _read_page_header(io.BytesIO(blob), 0, len(blob))
        except ParquetBoundsError:
            pass

    run()


class _CountingReader:
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        import io

        self._f = io.BytesIO(data)
        self.bytes_read = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def read(self, n: int = -1) -> bytes:
        out = self._f.read(n)
        self.bytes_read += len(out)
        return out


def _parquet(table_rows: dict[str, list[str]], **kw: object) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(table_rows), buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def test_page_headers_are_read_in_small_windows_and_widened_when_large() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Many small pages: the walk reads a small window per header, not the 256 KiB a header may
    # take (which copied 256 KiB per page before).
    many = _parquet({"t": [f"row {i}" for i in range(20_000)]}, data_page_size=256, write_batch_size=16, use_dictionary=False)
    meta = pq.read_metadata(pa.BufferReader(many))
    src = _CountingReader(many)
    sizes = check_parquet_pages(src, meta, len(many))  # type: ignore[arg-type]
    assert sizes.pages > 500
    assert src.bytes_read <= 1024 * (sizes.pages + 1)
    # A header larger than the first window (page statistics with 3,000-character min/max values)
    # is read whole, and gives the same sizes as a reader that reads everything at once.
    wide = _parquet({"t": ["a" * 3000, "z" * 3000]}, write_statistics=True, use_dictionary=False)
    meta = pq.read_metadata(pa.BufferReader(wide))
    got = check_parquet_pages(_CountingReader(wide), meta, len(wide))  # type: ignore[arg-type]
    assert got.pages == 1 and got.total_uncompressed > 6000
    col = meta.row_group(0).column(0)
    from synthspace.coordinator.parquet_bounds import _read_page_header

    header_len = _read_page_header(_CountingReader(wide), col.data_page_offset, len(wide))[0]  # type: ignore[arg-type]
    assert header_len > 1024  # the case the widening is for
