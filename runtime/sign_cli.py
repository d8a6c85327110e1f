"""`tabship sign VERSION --key KEYFILE`: release a version under an Ed25519 key by writing
manifest.sig beside its manifest.json (runtime/signature.py has the format).

Only a version a server would load is signed: the model's SHA-256 must match the manifest and
the parity gate must have passed. A version is immutable, and so is its signature: signing a
version already signed by the same key changes nothing and succeeds (a release script can run
twice); one signed by another key is refused, never re-signed. Exit 0 signed or already
signed by this key, 1 refused, 2 unusable key or arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from runtime import object_store, signature
from runtime.artifact import MANIFEST_FILE, fetch, load_artifact
from runtime.errors import MissingFile, ModelRefused
from runtime.settings import Settings


class SigningRefused(ModelRefused):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="a version directory, or s3://bucket/.../<name>/<version>")
    parser.add_argument(
        "--key",
        required=True,
        help="Ed25519 private key (PEM or OpenSSH; `tabship keygen` makes one); an encrypted "
        f"key takes its password from ${signature.PASSWORD_VARIABLE}",
    )


def _write_new_file(path: Path, data: bytes) -> None:
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
            raise SigningRefused(f"{path} appeared while signing; not replacing it") from None
    finally:
        os.unlink(temporary)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _put_new_object(uri: str, data: bytes) -> None:
    obstore = object_store.library()
    bucket_url, key = object_store.split(uri)
    store = object_store.open_store(bucket_url)
    try:
        obstore.put(store, key, data, mode="create")
    except obstore.exceptions.AlreadyExistsError:
        raise SigningRefused(f"{uri} appeared while signing; not replacing it") from None
    except Exception as error:  # obstore's errors: denied, network
        raise object_store.describe_error(uri, error) from None


def sign_version(location: str, private_key: Any) -> str:
    """Signs the version at `location` (a folder or s3:// prefix); returns what was done, one
    line. Raises ModelRefused (SigningRefused, SignatureError) with the reason."""
    remote = object_store.is_object_uri(location)
    if not remote and "://" in location:
        raise SigningRefused(f"{location}: only a local or s3:// version can be signed")
    base = location.rstrip("/")
    settings = Settings()
    manifest_location = f"{base}/{MANIFEST_FILE}"
    if not remote and not Path(base).is_dir():
        raise SigningRefused(f"{base}: not a version directory")
    manifest = fetch(manifest_location, settings, 16 * 1024 * 1024)
    # what a server checks (hashes, structure, gate); trusted keys play no part here
    load_artifact(Settings(model_uri=base))
    if fetch(manifest_location, settings, 16 * 1024 * 1024) != manifest:
        raise SigningRefused(f"{manifest_location} changed while it was being checked")
    own_id = signature.key_id(private_key.public_key())
    where = signature.sibling(manifest_location)
    try:
        existing = fetch(where, settings, signature.MAX_SIGNATURE_BYTES)
    except MissingFile:
        existing = None
    if existing is not None:
        present = signature.parse(existing, where)
        if present.key_id != own_id:
            raise SigningRefused(
                f"{base}: already signed by {present.key_id}; a version's signature is never "
                f"replaced (to move to {own_id}, trust both keys while versions signed by "
                "the old one are served)"
            )
        signature.verify(manifest, existing, {own_id: private_key.public_key()}, where)
        return f"{base}: already signed by {own_id} (signed {present.signed_at}); unchanged"
    data = signature.sign(manifest, private_key)
    if remote:
        _put_new_object(where, data)
    else:
        _write_new_file(Path(where), data)
    return f"{base}: signed by {own_id} ({where})"


def run(args: argparse.Namespace) -> int:
    try:
        key = signature.load_private_key(Path(args.key))
    except ModelRefused as error:
        print(f"tabship sign: {error}", file=sys.stderr)
        return 2
    try:
        print(sign_version(args.version, key))
    except ModelRefused as error:
        print(f"tabship sign: refused: {error}", file=sys.stderr)
        return 1
    return 0
