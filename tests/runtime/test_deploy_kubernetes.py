"""deploy/kubernetes/ validated without a cluster: every resource against the Kubernetes JSON
schemas bundled in kubernetes-validate (strict: unknown fields refused), for each minor release
from 1.30 on; then the cross-references a schema cannot see, checked against a real server:
probe paths answer, the env names are settings the server knows and parse, the memory request
covers the RSS a server reaches, and the stop sequence fits the grace period."""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from conftest import REPO, free_port

from tabship.runtime.settings import Settings, variable_of

DEPLOY = REPO / "deploy" / "kubernetes"
VERSIONS = sorted(
    {
        v
        for v in kubernetes_validate.utils.all_versions()
        if tuple(map(int, v.split(".")[:2])) >= (1, 30)
    },
    key=lambda v: tuple(map(int, v.split("."))),
)
MI = 2**20


def _resources() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document
    return found


def _container(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = resources["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def _quantity(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_validates_strictly(version: str) -> None:
    resources = _resources()
    assert set(resources) == {"ConfigMap", "Deployment", "Service"}
    for resource in resources.values():
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_catches_a_misspelt_field() -> None:
    broken = copy.deepcopy(_resources()["Deployment"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_references_between_the_files_hold() -> None:
    resources = _resources()
    deployment, service, config = (resources[k] for k in ("Deployment", "Service", "ConfigMap"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container = _container(resources)
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in port_names
    env = {e["name"]: e for e in container["env"]}
    assert env["TABSHIP_PORT"]["value"] == str(port_names["http"])
    assert env["TABSHIP_HOST"]["value"] == "0.0.0.0"
    source = env["MODEL_URI"]["valueFrom"]["configMapKeyRef"]
    assert source["name"] == config["metadata"]["name"]
    assert source["key"] in config["data"]
    for entry in env.values():
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        if ref is not None:
            assert ref["name"] == config["metadata"]["name"]
            assert ref["key"] in config["data"], ref
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # the probes go to the health port (its own process: fast under any load on the main one)
    for probe in ("readinessProbe", "startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "health"
    assert env["TABSHIP_HEALTH_PORT"]["value"] == str(port_names["health"])
    assert service["spec"]["ports"][0]["targetPort"] != "health"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def _server_env(resources: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The TABSHIP_* variables the pod gets, resolved from the ConfigMap."""
    config = resources["ConfigMap"]["data"]
    env = {}
    for entry in _container(resources)["env"]:
        name = entry["name"]
        if not name.startswith("TABSHIP_"):
            continue
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        env[name] = config[ref["key"]] if ref else entry["value"]
    return env


def test_every_setting_is_one_the_server_knows_and_parses() -> None:
    resources = _resources()
    env = _server_env(resources)
    known = {variable_of(f) for f in Settings.__dataclass_fields__}
    assert set(env) <= known, set(env) - known
    settings = Settings.from_env({**env, "MODEL_URI": resources["ConfigMap"]["data"]["MODEL_URI"]})
    assert settings.model_uri is not None
    assert settings.model_uri.startswith("s3://")


def _stop_budget(resources: dict[str, dict[str, Any]]) -> tuple[float, float]:
    """(seconds preStop + drain + shutdown can take, terminationGracePeriodSeconds)."""
    spec = resources["Deployment"]["spec"]["template"]["spec"]
    command = _container(resources)["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop = float(command[-1].rsplit("sleep(", 1)[1].rstrip(")"))
    settings = Settings.from_env(_server_env(resources))
    return pre_stop + settings.drain_s + settings.shutdown_timeout_s, spec[
        "terminationGracePeriodSeconds"
    ]


def test_the_stop_sequence_fits_the_grace_period() -> None:
    needed, grace = _stop_budget(_resources())
    assert needed < grace


def _rss_peak_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.server
def test_a_server_with_the_pod_settings_answers_its_probes_fits_its_memory_and_drains(
    version_a: Path, start_server: Callable[..., Any]
) -> None:
    resources = _resources()
    container = _container(resources)
    env = {
        k: v for k, v in _server_env(resources).items() if k not in ("TABSHIP_HOST", "TABSHIP_PORT")
    }
    health = free_port()  # the pod's TABSHIP_HEALTH_PORT, on a port free on this machine
    env["TABSHIP_HEALTH_PORT"] = str(health)
    server = start_server(version_a, env=env)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        path = container[probe]["httpGet"]["path"]
        for _ in range(50):  # the probe port hears of readiness within a heartbeat (0.1 s)
            status = httpx.get(f"http://127.0.0.1:{health}{path}", timeout=10).status_code
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200, probe
    row = {
        "PageValues": 10,
        "ExitRates": 0.02,
        "Administrative": 3,
        "Month": "nov",
        "VisitorType": "new_visitor",
        "OperatingSystems": 2,
    }
    for _ in range(200):
        assert server.client.post("/v1/predict", json=[row] * 50).status_code == 200
    peak = _rss_peak_bytes(server.process.pid)
    request = _quantity(container["resources"]["requests"]["memory"])
    limit = _quantity(container["resources"]["limits"]["memory"])
    print(
        f"\nserver peak RSS {peak / MI:.1f} MiB; request {request / MI:.0f} MiB, limit {limit / MI:.0f} MiB"
    )
    assert peak <= request
    assert limit >= 1.5 * request

    # SIGTERM as the kubelet sends it after preStop: readiness goes false, then a clean exit
    # well inside the grace period (generous margin: the machine is shared)
    _, grace = _stop_budget(resources)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.client.get("/readyz").status_code == 503
    assert httpx.get(f"http://127.0.0.1:{health}/readyz", timeout=10).status_code == 503
    assert server.wait_exit(grace) == 0
    assert time.monotonic() - started < grace
