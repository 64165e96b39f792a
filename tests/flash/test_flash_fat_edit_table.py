"""The FAT as data (bootimg.fattable): entries set and read back on FAT12/16/32, neighbours
and reserved bits kept, changed sectors reported, free clusters found and counted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rpiboot.bootimg.fattable import FatTable, read_entry

SECTOR = 512
WIDTH = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}


@st.composite
def tables(draw: st.DrawFn) -> tuple[FatTable, list[tuple[int, int]]]:
    fat_type = draw(st.sampled_from([12, 16, 32]))
    clusters = draw(st.integers(1, 3000))
    size = {12: (clusters + 2) * 3 // 2 + 2, 16: 2 * (clusters + 2),
            32: 4 * (clusters + 2)}[fat_type]
    sectors = -(-size // SECTOR)
    data = draw(st.binary(min_size=sectors * SECTOR, max_size=sectors * SECTOR)
                | st.just(bytes(sectors * SECTOR)))
    puts = draw(st.lists(st.tuples(st.integers(2, clusters + 1),
                                   st.integers(0, WIDTH[fat_type]) | st.just(0)),
                         max_size=40))
    return FatTable(data, fat_type, clusters, SECTOR), puts


@settings(max_examples=300, deadline=None)
@given(tables())
def test_put_then_get(case: tuple[FatTable, list[tuple[int, int]]]) -> None:
    table, puts = case
    before = bytes(table.data)
    expected = {c: table.get(c) for c in range(table.clusters + 2)}
    for cluster, value in puts:
        table.put(cluster, value)
        expected[cluster] = value
    assert {c: table.get(c) for c in range(table.clusters + 2)} == expected
    assert all(read_entry(table.data, table.fat_type, c) == v for c, v in expected.items())
    changed = {i // SECTOR for i in range(len(before)) if before[i] != table.data[i]}
    assert changed <= table.dirty
    if table.fat_type == 32:  # the reserved top nibble of every entry is kept
        assert all(table.data[4 * c + 3] >> 4 == before[4 * c + 3] >> 4
                   for c in range(table.clusters + 2))
    free = [c for c in range(2, table.clusters + 2) if expected[c] == 0]
    assert table.free_count() == len(free)
    start = puts[0][0] if puts else 2
    assert list(table.iter_free(start)) == ([c for c in free if c >= start]
                                            + [c for c in free if c < start])


def test_sector_runs_group_consecutive_sectors() -> None:
    table = FatTable(bytes(range(256)) * 16, 16, 2000, SECTOR)
    runs = table.sector_runs({0, 1, 3, 7, 6})
    assert [(at, len(data)) for at, data in runs] == [(0, 1024), (1536, 512), (3072, 1024)]
    assert runs[1][1] == bytes(table.data[1536:2048])
