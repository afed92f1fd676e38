"""The deployment files under deploy/ parse, validate and agree with the code: Kubernetes
core resources against the bundled schemas (kubernetes-validate, offline), the compose
file's references and settings, the systemd units (systemd-analyze), and the generated
KafkaUser ACLs against what `topics sync` provisions."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from broker import acl_render, grants
from broker.directory import loader
from broker.directory.model import Directory, Unit
from kernel import settings
from kernel.topics import Topics
from lienthong.commands.deploy import kubernetes_users

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SAMPLE = "broker/directory/samples/ben-tre.yaml"
GENERATED = DEPLOY / "kubernetes" / "generated" / "kafka-users.yaml"
_CORE = re.compile(r"^(v1|apps/v1|batch/v1|policy/v1|networking\.k8s\.io/v1)$")


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _documents(path)


KUBERNETES = [
    (path, n, doc)
    for path in sorted((DEPLOY / "kubernetes").rglob("*.yaml"))
    for n, doc in enumerate(_documents(path))
]


@pytest.mark.parametrize(
    ("path", "n", "doc"), KUBERNETES, ids=[f"{p.name}#{n}" for p, n, _ in KUBERNETES]
)
def test_kubernetes_resources_are_valid(path: Path, n: int, doc: dict[str, Any]) -> None:
    """Core resources against the schemas; custom ones (Strimzi, CloudNativePG,
    prometheus-operator) by the fields their operators require."""
    assert {"apiVersion", "kind", "metadata"} <= doc.keys()
    if _CORE.match(doc["apiVersion"]):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        return
    kinds = {
        ("kafka.strimzi.io/v1", "Kafka"): ["kafka"],
        ("kafka.strimzi.io/v1", "KafkaNodePool"): ["replicas", "roles", "storage"],
        ("kafka.strimzi.io/v1", "KafkaUser"): ["authentication", "authorization"],
        ("postgresql.cnpg.io/v1", "Cluster"): ["instances", "storage"],
        ("monitoring.coreos.com/v1", "ServiceMonitor"): ["selector", "endpoints"],
    }
    required = kinds.get((doc["apiVersion"], doc["kind"]))
    assert required is not None, f"{doc['apiVersion']} {doc['kind']} is not checked here"
    assert set(required) <= doc["spec"].keys()
    if doc["kind"] in ("KafkaNodePool", "KafkaUser"):
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "lienthong"


def test_deployments_probe_the_health_commands() -> None:
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for _, _, d in KUBERNETES
        if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("lienthong-")
    }
    router = deployments["lienthong-router"]
    assert router["readinessProbe"]["exec"]["command"][-3:] == ["lienthong", "router", "health"]
    connector = deployments["lienthong-connector-province"]
    assert connector["readinessProbe"]["httpGet"]["path"] == "/health"


def _setting_names() -> set[str]:
    """Every LIENTHONG_ variable kernel/settings.py reads."""
    source = Path(settings.__file__).read_text(encoding="utf-8")
    return {settings.PREFIX + n for n in re.findall(r'get\("([A-Z0-9_]+)"\)', source)}


def test_compose_file() -> None:
    compose_dir = DEPLOY / "compose"
    compose = yaml.safe_load((compose_dir / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "postgres", "clamd", "prometheus"} <= set(services)
    assert [s for s in services if s.startswith("router-")] == ["router-1", "router-2"]
    assert services["connector"]["command"][:2] == ["connector", "run"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (compose_dir / source).exists(), f"{name} mounts missing {source}"
        for var in service.get("environment", {}) or {}:
            if var.startswith(settings.PREFIX):
                assert var in _setting_names(), f"{name} sets {var}, which is no setting"
        for secret in service.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]
            assert source in compose["secrets"], f"{name} uses undeclared secret {source}"
    for config in compose["configs"].values():
        assert (compose_dir / config["file"]).is_file()
    build = services["router-1"]["build"]
    assert (compose_dir / build["context"] / build["dockerfile"]).is_file()
    for name in ("router-1", "router-2", "connector"):
        assert services[name]["command"][-1] == "--metrics"


def test_compose_kafka_mirrors_the_devstack_broker() -> None:
    """Every security setting the devstack writes is in the compose brokers' start script."""
    start = (DEPLOY / "compose" / "kafka" / "start.sh").read_text(encoding="utf-8")
    devstack = (ROOT / "lienthong" / "devstack" / "kafka.py").read_text(encoding="utf-8")
    for key in (
        "sasl.enabled.mechanisms", "listener.name.controller.ssl.client.auth",
        "listener.name.broker.ssl.client.auth", "authorizer.class.name",
        "allow.everyone.if.no.acl.found", "super.users", "connections.max.reauth.ms",
        "auto.create.topics.enable", "metadata.log.max.snapshot.interval.ms",
        "min.insync.replicas", "ssl.enabled.protocols",
    ):  # fmt: skip
        assert f"{key}=" in devstack, key
        assert re.search(rf"^{re.escape(key)}=", start, re.MULTILINE), key


