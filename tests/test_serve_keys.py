"""API keys in real SQLite: made, checked, listed, revoked, expired; the secret never stored; `live keys`."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from serve_helpers import REPO

from live.serve.keys import KeyRefused, KeyStore, default_db


def test_a_key_reads_lv_id_secret_and_only_its_hash_is_stored(tmp_path):
    db = tmp_path / "keys" / "server.db"
    store = KeyStore(db)
    key, token = store.create("lab pc", "stream")
    prefix, key_id, secret = token.split("_", 2)
    assert prefix == "lv" and key_id == key.id and len(key_id) == 12 and len(secret) >= 43
    assert store.authenticate(token).id == key.id
    store.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.iterdir() if p != db)
    assert secret.encode() not in raw and token.encode() not in raw
    assert key_id.encode() in raw  # the id is what finds the row


@pytest.mark.parametrize("mangle, reason", [
    (lambda t: None, "missing"),
    (lambda t: "", "missing"),
    (lambda t: "sk-1234", "malformed"),
    (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), "unknown"),  # right id, wrong secret
    (lambda t: "lv_000000000000_" + t.split("_", 2)[2], "unknown"),  # unknown id
])
def test_bad_keys_are_refused_with_a_reason(tmp_path, mangle, reason):
    store = KeyStore(tmp_path / "server.db")
    _, token = store.create()
    with pytest.raises(KeyRefused) as err:
        store.authenticate(mangle(token))
    assert err.value.reason == reason


def test_revoked_and_expired_keys_are_refused_and_usage_is_counted(tmp_path):
    store = KeyStore(tmp_path / "server.db")
    revoked, t1 = store.create("a")
    expiring, t2 = store.create("b", expires_days=1)
    assert store.revoke(revoked.id) and not store.revoke("ffffffffffff")
    with pytest.raises(KeyRefused, match="revoked"):
        store.authenticate(t1)
    with sqlite3.connect(tmp_path / "server.db") as db:  # its time has come, as it would have a day later
        db.execute("UPDATE keys SET expires = ? WHERE id = ?", (time.time() - 1, expiring.id))
    with pytest.raises(KeyRefused, match="expired"):
        store.authenticate(t2)
    assert store.still_valid(revoked.id) == "revoked" and store.still_valid(expiring.id) == "expired"
    live, t3 = store.create("c", "admin")
    store.record_use(live.id, streams=1, audio_s=90.0)
    store.record_use(live.id, files=1, audio_s=30.0)
    assert store.used_today(live.id) == 120.0
    row = store.get(live.id)
    assert (row.streams, row.files, row.audio_s) == (1, 1, 120.0) and row.allows("stream") and row.allows("admin")
    store.authenticate(t3)
    assert store.get(live.id).last_used is not None
    assert [k.state() for k in store.list_keys()] == ["revoked", "expired", "active"]


def _live(*args, env=None):
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_live_keys_create_list_revoke(tmp_path, isolated_user_dirs):
    made = _live("keys", "create", "--name", "Room 101", "--scope", "admin", "--expires", "30")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert made.stdout.strip() == token and token.startswith("lv_")  # alone on the last line of stdout
    assert "shown" in made.stderr and token not in made.stderr
    db = default_db({"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]})
    assert db.exists() and stat.S_IMODE(db.stat().st_mode) == 0o600
    key_id = token.split("_")[1]
    listed = _live("keys", "list")
    assert listed.returncode == 0 and "Room 101" in listed.stdout and key_id in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout
    rows = [json.loads(line) for line in _live("keys", "list", "--json").stdout.splitlines()]
    assert rows[0]["scope"] == "admin" and rows[0]["state"] == "active" and "secret" not in json.dumps(rows)
    assert _live("keys", "revoke", key_id).returncode == 0
    assert json.loads(_live("keys", "list", "--json").stdout)["state"] == "revoked"
    missing = _live("keys", "revoke", "abcdefabcdef")
    assert missing.returncode != 0 and missing.stderr.startswith("live: error: no key with id abcdefabcdef")
    bad = _live("keys", "create", "--expires", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("live: error:") and "lv_" not in bad.stdout


def test_an_unwritable_database_is_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = _live("keys", "list", "--db", str(blocked / "server.db"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "cannot open the key database" in result.stderr


@pytest.mark.parametrize("json_lines", [False, True], ids=["table", "json"])
def test_keys_list_into_head_ends_quietly(tmp_path, json_lines):
    """`live keys list | head -3` with far more keys than head reads: the pipe closes under the
    listing, and live says nothing about it."""
    db = tmp_path / "server.db"
    store = KeyStore(db)
    store.create("key 0")
    store.close()
    with sqlite3.connect(db) as copies:  # 2000 rows (over 200 kB listed, more than a pipe holds), in one go
        copies.executemany("INSERT INTO keys (id, name, scope, secret_sha256, created) SELECT ?, ?, scope, "
                           "secret_sha256, created FROM keys LIMIT 1",
                           [(f"{n:012x}", f"key {n}") for n in range(1, 2000)])
    cmd = [sys.executable, "-m", "live", "keys", "list", "--db", str(db), *(["--json"] if json_lines else [])]
    lister = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    head = subprocess.run(["head", "-3"], stdin=lister.stdout, capture_output=True, text=True, timeout=60)
    lister.stdout.close()  # head's end is the only reader left: once it exits, the pipe is broken
    err = lister.stderr.read().decode()
    assert lister.wait(60) == 0 and err == ""
    assert len(head.stdout.splitlines()) == 3
    if json_lines:
        assert all(json.loads(line)["name"].startswith("key ") for line in head.stdout.splitlines())
