"""Object-storage URIs (`s3://bucket/key`) through obstore, from the optional `s3` extra and
imported only when such a URI is used. Credentials, region and endpoint come from the standard
AWS_* environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL ...), read by obstore
itself. Every failure is a ModelRefused naming the URI."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from tabship.contract.errors import MissingFile, ModelRefused

SCHEMES = frozenset({"s3"})
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
_CHUNK = 1 << 20


def is_object_uri(uri: str) -> bool:
    return urlsplit(uri).scheme.lower() in SCHEMES


def split(uri: str) -> tuple[str, str]:
    """("s3://bucket", "key/inside") of an object URI; refuses one without a bucket."""
    parts = urlsplit(uri)
    if not parts.netloc:
        raise ModelRefused(f"{uri}: an object URI needs a bucket (s3://bucket/prefix/...)")
    if parts.query or parts.fragment:
        raise ModelRefused(f"{uri}: an object URI takes no query or fragment")
    return f"{parts.scheme.lower()}://{parts.netloc}", parts.path.lstrip("/")


def library() -> Any:
    try:
        import obstore
        import obstore.exceptions
        import obstore.store
    except ImportError:
        raise ModelRefused(
            "s3:// URIs need the optional s3 extra (obstore): pip install 'tabship[s3]', "
            "or scripts/setup.sh s3"
        ) from None
    return obstore


def open_store(bucket_url: str, *, connect_timeout_s: float = 5.0, timeout_s: float = 30.0) -> Any:
    """A store for one bucket. An http:// endpoint in the environment is allowed explicitly
    (obstore accepts only https otherwise); copies that must not overwrite use conditional
    multipart completion, which S3 and its compatible servers honour."""
    obstore = library()
    endpoint = next((os.environ[v] for v in _ENDPOINT_VARIABLES if os.environ.get(v)), "")
    client: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=connect_timeout_s),
        "timeout": timedelta(seconds=timeout_s),
    }
    if endpoint.lower().startswith("http://"):
        client["allow_http"] = True
    try:
        return obstore.store.from_url(
            bucket_url,
            config={"copy_if_not_exists": "multipart"},
            client_options=client,
            retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=timeout_s)},
        )
    except Exception as error:  # obstore raises its own types for bad configuration
        raise ModelRefused(
            f"{bucket_url}: cannot configure the store ({_first_line(error)})"
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300]}" if text else type(error).__name__


_STATUS = re.compile(r"status code: ([0-9]{3}[A-Za-z ]*)")


def describe_error(uri: str, error: BaseException) -> ModelRefused:
    """One line: obstore's messages carry a multi-line debug dump after the useful part."""
    if isinstance(error, FileNotFoundError):
        return MissingFile(f"{uri}: no such object")
    status = _STATUS.search(str(error))
    if status is not None:
        answer = status.group(1).strip()
        hint = " (no such bucket?)" if answer.startswith("404") else ""
        return ModelRefused(f"{uri}: object storage answered HTTP {answer}{hint}")
    return ModelRefused(f"{uri}: object storage request failed ({_first_line(error)})")


def read(
    uri: str,
    max_bytes: int,
    *,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    timeout_s: float | None = None,
) -> bytes:
    """The object's bytes: its size checked against the cap before the download and the bytes
    counted during it; an overall time limit (default connect + 10 reads) checked as chunks
    arrive."""
    obstore = library()
    bucket_url, key = split(uri)
    if not key or key.endswith("/"):
        raise ModelRefused(f"{uri}: names a prefix, not an object")
    store = open_store(bucket_url, connect_timeout_s=connect_timeout_s, timeout_s=read_timeout_s)
    started = time.monotonic()
    overall = connect_timeout_s + 10 * read_timeout_s if timeout_s is None else timeout_s
    try:
        size = int(obstore.head(store, key)["size"])
        if size > max_bytes:
            raise ModelRefused(f"{uri}: {size} bytes is over the cap of {max_bytes}")
        chunks: list[bytes] = []
        total = 0
        for chunk in obstore.get(store, key).stream(min_chunk_size=_CHUNK):
            piece = bytes(chunk)
            total += len(piece)
            if total > max_bytes:
                raise ModelRefused(f"{uri}: more than the cap of {max_bytes} bytes")
            if time.monotonic() - started > overall:
                raise ModelRefused(f"{uri}: download took longer than {overall:g} s")
            chunks.append(piece)
    except ModelRefused:
        raise
    except Exception as error:  # obstore's errors: not found, denied, network
        raise describe_error(uri, error) from None
    return b"".join(chunks)


def put_new(uri: str, data: bytes) -> None:
    """Creates the object `uri` with `data`; never replaces one (a create-only put): an
    existing object is a ModelRefused naming it."""
    obstore = library()
    bucket_url, key = split(uri)
    if not key or key.endswith("/"):
        raise ModelRefused(f"{uri}: names a prefix, not an object")
    store = open_store(bucket_url)
    try:
        obstore.put(store, key, data, mode="create")
    except obstore.exceptions.AlreadyExistsError:
        raise ModelRefused(f"{uri}: already exists; it is never replaced") from None
    except Exception as error:  # obstore's errors: denied, network, missing bucket
        raise describe_error(uri, error) from None
