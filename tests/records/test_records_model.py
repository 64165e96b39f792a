"""Properties of the record's JSON form: reading any JSON value fails only with InputError,
and every record survives to_json -> from_json (and a trip through the SQLite store)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpiboot.errors import InputError
from rpiboot.records.model import FIELDS, OPERATIONS, RESULTS, BoardRecord, effective_result
from rpiboot.records.sqlite import SqliteStore
from rpiboot.records.store import RecordFilter

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) \
    | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12)
json_objects = st.dictionaries(st.text(), json_values, max_size=4)
# objects shaped like records: known field names with values of any JSON type
record_like = st.fixed_dictionaries({}, optional={name: json_values for name in FIELDS})
opt_text = st.none() | st.text()


@st.composite
def records(draw: st.DrawFn) -> BoardRecord:
    values: dict[str, Any] = {
        "id": draw(st.text(min_size=1)), "revision": draw(st.integers(0, 2 ** 62)),
        "station": draw(st.text()), "port_path": draw(st.text()), "chip": draw(opt_text),
        "rom_serial": draw(opt_text), "usb_serial": draw(opt_text), "serial": draw(opt_text),
        "operation": draw(st.sampled_from(OPERATIONS)),
        "result": draw(st.sampled_from(RESULTS)),
        "exit_code": draw(st.none() | st.integers()), "started_at": draw(st.text()),
        "ended_at": draw(opt_text), "phases": draw(st.lists(json_objects, max_size=3)),
        "metadata": draw(st.dictionaries(st.text(), st.text(), max_size=3)),
        "files": draw(st.lists(json_objects, max_size=2)),
        "firmware": draw(st.none() | json_objects), "image": draw(st.none() | json_objects),
        "key_fingerprint": draw(opt_text), "error": draw(opt_text),
        "diagnosis": draw(st.none() | json_objects),
        "hooks": draw(st.lists(json_objects, max_size=2)), "rpiboot_version": draw(st.text()),
        "pid": draw(st.integers()), "host": draw(st.text()),
    }
    return BoardRecord(**values)


@given(json_values | record_like)
def test_from_json_fails_only_with_input_error(data: object) -> None:
    try:
        rec = BoardRecord.from_json(data, where="fuzz")
    except InputError as exc:
        assert str(exc).startswith("fuzz")
    else:
        assert effective_result(rec) in RESULTS  # a record read is a record a reader reads


@given(records())
def test_to_json_then_from_json_is_the_same_record(rec: BoardRecord) -> None:
    assert BoardRecord.from_json(rec.to_json()) == rec


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_any_record_survives_the_sqlite_store(rec: BoardRecord) -> None:
    rec.id = uuid.uuid4().hex  # any text is a valid id; unique ones keep examples apart
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "records.db")
        store.put(rec)
        assert store.query(RecordFilter(record_id=rec.id)) == [rec]
        store.close()
