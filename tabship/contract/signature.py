"""Ed25519 signatures of a version's manifest.json, kept in manifest.sig beside it.

The manifest carries the model's SHA-256 (and the report files' hashes), so a valid signature
over its exact bytes vouches for the whole version. manifest.sig is JSON:

    {"format": "tabship-signature/1", "algorithm": "ed25519", "key_id": "ed25519:<16 hex>",
     "manifest_sha256": "<hex>", "signature": "<base64, 64 bytes>", "signed_at": "<UTC>"}

The signature is Ed25519 over the manifest bytes as they are, nothing added, so anyone can check
it with other tools (`openssl pkeyutl -verify -rawin`). `manifest_sha256` only tells "changed
after signing" from "signed by someone else"; it is not trusted for anything.

Keys are the standard formats: PEM (PKCS#8 private, SubjectPublicKeyInfo public, as
`openssl genpkey -algorithm ed25519` writes them) or OpenSSH (`ssh-keygen -t ed25519`). A key's id
is the first 16 hex digits of the SHA-256 of its 32 raw public bytes. The `cryptography` library
comes with the optional `sign` extra and is imported only when keys are used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tabship.contract.errors import ModelRefused
from tabship.contract.manifest import MANIFEST_FILE

SIGNATURE_FILE = "manifest.sig"
FORMAT = "tabship-signature/1"
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_KEY_FILE_BYTES = 1024 * 1024
PASSWORD_VARIABLE = "TABSHIP_SIGN_KEY_PASSWORD"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.DOTALL)


class SignatureError(ModelRefused):
    """A key or signature problem, one line naming the reason."""


def library() -> Any:
    """cryptography's Ed25519 and serialization modules, or a clear refusal without them."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SignatureError(
            "signatures need the optional sign extra (cryptography is not installed): "
            "pip install 'tabship[sign]', or scripts/setup.sh sign"
        ) from None
    return ed25519, serialization


def key_id(public_key: Any) -> str:
    _, serialization = library()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


# --- keys -----------------------------------------------------------------------------------