def test_systemd_units() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} == {
        "lienthong-router.service", "lienthong-connector@.service", "lienthong-bridge@.service",
        "lienthong-console.service", "lienthong-lock-due.service",
    }  # fmt: skip
    for unit in units:
        text = unit.read_text(encoding="utf-8")
        for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "EnvironmentFile="):
            assert option in text, f"{unit.name} lacks {option}"
        assert "ReadWritePaths=/var/lib/lienthong" in text


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    # Verify checks that ExecStart's program exists: point it at this checkout's.
    program = str(Path(sys.executable).with_name("lienthong"))
    for unit in [*(DEPLOY / "systemd").glob("*.service"), *(DEPLOY / "systemd").glob("*.timer")]:
        text = unit.read_text(encoding="utf-8")
        (tmp_path / unit.name).write_text(
            text.replace("/opt/lienthong/venv/bin/lienthong", program), encoding="utf-8"
        )
    instance = tmp_path / "lienthong-connector@province.service"
    instance.write_text((tmp_path / "lienthong-connector@.service").read_text(), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "lienthong" not in result.stderr, result.stderr


def _generated_command() -> tuple[datetime.date, list[str]]:
    head = GENERATED.read_text(encoding="utf-8").splitlines()[0]
    day = re.search(r"--date (\S+)", head)
    assert day is not None
    return datetime.date.fromisoformat(day[1]), re.findall(r"--router ([^\s`]+)", head)


def test_generated_kafka_users_are_what_provisioning_grants() -> None:
    """The checked-in KafkaUsers hold exactly the ACLs `topics sync` gives the sample
    directory's principals; regenerate with the command in the file's first line."""
    today, routers = _generated_command()
    topics = Topics()
    directory = loader.load(ROOT / SAMPLE)
    want = grants.desired(topics, directory, [topics.router_user(r) for r in routers], today=today)
    assert acl_render.grants_of(_documents(GENERATED)) == want
    assert GENERATED.read_text(encoding="utf-8") == kubernetes_users(
        directory, topics, routers, today=today, cluster="lienthong", source=SAMPLE
    )


def test_rendering_round_trips_gateways_and_closed_units() -> None:
    day = datetime.date(2025, 7, 1)
    directory = Directory(
        [
            Unit("000.00.00.H62", "UBND tỉnh Vĩnh Long", "province"),
            Unit("000.00.00.H07", "UBND tỉnh Bến Tre", "province",
                 valid_to=datetime.date(2025, 6, 30), successor="000.00.00.H62"),
            Unit("000.00.00.G22", "Văn phòng Chính phủ", "central", gateway="vdxp"),
        ]
    )  # fmt: skip
    topics = Topics("tinh.")
    want = grants.desired(topics, directory, [topics.router_user("a")], today=day)
    users = acl_render.kafka_users(want, cluster="lienthong")
    assert acl_render.grants_of(users) == want
    assert {u["metadata"]["name"] for u in users} == {
        "tinh.router.a", "tinh.gateway.vdxp", "tinh.unit.000.00.00.H62", "tinh.unit.000.00.00.H07"
    }  # fmt: skip
    assert acl_render.unnameable(users) == ["tinh.unit.000.00.00.H07", "tinh.unit.000.00.00.H62"]
