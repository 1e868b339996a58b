"""Secret canaries: every form of a secret is found, in every place, and named by its label
(never by the secret itself)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from platform_core.chaos.canaries import (
    Place,
    Secret,
    event_places,
    file_places,
    find_secrets,
    forms,
    json_place,
    masked,
    signing_key_secrets,
)
from tests.integration.event_factory import lifecycle

# anvil's account 1: a public devnet-only key
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "sep_live_3f9a2b7c1d4e5f60718293a4b5c6d7e8"


def secrets() -> list[Secret]:
    return [*signing_key_secrets({WALLET: KEY}), Secret("api key k1", TOKEN)]


def test_every_form_of_a_hex_key_is_found() -> None:
    bare = KEY.removeprefix("0x")
    raw = bytes.fromhex(bare)
    places = [
        Place("log/a.log", f"loaded key {KEY}".encode()),
        Place("log/b.log", f"KEY={bare.upper()}".encode()),
        Place("journal.sqlite", b"\x00\x01" + raw + b"\x02"),
        Place("dump.json", json.dumps({"k": base64.b64encode(raw).decode()}).encode()),
        Place("clean.log", b"nothing here " + bare[:40].encode()),
    ]
    leaks = {(leak.place, leak.form) for leak in find_secrets(secrets(), places)}
    assert leaks == {
        ("log/a.log", "text"),
        ("log/b.log", "hex"),
        ("journal.sqlite", "raw"),
        ("dump.json", "base64"),
    }


def test_an_api_token_and_labels_never_show_the_secret() -> None:
    leaks = find_secrets(secrets(), [Place("redis:test:x", f"Bearer {TOKEN}".encode())])
    assert [(leak.secret, leak.offset) for leak in leaks] == [("api key k1", 7)]
    assert TOKEN not in masked(TOKEN) and KEY not in masked(KEY)
    assert all(KEY not in leak.secret for leak in leaks)


def test_one_leak_per_secret_and_place() -> None:
    place = Place("x", f"{KEY} and again {KEY.removeprefix('0x')}".encode())
    assert len(find_secrets(secrets(), [place])) == 1


def test_forms_of_a_short_or_text_secret() -> None:
    assert [f for f, _ in forms("hunter2")] == ["text"]
    assert {f for f, _ in forms("0xabcd")} == {"text", "hex"}  # too short for raw bytes


def test_file_places_walk_folders(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "actor.log").write_text(f"signing with {KEY}\n")
    (tmp_path / "logs" / "ok.log").write_text("fine\n")
    (tmp_path / "journal-42161-x.sqlite-wal").write_bytes(b"\x00" + bytes.fromhex(KEY[2:]))
    leaks = find_secrets(secrets(), file_places([tmp_path]))
    assert sorted(Path(leak.place).name for leak in leaks) == [
        "actor.log",
        "journal-42161-x.sqlite-wal",
    ]


def test_event_rows_and_dashboard_json() -> None:
    events = lifecycle()
    assert find_secrets(secrets(), event_places(events)) == []
    dashboard = json_place("ray:actors", json.dumps({"actors": [{"args": [KEY]}]}))
    assert [leak.place for leak in find_secrets(secrets(), [dashboard])] == ["ray:actors"]