def _read_key_file(path: Path) -> bytes:
    """A small regular file (never a FIFO or device, never past the cap)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SignatureError(f"key file {path}: not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SignatureError(f"key file {path}: no such file") from None
    except OSError as error:
        raise SignatureError(f"key file {path}: cannot read ({error.strerror or error})") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise SignatureError(f"key file {path}: more than {MAX_KEY_FILE_BYTES} bytes")
    return data


def public_keys_in(path: Path) -> list[Any]:
    """Every Ed25519 public key in one file: PEM blocks and/or `ssh-ed25519 ...` lines
    (blank lines and # comments are fine; anything else is an error)."""
    ed25519, serialization = library()
    data = _read_key_file(path)
    keys: list[Any] = []
    for block in _PEM_BLOCK.finditer(data):
        label = block.group(1).decode()
        if "PRIVATE" in label:
            raise SignatureError(
                f"{path}: holds a private key; trusted keys are public keys (the .pub file)"
            )
        try:
            key = serialization.load_pem_public_key(block.group(0))
        except ValueError as error:
            raise SignatureError(f"{path}: unreadable {label} block ({error})") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise SignatureError(f"{path}: a {type(key).__name__}; only Ed25519 keys are used")
        keys.append(key)
    rest = _PEM_BLOCK.sub(b"", data)
    for number, line in enumerate(rest.decode("utf-8", "replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not text.startswith("ssh-ed25519 "):
            raise SignatureError(
                f"{path}: line {number} is not an Ed25519 public key (PEM or ssh-ed25519)"
            )
        try:
            keys.append(serialization.load_ssh_public_key(text.encode()))
        except ValueError as error:
            raise SignatureError(f"{path}: line {number}: {error}") from None
    if not keys:
        raise SignatureError(f"{path}: no public key in it")
    return keys


def load_trusted_keys(paths: Sequence[str]) -> dict[str, Any]:
    """key id -> public key, from every file named."""
    trusted: dict[str, Any] = {}
    for name in paths:
        for key in public_keys_in(Path(name)):
            trusted[key_id(key)] = key
    return trusted


def load_private_key(path: Path) -> Any:
    """An Ed25519 private key (PEM or OpenSSH); encrypted ones take their password from
    $TABSHIP_SIGN_KEY_PASSWORD."""
    ed25519, serialization = library()
    data = _read_key_file(path)
    password = os.environ.get(PASSWORD_VARIABLE)
    secret = password.encode() if password else None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, secret)
        else:
            key = serialization.load_pem_private_key(data, secret)
    except TypeError as error:  # password missing or given for a plain key
        raise SignatureError(f"{path}: {error} (set {PASSWORD_VARIABLE})") from None
    except ValueError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SignatureError(f"{path}: not a readable private key ({first})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SignatureError(f"{path}: a {type(key).__name__}; only Ed25519 keys sign")
    return key


def new_key_pair(password: str | None = None) -> tuple[bytes, bytes, str]:
    """(private PEM, public PEM, key id) of a fresh key."""
    ed25519, serialization = library()
    key = ed25519.Ed25519PrivateKey.generate()
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public, key_id(key.public_key())


# --- the signature file ---------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    key_id: str
    manifest_sha256: str
    signature: bytes
    signed_at: str


def parse(data: bytes, where: str) -> Signature:
    """The signature file's fields (no cryptography needed)."""

    def fail(why: str) -> SignatureError:
        return SignatureError(f"{where}: not a tabship signature: {why}")

    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise fail(f"not JSON ({error})") from None
    if not isinstance(value, dict):
        raise fail("not a JSON object")
    if value.get("format") != FORMAT:
        raise fail(f"format {value.get('format')!r} is not {FORMAT!r}")
    if value.get("algorithm") != "ed25519":
        raise fail(f"algorithm {value.get('algorithm')!r} is not 'ed25519'")
    fields = {k: value.get(k) for k in ("key_id", "manifest_sha256", "signature", "signed_at")}
    for name, text in fields.items():
        if not isinstance(text, str) or not text:
            raise fail(f"{name} missing")
    try:
        raw = base64.b64decode(str(fields["signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise fail("signature is not base64") from None
    if len(raw) != 64:
        raise fail(f"signature is {len(raw)} bytes, an Ed25519 signature is 64")
    return Signature(
        key_id=str(fields["key_id"]),
        manifest_sha256=str(fields["manifest_sha256"]).lower(),
        signature=raw,
        signed_at=str(fields["signed_at"]),
    )


def sign(manifest: bytes, private_key: Any, now: datetime | None = None) -> bytes:
    """The signature file's bytes for these exact manifest bytes."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    document = {
        "format": FORMAT,
        "algorithm": "ed25519",
        "key_id": key_id(private_key.public_key()),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(private_key.sign(manifest)).decode(),
        "signed_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def verify(manifest: bytes, signature_data: bytes, trusted: dict[str, Any], where: str) -> str:
    """The signing key's id when `signature_data` is a valid signature of `manifest` by a
    trusted key; otherwise a SignatureError naming the reason."""
    library()
    from cryptography.exceptions import InvalidSignature

    signed = parse(signature_data, where)
    actual = hashlib.sha256(manifest).hexdigest()
    if signed.key_id not in trusted:
        known = ", ".join(sorted(trusted)) or "none"
        raise SignatureError(f"{where}: signed by unknown key {signed.key_id} (trusted: {known})")
    try:
        trusted[signed.key_id].verify(signed.signature, manifest)
    except InvalidSignature:
        if signed.manifest_sha256 != actual:
            raise SignatureError(
                f"{where}: manifest changed after signing (SHA-256 {actual}, signed "
                f"{signed.manifest_sha256})"
            ) from None
        raise SignatureError(
            f"{where}: bad signature: it does not verify with key {signed.key_id}"
        ) from None
    return signed.key_id


def sibling(manifest_location: str) -> str:
    """manifest.sig beside a manifest path, URL or object key (a query is dropped)."""
    base = manifest_location.split("?", 1)[0]
    folder, slash, _ = base.rpartition("/")
    return f"{folder}{slash}{SIGNATURE_FILE}"


def to_write(manifest: bytes, existing: bytes | None, private_key: Any, where: str) -> bytes | None:
    """The signature file to write for `manifest`, or None when `existing` is already a valid
    signature of it by this key. Refuses a signature by another key (never replaced) and one by
    this key over other bytes (the manifest changed after signing)."""
    own_id = key_id(private_key.public_key())
    if existing is None:
        return sign(manifest, private_key)
    present = parse(existing, where)
    if present.key_id != own_id:
        raise SignatureError(
            f"already signed by {present.key_id}; a version's signature is never replaced "
            f"(to move to {own_id}, trust both keys while versions signed by the old one are "
            "served)"
        )
    verify(manifest, existing, {own_id: private_key.public_key()}, where)
    return None


def write_new_file(path: Path, data: bytes) -> None:
    """Written whole under a temporary name, then linked into place: link never replaces an
    existing file, so a signature that appeared meanwhile is kept and this one refused."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp's 0600 would hide it from the server's user
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise SignatureError(f"{path} appeared while signing; not replacing it") from None
    finally:
        os.unlink(temporary)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def sign_folder(folder: Path, private_key: Any) -> str:
    """Signs the local version `folder` (its manifest.json as it is); one line saying what was
    done. The caller has checked the version (tabship sign loads it; train has just gated it)."""
    manifest_path = folder / MANIFEST_FILE
    where = folder / SIGNATURE_FILE
    try:
        manifest = manifest_path.read_bytes()
        existing = where.read_bytes() if os.path.lexists(where) else None
    except OSError as error:
        raise SignatureError(f"{folder}: cannot read ({error.strerror or error})") from None
    data = to_write(manifest, existing, private_key, str(where))
    own_id = key_id(private_key.public_key())
    if data is None:
        return f"{folder}: already signed by {own_id}; unchanged"
    write_new_file(where, data)
    return f"{folder}: signed by {own_id} ({where})"
