"""Signed versions (issue 16, item 8): `tabship keygen` / `tabship sign` write manifest.sig
once; with TABSHIP_TRUSTED_KEYS every load needs a valid signature by one of the keys, and each
refusal names its reason; `tabship inspect` shows the signer; s3:// versions carry theirs."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME, REPO, VERSION_A
from fixture_model import rewrite_manifest, write_version
from s3_server import S3Server, aws_env, s3_server, upload_tree  # noqa: F401 (fixtures)

from tabship.cli.main import main as tabship
from tabship.contract.signature import SIGNATURE_FILE
from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

ROW = {
    "PageValues": 10,
    "ExitRates": None,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": None,
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    for name in ("release", "other"):
        assert tabship(["keygen", str(folder / f"{name}.key")]) == 0
    return {
        "release": folder / "release.key",
        "release.pub": folder / "release.key.pub",
        "other": folder / "other.key",
        "other.pub": folder / "other.key.pub",
    }


def key_id_of(public: Path) -> str:
    return public.read_text().splitlines()[0].split()[-1]  # keygen's "# ... <key id>" line


@pytest.fixture
def version(version_a: Path, tmp_path: Path) -> Path:
    target = tmp_path / "registry" / NAME / VERSION_A
    shutil.copytree(version_a, target)
    return target


def signed(version: Path, key: Path) -> Path:
    assert tabship(["sign", str(version), "--key", str(key)]) == 0
    return version


def load(version: Path | str, *trusted: Path, **settings: Any) -> Model:
    return Model.load(
        Settings(model_uri=str(version), trusted_keys=tuple(map(str, trusted)), **settings)
    )


def refused(version: Path | str, *trusted: Path, **settings: Any) -> str:
    with pytest.raises(ModelRefused) as caught:
        load(version, *trusted, **settings)
    return str(caught.value)


def test_a_signed_version_loads_with_its_key_trusted(
    version: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signed(version, keys["release"])
    printed = capsys.readouterr().out
    release_id = key_id_of(keys["release.pub"])
    assert f"signed by {release_id}" in printed
    model = load(version, keys["release.pub"])
    assert model.artifact.signed_by == release_id
    both = load(version, keys["other.pub"], keys["release.pub"])
    assert both.artifact.signed_by == release_id
    assert load(version).artifact.signed_by is None  # no trusted keys: not checked
    document = json.loads((version / SIGNATURE_FILE).read_text())
    assert document["key_id"] == release_id
    assert document["format"] == "tabship-signature/1"
    assert oct((version / SIGNATURE_FILE).stat().st_mode & 0o777) == "0o644"


def test_signature_checks_with_openssl(version: Path, keys: dict[str, Path]) -> None:
    """The signature is plain Ed25519 over the manifest's bytes: other tools verify it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed for this test (Debian: apt-get install openssl)")
    signed(version, keys["release"])
    raw = base64.b64decode(json.loads((version / SIGNATURE_FILE).read_text())["signature"])
    (version.parent / "sig.bin").write_bytes(raw)
    result = subprocess.run(
        [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(keys["release.pub"]),
         "-rawin", "-in", str(version / "manifest.json"),
         "-sigfile", str(version.parent / "sig.bin")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout


def test_refusals_name_the_reason(version: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    # no signature
    message = refused(version, keys["release.pub"])
    assert message.startswith("no signature:")
    assert "tabship sign" in message
    signed(version, keys["release"])
    # unknown key
    assert "signed by unknown key" in refused(version, keys["other.pub"])
    # bad signature: the same manifest, another signature in the file
    sig = json.loads((version / SIGNATURE_FILE).read_text())
    original = (version / SIGNATURE_FILE).read_text()
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 1
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    (version / SIGNATURE_FILE).write_text(json.dumps(sig))
    assert "bad signature: it does not verify" in refused(version, keys["release.pub"])
    (version / SIGNATURE_FILE).write_text(original)
    # manifest changed after signing (a field the server does not even check)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["metrics"]["roc_auc"] = 0.999
    (version / "manifest.json").write_text(json.dumps(manifest))
    assert "manifest changed after signing" in refused(version, keys["release.pub"])
    # not a signature file
    (version / SIGNATURE_FILE).write_text("{}")
    assert "not a tabship signature: format" in refused(version, keys["release.pub"])
    # a private key given as a trusted key; a file with no key
    assert "holds a private key" in refused(version, keys["release"])
    empty = tmp_path / "empty.pub"
    empty.write_text("# nothing\n")
    assert "no public key in it" in refused(version, empty)
    assert "key file" in refused(version, tmp_path / "absent.pub")
    # a lone .onnx has no manifest.json to carry a signature
    lone = tmp_path / "lone.onnx"
    shutil.copyfile(version / "model.onnx", lone)
    message = refused(lone, keys["release.pub"], model_sha256="0" * 64, allow_ungated=True)
    assert "no manifest.json to carry a signature" in message


def test_ssh_public_keys_and_several_per_file(
    version: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.fail("ssh-keygen is needed for this test (Debian: apt-get install openssh-client)")
    ssh_key = tmp_path / "id_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_key)], check=True)
    signed(version, ssh_key)
    ring = tmp_path / "ring"
    ring.write_text(
        keys["release.pub"].read_text()
        + "\n# ssh too\n"
        + (tmp_path / "id_ed25519.pub").read_text()
    )
    assert load(version, ring).artifact.signed_by is not None
    assert "signed by unknown key" in refused(version, keys["release.pub"])


def test_signing_is_once_per_version(
    version: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signed(version, keys["release"])
    before = (version / SIGNATURE_FILE).read_bytes()
    capsys.readouterr()
    # the same key again: nothing to do, success (a release script may run twice)
    assert tabship(["sign", str(version), "--key", str(keys["release"])]) == 0
    assert "already signed by" in capsys.readouterr().out
    # another key: refused, the signature kept
    assert tabship(["sign", str(version), "--key", str(keys["other"])]) == 1
    assert "never replaced" in capsys.readouterr().err
    assert (version / SIGNATURE_FILE).read_bytes() == before
    # the same key over a manifest changed since: refused, not re-signed
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["metrics"]["roc_auc"] = 0.5
    (version / "manifest.json").write_text(json.dumps(manifest))
    assert tabship(["sign", str(version), "--key", str(keys["release"])]) == 1
    assert "manifest changed after signing" in capsys.readouterr().err
    assert (version / SIGNATURE_FILE).read_bytes() == before


def test_only_a_loadable_released_version_is_signed(
    version: Path, keys: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray((version / "model.onnx").read_bytes())
    data[-5] ^= 1
    (version / "model.onnx").write_bytes(bytes(data))
    assert tabship(["sign", str(version), "--key", str(keys["release"])]) == 1
    assert "does not match the manifest" in capsys.readouterr().err
    ungated = write_version(tmp_path / "reg", NAME, VERSION_A, threshold=0.35)
    rewrite_manifest(ungated, parity={"status": "pending"})
    assert tabship(["sign", str(ungated), "--key", str(keys["release"])]) == 1
    assert "parity.status is 'pending'" in capsys.readouterr().err
    assert not (ungated / SIGNATURE_FILE).exists()
    assert tabship(["sign", str(ungated), "--key", str(tmp_path / "nokey")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert tabship(["keygen", str(keys["release"])]) == 1  # never overwrites a key
    assert "never overwritten" in capsys.readouterr().err


def test_keygen_password_protects_the_private_key(
    version: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABSHIP_SIGN_KEY_PASSWORD", "correct horse")
    assert tabship(["keygen", str(tmp_path / "locked.key")]) == 0
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "locked.key").read_bytes()
    assert oct((tmp_path / "locked.key").stat().st_mode & 0o777) == "0o600"
    signed(version, tmp_path / "locked.key")
    monkeypatch.delenv("TABSHIP_SIGN_KEY_PASSWORD")
    assert tabship(["sign", str(version), "--key", str(tmp_path / "locked.key")]) == 2


def inspect(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TABSHIP_TRUSTED_KEYS"}
    return subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "inspect", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )


def test_inspect_shows_whether_and_by_whom_a_version_is_signed(
    version: Path, keys: dict[str, Path]
) -> None:
    assert "signature   none (unsigned)" in inspect(str(version)).stdout
    signed(version, keys["release"])
    release_id = key_id_of(keys["release.pub"])
    shown = inspect(str(version))
    assert shown.returncode == 0
    assert f"signature   {release_id} [unverified]" in shown.stdout
    info = json.loads(inspect(str(version), "--json").stdout)["signature"]
    assert info["key_id"] == release_id
    assert info["check"] == "unverified"
    verified = inspect(str(version), "--trusted-keys", str(keys["release.pub"]))
    assert verified.returncode == 0
    assert f"{release_id} [verified]" in verified.stdout
    stranger = inspect(str(version), "--trusted-keys", str(keys["other.pub"]))
    assert stranger.returncode == 1
    assert "[INVALID]" in stranger.stdout
    assert "unknown key" in stranger.stdout
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["metrics"]["roc_auc"] = 0.5
    (version / "manifest.json").write_text(json.dumps(manifest))
    changed = inspect(str(version))
    assert changed.returncode == 1
    assert "[CHANGED]" in changed.stdout


def test_without_the_sign_extra_trusted_keys_are_a_clear_refusal(
    version: Path, keys: dict[str, Path]
) -> None:
    # cryptography made unimportable in a real process (the clean serve venv test does it
    # with cryptography really absent)
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from tabship.runtime.serve import main\n"
        f"sys.exit(main(['--model', {str(version)!r}, '--port', '0']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABSHIP_")}
    env["TABSHIP_TRUSTED_KEYS"] = str(keys["release.pub"])
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env
    )
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "need the optional sign extra" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.server
@pytest.mark.slow
def test_serve_requires_a_valid_signature_when_keys_are_trusted(
    version: Path, keys: dict[str, Path], start_server: Callable[..., Any]
) -> None:
    env = {"TABSHIP_TRUSTED_KEYS": str(keys["release.pub"])}
    unsigned = start_server(version, env, ready=False)
    assert unsigned.wait_exit(60) == 1
    errors = [line for line in unsigned.log.splitlines() if "ERROR" in line]
    assert len(errors) == 1, unsigned.log
    assert "no signature:" in errors[0], unsigned.log
    signed(version, keys["release"])
    server = start_server(version, env)
    assert server.client.post("/v1/predict", json=ROW).status_code == 200
    assert f"manifest signed by {key_id_of(keys['release.pub'])}" in server.log
    assert server.client.get("/v1/metadata").json()["signed_by"] == key_id_of(keys["release.pub"])


@pytest.mark.server
def test_s3_versions_are_signed_and_verified_in_the_bucket(
    s3_server: S3Server,  # noqa: F811
    aws_env: dict[str, str],  # noqa: F811
    version: Path,
    keys: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = s3_server.client()
    client.create_bucket(Bucket="signed")
    upload_tree(client, "signed", f"models/{NAME}/{VERSION_A}", version)
    uri = f"s3://signed/models/{NAME}/{VERSION_A}"
    assert "no signature:" in refused(uri, keys["release.pub"])
    assert tabship(["sign", uri, "--key", str(keys["release"])]) == 0
    assert tabship(["sign", uri, "--key", str(keys["release"])]) == 0
    assert "already signed" in capsys.readouterr().out
    assert tabship(["sign", uri, "--key", str(keys["other"])]) == 1
    assert load(uri, keys["release.pub"]).artifact.signed_by == key_id_of(keys["release.pub"])
    assert "signed by unknown key" in refused(uri, keys["other.pub"])


def test_a_signature_kept_elsewhere_is_named_by_its_setting(
    version: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    signed(version, keys["release"])
    elsewhere = tmp_path / "signatures" / "v.sig"
    elsewhere.parent.mkdir()
    (version / SIGNATURE_FILE).rename(elsewhere)
    assert "no signature:" in refused(version, keys["release.pub"])
    model = load(version, keys["release.pub"], signature_uri=str(elsewhere))
    assert model.artifact.signed_by == key_id_of(keys["release.pub"])


def test_batch_scoring_honours_trusted_keys(
    version: Path,
    keys: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(
        ",".join(ROW) + "\n" + ",".join("" if v is None else str(v) for v in ROW.values()) + "\n"
    )
    monkeypatch.setenv("TABSHIP_TRUSTED_KEYS", str(keys["release.pub"]))
    command = ["score", str(rows), str(tmp_path / "out.csv"), "--model", str(version)]
    assert tabship(command) != 0
    assert "no signature:" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
    signed(version, keys["release"])
    assert tabship(command) == 0, capsys.readouterr().err
    assert (tmp_path / "out.csv").read_text().count("\n") == 2
