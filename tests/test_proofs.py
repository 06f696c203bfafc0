"""Dataset member commitments: members_root in the manifest, proofs of presence and absence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import CliResult, build_args

Cli = Callable[..., CliResult]


def _build(cli: Cli, world: Path, out: Path) -> dict[str, object]:
    r = cli(*build_args(world, out, "--json"))
    assert r.exit_code == 0, r.stderr
    return json.loads((out / "manifest.json").read_text())


def test_manifest_commits_to_members_and_proofs_verify_offline(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    manifest = _build(cli, world, tmp_path / "d")
    dataset_id = str(manifest["dataset_id"])
    assert manifest["members_count"] == 2  # u1 and e1 authored included posts
    root = str(manifest["members_root"])
    assert cli("datasets", "--json").json()[0]["manifest_sha256"]
    public = tmp_path / "log.pub"
    public.write_text(cli("audit", "public-key").stdout)
    for member, present in (("u1", True), ("u2", False), ("e2", False)):
        out = tmp_path / f"{member}.json"
        issued = cli("proof", member, "--dataset", dataset_id, "--out", str(out), "--json").json()
        assert issued["present"] is present and issued["members_root"] == root
        assert out.read_text().startswith("c2sp.org/tlog-proof@v1\n")
        ok = cli(
            "verify-proof",
            str(out),
            "--public-key",
            str(public),
            "--root",
            root,
            "--secret",
            issued["member_secret"],
            "--member",
            member,
            "--dataset",
            dataset_id,
            "--json",
        )
        assert ok.exit_code == 0 and ok.json()["present"] is present
        # the proof is about this member: another member's identity does not verify
        other = cli(
            "verify-proof",
            str(out),
            "--public-key",
            str(public),
            "--root",
            root,
            "--secret",
            issued["member_secret"],
            "--member",
            "someone-else",
        )
        assert other.exit_code == 1
    text = (tmp_path / "u2.json").read_text()
    flipped = (
        text.replace(root[:8], ("0" if root[0] != "0" else "1") + root[1:8], 1)
        if root[:8] in text
        else text[:-3] + "x" + text[-2:]
    )
    (tmp_path / "bad.json").write_text(flipped)
    key = ("--public-key", str(public))
    assert cli("verify-proof", str(tmp_path / "bad.json"), *key, "--root", root).exit_code == 1
    assert cli("verify-proof", str(tmp_path / "u1.json"), *key, "--root", "00" * 32).exit_code == 1
    assert cli("verify-proof", str(tmp_path / "u1.json"), *key).exit_code == 0
    assert cli("verify-proof", str(tmp_path / "u1.json"), "--root", root).exit_code == 2


def test_manifest_bytes_match_registry(cli: Cli, world: Path, tmp_path: Path) -> None:
    import hashlib

    _build(cli, world, tmp_path / "d")
    listed = cli("datasets", "--json").json()[0]
    assert (
        listed["manifest_sha256"]
        == hashlib.sha256((tmp_path / "d" / "manifest.json").read_bytes()).hexdigest()
    )
    assert cli("audit", "verify").exit_code == 0
