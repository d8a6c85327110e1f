"""Model downloads and local reads: redirects stay on their origin unless allowed, a trickling
server is cut off by the deadline and the minimum rate, and only regular files are read, never
past the cap (issue 16, item 5)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME, VERSION_A
from download_servers import file_server, redirector, timed, trickler

from tabship.runtime.dataplane.errors import MissingFile, ModelRefused
from tabship.runtime.model.artifact import fetch_url
from tabship.runtime.model.download import read_local, redirect_refusal
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings, SettingsError

OTHER_HOST = "127.0.0.2"  # a second loopback address: "another host" without a network


def refused(uri: str | Path, **settings: Any) -> str:
    with pytest.raises(ModelRefused) as caught:
        Model.load(Settings(model_uri=str(uri), **settings))
    return str(caught.value)


# --- redirects ------------------------------------------------------------------------------


def test_redirect_to_the_same_origin_is_followed(registry: Path, version_a: Path) -> None:
    with file_server(registry) as files:
        moved = Settings(model_uri=f"{files}/moved/{NAME}/{VERSION_A}/")
        assert Model.load(moved).version == VERSION_A
        # the same host on another port is another origin (another service)
        with redirector(lambda path: f"{files}{path}") as hop:
            message = refused(f"{hop}/{NAME}/{VERSION_A}/")
        assert f"redirect to {files} refused" in message


def test_redirect_to_another_host_is_refused_unless_allowed(
    registry: Path, version_a: Path
) -> None:
    with (
        file_server(registry, host=OTHER_HOST) as elsewhere,
        redirector(lambda path: f"{elsewhere}{path}") as hop,
    ):
        uri = f"{hop}/{NAME}/{VERSION_A}/"
        message = refused(uri)
        assert f"redirect to {elsewhere} refused" in message
        assert "TABSHIP_FETCH_REDIRECT_HOSTS" in message
        allowed = Model.load(Settings(model_uri=uri, fetch_redirect_hosts=(OTHER_HOST,)))
        assert allowed.version == VERSION_A
        port = elsewhere.rsplit(":", 1)[1]
        with_port = Settings(model_uri=uri, fetch_redirect_hosts=(f"{OTHER_HOST}:{port}",))
        assert Model.load(with_port).version == VERSION_A
        assert "refused" in refused(uri, fetch_redirect_hosts=(f"{OTHER_HOST}:1",))


def test_redirect_to_a_local_file_is_refused(version_a: Path) -> None:
    target = (version_a / "manifest.json").as_uri()
    with redirector(lambda path: target) as hop:
        message = refused(f"{hop}/{NAME}/{VERSION_A}/", fetch_redirect_hosts=("*.example",))
    assert "redirect to a file:// URL refused" in message


def test_redirect_rule() -> None:
    assert redirect_refusal("http://a:1/x", "http://a:1/y", ()) is None
    assert redirect_refusal("https://a/x", "https://A:443/y", ()) is None
    assert "never to plain http" in str(redirect_refusal("https://a/x", "http://b/y", ("b",)))
    assert "refused" in str(redirect_refusal("http://a/x", "https://a/y", ()))  # scheme change
    assert redirect_refusal("https://a/x", "https://cdn.b.example/y", ("*.b.example",)) is None
    assert redirect_refusal("https://a/x", "https://b.example/y", ("*.b.example",)) is not None
    assert redirect_refusal("https://a/x", "https://[::1]:8443/y", ("[::1]:8443",)) is None
    assert "only http and https" in str(redirect_refusal("http://a/x", "ftp://a/y", ("a",)))


def test_redirect_hosts_setting_is_checked() -> None:
    parsed = Settings.from_env({"TABSHIP_FETCH_REDIRECT_HOSTS": " cdn.example , *.s3.example:443"})
    assert parsed.fetch_redirect_hosts == ("cdn.example", "*.s3.example:443")
    for bad in ("http://cdn.example", "user@cdn", "*", "a b"):
        with pytest.raises(SettingsError, match="TABSHIP_FETCH_REDIRECT_HOSTS"):
            Settings.from_env({"TABSHIP_FETCH_REDIRECT_HOSTS": bad})


# --- time limits ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_trickling_body_is_cut_off_at_the_deadline() -> None:
    # 1000 B every 0.9 s: each read arrives before the 1 s read timeout, forever
    settings = Settings(fetch_read_timeout_s=1.0, fetch_timeout_s=3.0, fetch_min_bytes_per_s=0)
    with trickler() as url:
        elapsed, result = timed(lambda: fetch_url(f"{url}/model.onnx", settings))
    assert isinstance(result, ModelRefused), result
    assert "longer than 3 s" in str(result)
    assert elapsed < 3.0 + 1.5, elapsed


@pytest.mark.timeout(60)
def test_a_trickling_head_is_cut_off_at_the_deadline() -> None:
    settings = Settings(fetch_read_timeout_s=1.0, fetch_timeout_s=2.0)
    with trickler(head_byte_every_s=0.2) as url:
        elapsed, result = timed(lambda: fetch_url(f"{url}/model.onnx", settings))
    assert isinstance(result, ModelRefused), result
    assert "longer than 2 s" in str(result)
    assert elapsed < 2.0 + 1.5, elapsed


@pytest.mark.timeout(60)
def test_a_body_below_the_minimum_rate_is_refused_before_the_deadline() -> None:
    settings = Settings(
        fetch_read_timeout_s=1.0, fetch_timeout_s=30.0, fetch_min_bytes_per_s=10_000
    )
    with trickler() as url:
        elapsed, result = timed(lambda: fetch_url(f"{url}/model.onnx", settings))
    assert isinstance(result, ModelRefused), result
    assert "download too slow" in str(result)
    assert "TABSHIP_FETCH_MIN_BYTES_PER_S" in str(result)
    assert elapsed < 10, elapsed


def test_a_body_cut_short_is_refused() -> None:
    settings = Settings(fetch_read_timeout_s=5.0, fetch_min_bytes_per_s=0)
    with trickler(piece=100, every_s=0.01, declared=100) as url:
        assert fetch_url(f"{url}/x", settings) == b"\0" * 100
    with trickler(piece=100, every_s=0.01, declared=1000, sent_in_all=300) as url:
        with pytest.raises(ModelRefused, match="closed after 300 of 1000 bytes"):
            fetch_url(f"{url}/x", settings)


def test_missing_http_file_is_a_missing_file(registry: Path) -> None:
    with file_server(registry) as files, pytest.raises(MissingFile, match="HTTP 404"):
        fetch_url(f"{files}/nothing", Settings())


# --- local files ----------------------------------------------------------------------------


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    sock_path = tmp_path / "sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    try:
        for path, kind in (
            (fifo, "is a FIFO (named pipe)"),
            (Path("/dev/zero"), "is a character device"),
            (link, "is a character device"),
            (sock_path, "is a socket"),
            (tmp_path, "is a directory"),
        ):
            with pytest.raises(ModelRefused, match="not a regular file") as caught:
                read_local(path, 1 << 20)
            assert kind in str(caught.value)
        with pytest.raises(ModelRefused, match="a link to /dev/zero"):
            read_local(link, 1 << 20)
        with pytest.raises(MissingFile, match="no such file"):
            read_local(tmp_path / "absent", 10)
    finally:
        listener.close()


def test_the_cap_holds_whatever_stat_says() -> None:
    # files under /proc say st_size 0 and hold more
    assert os.stat("/proc/self/maps").st_size == 0
    with pytest.raises(ModelRefused, match="more than the cap of 100 bytes"):
        read_local(Path("/proc/self/maps"), 100)
    assert len(read_local(Path("/proc/self/maps"), 1 << 24)) > 100


def test_exactly_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert read_local(path, 1000) == b"x" * 1000
    with pytest.raises(ModelRefused, match="1000 bytes is over the cap of 999"):
        read_local(path, 999)


@pytest.mark.timeout(30)
def test_models_that_are_not_regular_files_are_refused_at_load(
    version_a: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "version"
    folder.mkdir()
    (folder / "manifest.json").write_bytes((version_a / "manifest.json").read_bytes())
    os.mkfifo(folder / "model.onnx")
    assert "is a FIFO" in refused(folder)
    assert "is a FIFO" in refused(folder / "model.onnx")
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to("/dev/zero")
    assert "a link to /dev/zero): is a character device" in refused(folder)
    assert "is a character device" in refused("/dev/zero", model_sha256="0" * 64)
    # a manifest that is a FIFO is named, not mistaken for a missing one
    manifest = tmp_path / "fifo-manifest"
    manifest.mkdir()
    os.mkfifo(manifest / "manifest.json")
    assert "manifest.json: is a FIFO" in refused(manifest)


# --- a real `tabship serve` process ---------------------------------------------------------


def assert_one_line_refusal(server: Any, expected: str) -> None:
    assert server.wait_exit(timeout=30) == 1, server.log
    errors = [line for line in server.log.splitlines() if "ERROR" in line]
    assert len(errors) == 1, server.log
    assert "refusing to serve the model" in errors[0], server.log
    assert expected in errors[0], server.log
    assert "Traceback" not in server.log
    assert "MemoryError" not in server.log


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_serve_refuses_a_fifo_a_device_and_a_foreign_redirect_at_start_up(
    start_server: Any, registry: Path, version_a: Path, tmp_path: Path
) -> None:
    fifo_version = tmp_path / "fifo"
    fifo_version.mkdir()
    (fifo_version / "manifest.json").write_bytes((version_a / "manifest.json").read_bytes())
    os.mkfifo(fifo_version / "model.onnx")
    assert_one_line_refusal(start_server(fifo_version, ready=False), "is a FIFO (named pipe)")

    zero_version = tmp_path / "zero"
    zero_version.mkdir()
    (zero_version / "manifest.json").write_bytes((version_a / "manifest.json").read_bytes())
    (zero_version / "model.onnx").symlink_to("/dev/zero")
    assert_one_line_refusal(
        start_server(zero_version, ready=False), "(a link to /dev/zero): is a character device"
    )
    assert_one_line_refusal(
        start_server("/dev/zero", {"MODEL_SHA256": "0" * 64}, ready=False),
        "/dev/zero: is a character device",
    )

    with (
        file_server(registry, host=OTHER_HOST) as elsewhere,
        redirector(lambda path: f"{elsewhere}{path}") as hop,
    ):
        uri = f"{hop}/{NAME}/{VERSION_A}/"
        assert_one_line_refusal(start_server(uri, ready=False), f"redirect to {elsewhere} refused")
        allowed = start_server(uri, {"TABSHIP_FETCH_REDIRECT_HOSTS": OTHER_HOST})
        assert allowed.client.get("/v1/metadata").json()["version"] == VERSION_A


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_serve_gives_up_on_a_trickling_download_at_the_deadline(start_server: Any) -> None:
    env = {
        "TABSHIP_FETCH_READ_TIMEOUT_S": "1",
        "TABSHIP_FETCH_TIMEOUT_S": "3",
        "TABSHIP_FETCH_MIN_BYTES_PER_S": "0",
        "MODEL_SHA256": "0" * 64,
    }
    with trickler() as url:
        started = time.monotonic()
        server = start_server(f"{url}/model.onnx", env, ready=False)
        server.wait_exit(timeout=60)
        elapsed = time.monotonic() - started
    assert_one_line_refusal(server, "download took longer than 3 s")
    assert elapsed < 3 + 10, elapsed  # interpreter start-up included; before: 90 s
