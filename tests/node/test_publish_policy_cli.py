"""`synthspace publish --share-with/--permit/--expires/--policy` signs a usage policy into the
lineage, and `synthspace catalog policy ID` shows what applies, against a real coordinator:
an org outside the policy cannot even see the artifact, an unsigned artifact shows the terms
for unsigned artifacts (the same digest agreements use), and bad options are one-line errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import Coordinator, cli, generate_run, make_node

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def space(coordinator: Coordinator, fake_llm: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("policy-cli")
    orgs = {p: make_node(base, coordinator, p) for p in ("alpha", "beta", "gamma")}
    run = generate_run(base / "run", orgs["alpha"], fake_llm, limit=6)
    yield {"base": base, "run": run, **orgs}


def _copy(space: dict[str, Any], name: str) -> Path:
    """Another run directory with the same records: each publish signs its own statement."""
    dst = space["base"] / name
    shutil.copytree(space["run"], dst)
    return dst


def _home(space: dict[str, Any], org: str) -> list[str]:
    return ["--home", str(space[org].path)]


def test_share_with_signs_the_policy_and_hides_the_artifact_from_others(space: dict[str, Any]) -> None:
    run = _copy(space, "run-shared")
    beta = space["beta"].config().org
    code, out, err = cli("publish", str(run), "--share-with", beta, "--permit", "use,train",
                         "--expires", "2030-01-31", "--json", *_home(space, "alpha"))  # fmt: skip
    assert code == 0, err
    aid = json.loads(out)["artifact_id"]

    code, out, err = cli("catalog", "policy", aid, "--json", *_home(space, "alpha"))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["signed"] is True and shown["policy"] == shown["effective"]
    assert [(r["action"], r["assignee"]) for r in shown["policy"]["permission"]] == [("use", [beta]), ("train", [beta])]
    (expiry,) = shown["policy"]["permission"][0]["constraint"]
    assert expiry["leftOperand"] == "dateTime" and expiry["rightOperand"].startswith("2030-01-31T23:59:59")
    assert [r["action"] for r in shown["policy"]["prohibition"]] == ["redistribute"]

    code, out, _ = cli("catalog", "policy", aid, *_home(space, "beta"))  # the assignee sees it
    assert code == 0 and f"use by {beta}" in out and "signed into the lineage" in out
    code, out, err = cli("catalog", "policy", aid, *_home(space, "gamma"))  # outside the policy: 404
    assert code == 1 and out == "" and "404 unknown_artifact" in err, out + err

    # The signed bundle keeps its terms: asking for others is refused, the same terms resume.
    code, _, err = cli("publish", str(run), "--share-with", space["gamma"].config().org, *_home(space, "alpha"))
    assert code == 1 and "cannot change" in err, err
    code, out, err = cli("publish", str(run), "--share-with", beta, "--permit", "use,train",
                         "--expires", "2030-01-31", "--json", *_home(space, "alpha"))  # fmt: skip
    assert code == 0 and json.loads(out)["artifact_id"] == aid, err


def test_unsigned_artifact_shows_the_terms_agreements_use(space: dict[str, Any]) -> None:
    from synthspace.policy import unsigned_policy

    code, out, err = cli("publish", str(_copy(space, "run-plain")), "--json", *_home(space, "alpha"))
    assert code == 0, err
    aid = json.loads(out)["artifact_id"]
    code, out, err = cli("catalog", "policy", aid, "--json", *_home(space, "gamma"))  # members see it
    assert code == 0, err
    shown = json.loads(out)
    assert shown["signed"] is False and shown["policy"] is None
    assert shown["digest"] == unsigned_policy().digest()
    assert {r["action"] for r in shown["effective"]["permission"]} == {"use", "train", "evaluate", "derive"}
    code, out, _ = cli("catalog", "policy", aid, *_home(space, "gamma"))
    assert code == 0 and "none signed: the space default applies" in out and "prohibits: redistribute" in out


def test_policy_file_in_yaml(space: dict[str, Any]) -> None:
    beta = space["beta"].config().org
    policy = space["base"] / "policy.yaml"
    policy.write_text(
        "permission:\n"
        f"  - action: evaluate\n    assignee: [{beta}]\n"
        "    constraint: [{leftOperand: purpose, operator: isAnyOf, rightOperand: [research]}]\n"
    )
    code, out, err = cli("publish", str(_copy(space, "run-file")), "--policy", str(policy), "--json", *_home(space, "alpha"))
    assert code == 0, err
    code, out, _ = cli("catalog", "policy", json.loads(out)["artifact_id"], "--json", *_home(space, "beta"))
    (rule,) = json.loads(out)["policy"]["permission"]
    assert rule["action"] == "evaluate" and rule["constraint"][0]["rightOperand"] == ["research"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--permit", "use,fly"], "--permit takes actions out of"),
        (["--expires", "2001-01-01"], "has already passed"),
        (["--expires", "next tuesday"], "is not a date"),
        (["--share-with", "not a name"], "--share-with"),
        (["--policy", "POLICY", "--share-with", "x"], "not both"),
        (["--policy", "BAD_SHAPE"], "not in the profile"),
        (["--policy", "NOT_YAML"], "is not JSON or YAML"),
        (["--policy", "MISSING"], "cannot read --policy"),
    ],
)
def test_bad_policy_options_are_one_line_errors(space: dict[str, Any], args: list[str], message: str) -> None:
    files = {
        "POLICY": ("policy.json", '{"permission": [{"action": "use"}]}'),
        "BAD_SHAPE": ("bad.json", '{"permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "lteq", "rightOperand": 3}]}]}'),
        "NOT_YAML": ("broken.yaml", "permission: [unclosed"),
    }
    resolved = []
    for a in args:
        if a in files:
            name, text = files[a]
            (space["base"] / name).write_text(text)
            resolved.append(str(space["base"] / name))
        else:
            resolved.append(str(space["base"] / "missing.yaml") if a == "MISSING" else a)
    code, out, err = cli("publish", str(space["run"]), *resolved, *_home(space, "alpha"))
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err


def test_publisher_restricts_then_withdraws_the_policy(space: dict[str, Any]) -> None:
    beta, gamma = space["beta"].config().org, space["gamma"].config().org
    code, out, err = cli("publish", str(_copy(space, "run-versions")), "--share-with", f"{beta},{gamma}",
                         "--permit", "use,train", "--json", *_home(space, "alpha"))  # fmt: skip
    assert code == 0, err
    aid = json.loads(out)["artifact_id"]
    # Widening is refused locally, with the coordinator's rule and code; nothing is logged.
    code, out, err = cli("catalog", "policy", aid, "--share-with", f"{beta},{gamma},members", *_home(space, "alpha"))
    assert code == 1 and "may only restrict" in err, out + err
    # Only the publisher may change it.
    code, out, err = cli("catalog", "policy", aid, "--share-with", gamma, *_home(space, "beta"))
    assert code == 1 and "only the publisher" in err, out + err
    code, out, err = cli("catalog", "policy", aid, "--share-with", gamma, "--permit", "use",
                         "--reason", "beta left the project", *_home(space, "alpha"))  # fmt: skip
    assert code == 0 and "restricted the policy" in out and "version 1" in out, out + err
    code, out, err = cli("catalog", "show", aid, *_home(space, "beta"))  # beta no longer sees it
    assert code == 1 and "404" in err, out + err
    code, out, err = cli("catalog", "agree", aid, "--purpose", "research", "--action", "train", *_home(space, "gamma"))
    assert code == 1 and "not_permitted" in err, out + err  # train was restricted away
    code, out, err = cli("catalog", "agree", aid, "--purpose", "research", *_home(space, "gamma"))
    assert code == 0 and "agreed" in out, out + err  # positive control: use is still permitted

    code, out, err = cli("catalog", "policy", aid, "--withdraw", "--reason", "consent revoked", *_home(space, "alpha"))
    assert code == 0 and "withdrew the policy" in out and "version 2" in out, out + err
    code, out, err = cli("catalog", "policy", aid, *_home(space, "gamma"))
    assert code == 0, err
    assert "version 1: restricted" in out and "beta left the project" in out
    assert "version 2: WITHDRAWN" in out and "consent revoked" in out and "permits:" not in out
    code, out, err = cli("catalog", "pull", aid, "--out", str(space["base"] / "withdrawn-pull"),
                         "--purpose", "research", *_home(space, "gamma"))  # fmt: skip
    assert code == 1 and "withdrew the usage policy" in err, out + err
    assert not (space["base"] / "withdrawn-pull").exists()
    code, out, err = cli("catalog", "policy", aid, "--json", *_home(space, "alpha"))
    shown = json.loads(out)
    assert [v["version"] for v in shown["versions"]] == [1, 2] and shown["withdrawn_at"] is not None
    assert shown["effective"]["permission"] == []
