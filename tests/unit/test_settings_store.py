from pathlib import Path

from ukscp.settings_store import SettingsStore


def test_a_stored_value_survives_reopening(tmp_path: Path):
    store = SettingsStore(tmp_path / "s.sqlite3")
    store.set("random_delay.max_duration_s", 1200)
    store.close()
    assert SettingsStore(tmp_path / "s.sqlite3").get("random_delay.max_duration_s") == 1200


def test_an_unset_key_gives_the_default(tmp_path: Path):
    assert SettingsStore(tmp_path / "s.sqlite3").get("absent", {"x": 1}) == {"x": 1}


def test_setting_again_replaces_and_delete_forgets(tmp_path: Path):
    store = SettingsStore(tmp_path / "s.sqlite3")
    store.set("k", [1, 2])
    store.set("k", {"a": True})
    assert store.get("k") == {"a": True}
    store.delete("k")
    assert store.get("k") is None
