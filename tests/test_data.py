"""Datasets on disk: built without dill hashing, fingerprinted by content, read back unchanged."""
from pipeline.ml.data import from_columns, load_rows, save_rows


def test_rows_round_trip_and_fingerprint_follows_content(tmp_path):
    rows = {"prompt": ["1+2=", "3+4="], "answer": ["3", "7"], "level": [1, 1]}
    save_rows(rows, tmp_path / "a")
    back = load_rows(tmp_path / "a")
    assert back.to_dict() == rows
    assert back.features["level"].dtype == "int64" and back.features["prompt"].dtype == "string"
    assert from_columns(rows)._fingerprint == from_columns(dict(rows))._fingerprint
    assert from_columns(rows)._fingerprint != from_columns({**rows, "answer": ["3", "8"]})._fingerprint


def test_an_empty_round_saves_and_loads(tmp_path):
    save_rows({"prompt": [], "answer": []}, tmp_path / "e")
    empty = load_rows(tmp_path / "e")
    assert len(empty) == 0 and set(empty.column_names) == {"prompt", "answer"}
