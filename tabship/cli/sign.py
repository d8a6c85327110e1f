"""`tabship sign VERSION --key KEYFILE`: release a version under an Ed25519 key by writing
manifest.sig beside its manifest.json (tabship/contract/signature.py has the format).

Only a version a server would load is signed: the model's SHA-256 must match the manifest and
the parity gate must have passed. A version is immutable, and so is its signature: signing a
version already signed by the same key changes nothing and succeeds (a release script can run
twice); one signed by another key is refused, never re-signed. Exit 0 signed or already
signed by this key, 1 refused, 2 unusable key or arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tabship.contract import object_store, signature
from tabship.contract.manifest import MANIFEST_FILE
from tabship.runtime.dataplane.errors import MissingFile, ModelRefused
from tabship.runtime.model.artifact import fetch, load_artifact
from tabship.runtime.settings import Settings


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
    if not remote:
        return signature.sign_folder(Path(base), private_key)
    where = signature.sibling(manifest_location)
    try:
        existing = fetch(where, settings, signature.MAX_SIGNATURE_BYTES)
    except MissingFile:
        existing = None
    data = signature.to_write(manifest, existing, private_key, where)
    own_id = signature.key_id(private_key.public_key())
    if data is None:
        return f"{base}: already signed by {own_id}; unchanged"
    _put_new_object(where, data)
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
