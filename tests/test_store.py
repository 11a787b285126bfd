"""Keyed record cache: no duplicates, survives reopen; atomic writes."""
import json

from delta_utils.store import RecordCache, atomic_dir, atomic_write_json, content_hash


def test_content_hash_ignores_key_order():
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_record_cache_put_once_and_reopen(tmp_path):
    p = tmp_path / "c.sqlite"
    with RecordCache(p) as c:
        c.put("k1", {"text": "first"})
        c.put("k1", {"text": "second"})  # a key is written once
        c.put("k2", {"text": "x"})
        assert len(c) == 2
    with RecordCache(p) as c:
        assert c.get("k1") == {"text": "first"}
        assert set(c.get_many(["k1", "k2", "k3"])) == {"k1", "k2"}


def test_atomic_write_json(tmp_path):
    p = tmp_path / "a" / "b.json"
    atomic_write_json(p, {"x": 1})
    assert json.loads(p.read_text()) == {"x": 1}
    assert [f.name for f in p.parent.iterdir()] == ["b.json"]


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out"
    try:
        with atomic_dir(target) as d:
            (d / "half").write_text("x")
            raise RuntimeError("crash")
    except RuntimeError:
        pass
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
