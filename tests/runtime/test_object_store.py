"""s3:// model URIs and registries against a real S3-compatible server process (moto) on
127.0.0.1: serve a version from a bucket (plots included), refuse a tampered or missing object
or one over the cap, publish atomically without ever overwriting, list with `tabship models`,
and `tabship train --registry s3://...` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME, REPO
from fixture_model import write_version
from report_fixture import add_report
from s3_server import S3Server, aws_env, s3_server, upload_tree  # noqa: F401 (fixtures)

from tabship.export.registry import ObjectRegistry, RegistryError, open_registry
from tabship.training import evidence

pytestmark = [pytest.mark.server]
VERSION = "20261126T100000000000Z-1a2b3c4d"
ROW = {
    "PageValues": 10,
    "ExitRates": None,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": None,
}


@pytest.fixture(scope="module")
def local_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_version(tmp_path_factory.mktemp("s3src"), NAME, VERSION, threshold=0.35)
    add_report(folder)
    return folder


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server, local_version: Path) -> str:  # noqa: F811
    client = s3_server.client()
    client.create_bucket(Bucket="serve")
    upload_tree(client, "serve", f"models/{NAME}/{VERSION}", local_version)
    return "serve"


def _logs_refusal(server: Any) -> str:
    assert server.wait_exit(60) == 1, server.log
    assert "refusing to serve the model" in server.log
    return str(server.log)


def test_serves_a_version_from_a_bucket(
    s3_server: S3Server,  # noqa: F811
    bucket: str,
    local_version: Path,
    start_server: Callable[..., Any],
) -> None:
    uri = f"s3://{bucket}/models/{NAME}/{VERSION}"
    remote = start_server(uri, env=s3_server.env)
    local = start_server(local_version)
    answer = remote.client.post("/v1/predict", json=ROW)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == {"name": NAME, "version": VERSION}
    assert answer.json() == local.client.post("/v1/predict", json=ROW).json()
    manifest = json.loads((local_version / "manifest.json").read_text())
    assert remote.client.get("/v1/metadata").json()["sha256"] == manifest["onnx"]["sha256"]
    page = remote.client.get("/").text
    assert page.count('<img alt="') == 4  # the plots, read from the bucket and verified
    assert "not shown" not in page


def test_tampered_object_is_refused(
    s3_server: S3Server,  # noqa: F811
    bucket: str,
    local_version: Path,
    start_server: Callable[..., Any],
) -> None:
    client = s3_server.client()
    prefix = f"models/{NAME}/20261126T110000000000Z-99999999"
    upload_tree(client, bucket, prefix, local_version)
    tampered = bytearray((local_version / "model.onnx").read_bytes())
    tampered[-1] ^= 0x01
    client.put_object(Bucket=bucket, Key=f"{prefix}/model.onnx", Body=bytes(tampered))
    server = start_server(f"s3://{bucket}/{prefix}", env=s3_server.env, ready=False)
    log = _logs_refusal(server)
    assert "does not match the manifest" in log


def test_missing_objects_and_buckets_are_clear_errors(
    s3_server: S3Server,  # noqa: F811
    bucket: str,
    start_server: Callable[..., Any],
) -> None:
    absent = f"s3://{bucket}/models/{NAME}/20261126T120000000000Z-00000000"
    log = _logs_refusal(start_server(absent, env=s3_server.env, ready=False))
    assert f"{absent}/manifest.json: no such object" in log
    log = _logs_refusal(
        start_server(f"s3://no-such-bucket/{NAME}/{VERSION}", env=s3_server.env, ready=False)
    )
    assert "no such object" in log
    assert "Traceback" not in log


def test_an_object_over_the_cap_is_refused_before_download(
    s3_server: S3Server,  # noqa: F811
    bucket: str,
    start_server: Callable[..., Any],
) -> None:
    server = start_server(
        f"s3://{bucket}/models/{NAME}/{VERSION}",
        env={**s3_server.env, "TABSHIP_FETCH_MAX_BYTES": "4096"},
        ready=False,
    )
    assert "bytes is over the cap of 4096" in _logs_refusal(server)


def test_an_unreachable_store_is_a_clear_error(
    s3_server: S3Server,  # noqa: F811
    start_server: Callable[..., Any],
) -> None:
    from conftest import free_port

    env = {**s3_server.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    server = start_server(f"s3://serve/models/{NAME}/{VERSION}", env=env, ready=False)
    assert "object storage request failed" in _logs_refusal(server)


def test_without_the_s3_extra_the_error_names_it() -> None:
    probe = (
        "import sys; sys.modules['obstore'] = None\n"
        "from tabship.runtime.model.artifact import load_artifact\n"
        "from tabship.contract.errors import ModelRefused\n"
        "from tabship.runtime.settings import Settings\n"
        "try:\n"
        "    load_artifact(Settings(model_uri='s3://bucket/models/x'))\n"
        "except ModelRefused as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "s3:// URIs need the optional s3 extra" in done.stdout


def _fill_from(source: Path) -> Callable[[Path], None]:
    def fill(folder: Path) -> None:
        for path in source.rglob("*"):
            if path.is_file():
                target = folder / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())

    return fill


def _keys(client: Any, bucket: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


def test_publish_is_atomic_and_never_overwrites(
    s3_server: S3Server,  # noqa: F811
    aws_env: dict[str, str],  # noqa: F811
    local_version: Path,
) -> None:
    client = s3_server.client()
    client.create_bucket(Bucket="registry")
    registry = open_registry("s3://registry/team")
    assert isinstance(registry, ObjectRegistry)
    assert registry.models() == []
    version = registry.new_version_id(NAME, "ab" * 32)
    folder = registry.write_version(NAME, version, _fill_from(local_version))
    assert _keys(client, "registry") == []  # nothing in the store before publish
    uri = registry.publish(folder)
    assert uri == f"s3://registry/team/{NAME}/{version}"
    expected = sorted(
        f"team/{NAME}/{version}/{p.relative_to(local_version)}"
        for p in local_version.rglob("*")
        if p.is_file()
    )
    assert _keys(client, "registry") == expected  # no temporary keys left
    assert not folder.exists()  # the local copy is gone once published
    assert registry.models() == [NAME]
    assert registry.versions(NAME) == [version]
    assert registry.latest(NAME) == uri
    assert registry.read_manifest(NAME, version)["name"] == NAME

    # the same id again: refused before anything is written, and at publish time too
    with pytest.raises(RegistryError, match="already exists; versions are never overwritten"):
        registry.write_version(NAME, version, _fill_from(local_version))
    other = ObjectRegistry("s3://registry/team")
    racing = other._spool.write_version(NAME, version, _fill_from(local_version))
    with pytest.raises(RegistryError, match="already exists"):
        other.publish(racing)
    assert _keys(client, "registry") == expected

    # a version whose manifest.json never arrived is not listed, but ids still go past it
    later = "29991231T000000000000Z-0badf00d"
    client.put_object(Bucket="registry", Key=f"team/{NAME}/{later}/model.onnx", Body=b"x")
    assert registry.versions(NAME) == [version]
    assert registry.new_version_id(NAME, "cd" * 32) > later


def test_publish_to_a_missing_bucket_is_a_registry_error(
    aws_env: dict[str, str],  # noqa: F811
    local_version: Path,
) -> None:
    registry = ObjectRegistry("s3://not-a-bucket/team")
    with pytest.raises(
        RegistryError, match=r"\(list\): object storage answered HTTP 404 Not Found"
    ):
        registry.models()


def _tabship(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABSHIP_"))}
    return subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**full, **env},
        timeout=600,
    )


@pytest.mark.slow
def test_train_publishes_to_s3_then_models_lists_and_serve_serves_it(
    s3_server: S3Server,  # noqa: F811
    tmp_path: Path,
    start_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from test_train_cli import LOANS, loans_frame, write_csv

    s3_server.client().create_bucket(Bucket="trained")
    data = write_csv(loans_frame(), tmp_path / "loans.csv")
    root = "s3://trained/registry"
    trained = _tabship(
        ["train", "--data", str(data), "--declaration", str(LOANS), "--registry", root,
         "--search-iterations", "1"],
        s3_server.env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stdout + trained.stderr
    published = [
        line.split(" ", 1)[1]
        for line in trained.stdout.splitlines()
        if line.startswith("published: ")
    ]
    assert len(published) == 1
    assert published[0].startswith(f"{root}/loans-full/")

    listed = _tabship(["models", "--registry", root, "--json"], s3_server.env)
    assert listed.returncode == 0, listed.stderr
    models = json.loads(listed.stdout)["models"]
    assert [m["name"] for m in models] == ["loans-full"]
    (entry,) = models[0]["versions"]
    assert entry["path"] == published[0]
    assert entry["parity"] == "passed"
    text = _tabship(["models", "--registry", root], s3_server.env)
    assert "parity passed" in text.stdout

    server = start_server(published[0], env=s3_server.env)
    row = {"income": 41000, "loan_amount": 9000, "age": 37, "purpose": "car", "branch": 2}
    answer = server.client.post("/v1/predict", json=row)
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["probability"] <= 1
    page = server.client.get("/").text
    assert page.count('<img alt="') == 4  # the training report's real plots, from the bucket

    # the evidence went beside the registry's prefix, never under it, and reads back verified
    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="trained")["Contents"]]
    version = published[0].rsplit("/", 1)[1]
    under = [k.rsplit("/", 1)[1] for k in keys if k.startswith("registry/")]
    assert not set(under) & {*evidence.FILES, "reference.joblib", "reference_data.joblib"}
    kept = f"registry-evidence/loans-full/{version}/"
    assert sorted(k[len(kept) :] for k in keys if k.startswith(kept)) == sorted(evidence.FILES)
    folder = tmp_path / "local" / "loans-full" / version
    folder.mkdir(parents=True)
    manifest = client.get_object(
        Bucket="trained", Key=f"registry/loans-full/{version}/manifest.json"
    )
    (folder / "manifest.json").write_bytes(manifest["Body"].read())
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)  # this process reads the bucket too
    found = evidence.read(folder, "s3://trained/registry-evidence")
    assert len(found.reference_data["train_frame"]) > 0
    client.put_object(Bucket="trained", Key=kept + evidence.PIPELINE_FILE, Body=b"swapped")
    with pytest.raises(evidence.EvidenceError, match="SHA-256"):
        evidence.read(folder, "s3://trained/registry-evidence")


def test_models_on_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    from conftest import free_port

    env = {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }
    done = _tabship(["models", "--registry", "s3://b/p"], env)
    assert done.returncode == 2
    assert done.stderr.startswith("tabship models: s3://b/p (list): object storage request failed")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("uri", ["gs://bucket/models/x", "az://account/container/x"])
def test_other_object_stores_are_refused_not_guessed(uri: str, tmp_path: Path) -> None:
    from tabship.runtime.dataplane.errors import ModelRefused
    from tabship.runtime.model.artifact import load_artifact
    from tabship.runtime.settings import Settings

    with pytest.raises(ModelRefused, match="unsupported URI scheme"):
        load_artifact(Settings(model_uri=uri))
    with pytest.raises(RegistryError, match="unsupported registry URI"):
        open_registry(uri)
