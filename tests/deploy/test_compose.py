"""deploy/compose.yaml is internally consistent and matches the images it builds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from .conftest import DEPLOY, REPO

EXPECTED_SERVICES = {"postgres", "coordinator", "superlink", "node-a", "node-b"}


def _exposed_ports(dockerfile: Path) -> set[int]:
    ports: set[int] = set()
    for ins in DockerfileParser(path=str(dockerfile)).structure:
        if ins["instruction"] == "EXPOSE":
            ports |= {int(p.split("/")[0]) for p in ins["value"].split()}
    return ports


def _dockerfile_of(compose: dict[str, Any], name: str) -> Path | None:
    """The Dockerfile a service is built from, directly or through another service's image."""
    services = compose["services"]
    svc = services[name]
    if "build" in svc:
        build = svc["build"]
        return (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    for other in services.values():
        if "build" in other and other.get("image") == svc.get("image"):
            return (DEPLOY / other["build"]["context"] / other["build"]["dockerfile"]).resolve()
    return None


def test_services_are_the_data_space(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == EXPECTED_SERVICES


def test_depends_on_names_existing_services_without_cycles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    graph: dict[str, list[str]] = {}
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        names = list(deps) if isinstance(deps, dict) else list(deps)
        for dep in names:
            assert dep in services, f"{name} depends on unknown service {dep}"
            if isinstance(deps, dict):
                cond = deps[dep].get("condition", "service_started")
                assert cond in {"service_started", "service_healthy", "service_completed_successfully"}
                if cond == "service_healthy":
                    target = services[dep]
                    has_check = "healthcheck" in target or _image_has_healthcheck(compose, dep)
                    assert has_check, f"{name} waits for {dep} to be healthy, but it has no healthcheck"
        graph[name] = names

    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> None:
        assert node not in visiting, f"depends_on cycle through {node}"
        if node in done:
            return
        visiting.add(node)
        for dep in graph[node]:
            visit(dep)
        visiting.discard(node)
        done.add(node)

    for name in graph:
        visit(name)


def _image_has_healthcheck(compose: dict[str, Any], name: str) -> bool:
    dockerfile = _dockerfile_of(compose, name)
    if dockerfile is None:
        return False
    return any(i["instruction"] == "HEALTHCHECK" for i in DockerfileParser(path=str(dockerfile)).structure)


def test_volumes_are_declared_and_bind_sources_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes", []):
            source = spec.split(":")[0] if isinstance(spec, str) else spec["source"]
            if source.startswith((".", "/")):
                path = (DEPLOY / source).resolve()
                # pki/out is produced by deploy/pki/make-certs.sh; everything else is in git.
                if "pki/out" not in source:
                    assert path.exists(), f"{name} binds {source}, which is not in the repository"
                else:
                    assert (DEPLOY / "pki" / "make-certs.sh").exists()
            else:
                assert source in declared, f"{name} uses volume {source}, not declared at top level"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {declared - used}"


def test_networks_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("networks") or {})
    for name, svc in compose["services"].items():
        nets = svc.get("networks", [])
        for net in nets if isinstance(nets, list) else list(nets):
            assert net in declared, f"{name} joins undeclared network {net}"


def test_builds_point_at_dockerfiles_in_the_repo(compose: dict[str, Any]) -> None:
    built = 0
    for name, svc in compose["services"].items():
        if "build" in svc:
            context = (DEPLOY / svc["build"]["context"]).resolve()
            assert context == REPO, f"{name}: the build context must be the repository root"
            assert (context / svc["build"]["dockerfile"]).is_file()
            assert "image" in svc, f"{name}: tag the built image so other services can reuse it"
            built += 1
        else:
            assert "image" in svc, f"{name} has neither build nor image"
    assert built >= 2


def test_published_ports_are_exposed_by_the_image(compose: dict[str, Any]) -> None:
    seen_host_ports: set[int] = set()
    for name, svc in compose["services"].items():
        for spec in svc.get("ports", []):
            m = re.fullmatch(r"(?:(\d+):)?(\d+)(?:/tcp)?", str(spec))
            assert m, f"{name}: unsupported port spec {spec!r}"
            host, container = int(m.group(1) or m.group(2)), int(m.group(2))
            assert host not in seen_host_ports, f"host port {host} published twice"
            seen_host_ports.add(host)
            dockerfile = _dockerfile_of(compose, name)
            assert dockerfile is not None, f"{name} publishes a port of an image not built here"
            assert container in _exposed_ports(dockerfile), (
                f"{name} publishes {container}, which {dockerfile.name} does not EXPOSE"
            )


def test_coordinator_and_superlink_share_database_and_home(compose: dict[str, Any]) -> None:
    coord = compose["services"]["coordinator"]
    link = compose["services"]["superlink"]
    assert coord["environment"]["SYNTHSPACE_DATABASE_URL"] == link["environment"]["SYNTHSPACE_DATABASE_URL"]
    assert coord["environment"]["SYNTHSPACE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in coord["environment"]["SYNTHSPACE_DATABASE_URL"]
    home = [v for v in coord["volumes"] if v.startswith("coordinator-home:")]
    assert home and home[0] in link["volumes"]


def test_nodes_have_private_homes_and_reach_the_coordinator(compose: dict[str, Any]) -> None:
    services = compose["services"]
    homes = []
    for name in ("node-a", "node-b"):
        svc = services[name]
        env = svc["environment"]
        assert env["SYNTHSPACE_COORDINATOR_URL"] == "http://coordinator:8600"
        homes.append(next(v.split(":")[0] for v in svc["volumes"] if v.endswith("/var/lib/synthspace/node")))
        assert "coordinator" in svc["depends_on"]
    assert len(set(homes)) == 2, "each org's node needs its own private home volume"
    # Nodes get the federation CA certificate through its own volume, never the coordinator home.
    link = services["superlink"]
    ca_dir = link["environment"]["SYNTHSPACE_PUBLISH_CA_DIR"]
    assert f"federation-ca:{ca_dir}" in link["volumes"]
    for name in ("node-a", "node-b"):
        svc = services[name]
        assert not any(v.startswith("coordinator-home:") for v in svc["volumes"])
        assert f"federation-ca:{ca_dir}:ro" in svc["volumes"]
        assert svc["environment"]["SYNTHSPACE_CA_CERT"].startswith(ca_dir + "/")
        assert "--superlink superlink:9092" in svc["environment"]["SYNTHSPACE_JOIN_ARGS"]
    assert "--server-name superlink" in link["environment"]["SYNTHSPACE_SUPERLINK_ARGS"]


def test_password_is_not_committed(compose: dict[str, Any]) -> None:
    pg_env = compose["services"]["postgres"]["environment"]
    assert pg_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD"), "the password must come from .env"
