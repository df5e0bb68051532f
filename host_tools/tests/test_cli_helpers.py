"""CLI helpers: argument words, broker URLs, instance notes, the parser itself."""

import os

import pytest

from commshub import instances, paths
from commshub.cli import build_parser, main
from commshub.commands.common import parse_args_words
from commshub.links.mqtt_link import decode_bin_envelope, encode_bin_envelope, parse_broker_url


def test_key_value_words_parse_json_values_and_keep_strings():
    assert parse_args_words(["key=label", "value=bench 3", "n=5", "flag=true", "obj={\"a\":1}"]) == {
        "key": "label", "value": "bench 3", "n": 5, "flag": True, "obj": {"a": 1},
    }
    assert parse_args_words(['{"utc": 5}']) == {"utc": 5}
    with pytest.raises(ValueError):
        parse_args_words(["novalue"])
    with pytest.raises(ValueError):
        parse_args_words(["[1]"])


def test_broker_urls():
    assert parse_broker_url("mqtt://10.1.2.3:1884") == ("10.1.2.3", 1884)
    assert parse_broker_url("localhost") == ("localhost", 1883)
    with pytest.raises(ValueError):
        parse_broker_url("http://x")


def test_binary_envelope_round_trip():
    raw = encode_bin_envelope("id-1", "ping", {"a": 1}, b"\x00\xff")
    assert decode_bin_envelope(raw) == ("id-1", "ping", {"a": 1}, b"\x00\xff")


def test_instance_notes_are_found_only_while_their_owner_lives(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "EMULATORS", tmp_path)
    instances.record("a", hub_id="02AA", uart_path="/dev/pts/9", broker_url="mqtt://x:1")
    assert instances.find("a")["hub_id"] == "02AA"
    assert instances.find(None)["name"] == "a"
    note = tmp_path / "a" / "instance.json"
    note.write_text(note.read_text().replace(f'"owner_pid": {os.getpid()}', '"owner_pid": 999999999'))
    assert instances.find("a") is None


def test_every_command_is_available_and_has_help(capsys):
    import importlib

    from commshub.cli import COMMANDS

    for name in COMMANDS:
        mod = importlib.import_module(f"commshub.commands.{name}")
        assert callable(mod.register), name
    assert build_parser().format_help()
    with pytest.raises(SystemExit):
        main(["send", "--help"])
    assert "exit codes" in capsys.readouterr().out


def test_send_without_a_hub_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(paths, "EMULATORS", tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["send", "ping"])
    assert "commshub emulate" in str(e.value)
