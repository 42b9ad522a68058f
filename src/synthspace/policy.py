"""Usage policies: synthspace's profile of ODRL 2.2 (protocol module; no node/coordinator imports).

A policy is carried in the signed lineage predicate (`LineagePredicate.policy`), so it cannot be
changed after publication; a later policy version may only *restrict* (`is_restriction_of`).

Profile (JSON, ODRL 2.2 shapes; `to_jsonld` adds the JSON-LD context for export):

- `permission` / `prohibition`: rules with an `action` out of `use` (obtain and read the data),
  `train`, `evaluate`, `derive`, `redistribute`. Actions are independent: permitting `use` does
  not permit `train`. A matching prohibition always wins over a permission.
- `assignee` on a rule: org names, or group names. `members` is the built-in group of every
  enrolled organisation of the space; other groups are defined in the policy's own `groups`, so
  a policy is evaluated offline from its own bytes.
- `constraint` on a rule (all must hold): `purpose isAnyOf [..]`, `dateTime lteq <ISO time>`
  (expiry), `federatedRounds lteq N`, `federatedOnly eq true` (only inside a federation: never
  pull the bytes).
- The publisher of an artifact is always permitted everything on it.

Default (`default_policy`): members may use, train and evaluate; redistribution is prohibited.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from synthspace.canonical_json import canonicalize
from synthspace.config_model import StrictModel

POLICY_PROFILE: Final = "https://synthspace.dev/odrl/v1"
MEMBERS_GROUP: Final = "members"
ACTIONS: Final = ("use", "train", "evaluate", "derive", "redistribute")
MAX_RULES: Final = 32
MAX_NAMES: Final = 256
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

Action = Literal["use", "train", "evaluate", "derive", "redistribute"]
Name = str


class Constraint(StrictModel):
    """One ODRL constraint; the operand/operator pairs the profile allows are checked."""

    leftOperand: Literal["purpose", "dateTime", "federatedRounds", "federatedOnly"] = Field(
        description="What is constrained: the declared purpose, the time of use (expiry), the "
        "number of federated rounds, or federation-only use."
    )
    operator: Literal["isAnyOf", "lteq", "eq"] = Field(
        description="purpose: isAnyOf; dateTime and federatedRounds: lteq; federatedOnly: eq."
    )
    rightOperand: list[str] | datetime | int | bool = Field(
        description="purpose: list of purposes; dateTime: ISO 8601 time with zone; "
        "federatedRounds: max rounds; federatedOnly: true."
    )

    @model_validator(mode="after")
    def _shape(self) -> Constraint:
        left, op, right = self.leftOperand, self.operator, self.rightOperand
        ok = (
            (left == "purpose" and op == "isAnyOf" and isinstance(right, list) and 0 < len(right) <= MAX_NAMES)
            or (left == "dateTime" and op == "lteq" and isinstance(right, datetime) and right.tzinfo is not None)
            or (left == "federatedRounds" and op == "lteq" and type(right) is int and right >= 0)
            or (left == "federatedOnly" and op == "eq" and right is True)
        )
        if not ok:
            raise ValueError(
                f"constraint {left} {op} {right!r} is not in the profile (purpose isAnyOf [..], "
                "dateTime lteq <time with zone>, federatedRounds lteq <int>, federatedOnly eq true)"
            )
        return self


class Rule(StrictModel):
    """An ODRL permission or prohibition for one action."""

    action: Action = Field(description="use | train | evaluate | derive | redistribute.")
    assignee: list[Name] = Field(
        default_factory=lambda: [MEMBERS_GROUP],
        min_length=1,
        max_length=MAX_NAMES,
        description="Org names or group names ('members' = every enrolled org) the rule applies to.",
    )
    constraint: list[Constraint] = Field(
        default_factory=list, max_length=8, description="Constraints that must all hold."
    )


class UsagePolicy(StrictModel):
    """An ODRL 2.2 Set/Offer under the synthspace profile."""

    profile: Literal["https://synthspace.dev/odrl/v1"] = Field(
        default=POLICY_PROFILE, description="ODRL profile this policy follows."
    )
    permission: list[Rule] = Field(default_factory=list, max_length=MAX_RULES, description="What is permitted.")
    prohibition: list[Rule] = Field(default_factory=list, max_length=MAX_RULES, description="What is prohibited.")
    groups: dict[Name, list[Name]] = Field(
        default_factory=dict,
        max_length=MAX_RULES,
        description="Named groups of org names used as assignees ('members' is built in).",
    )

    @model_validator(mode="after")
    def _groups(self) -> UsagePolicy:
        if MEMBERS_GROUP in self.groups:
            raise ValueError("'members' is the built-in group of every enrolled org; do not redefine it")
        names = [n for r in self.permission + self.prohibition for n in r.assignee]
        names += list(self.groups) + [m for ms in self.groups.values() for m in ms]
        for name in names:
            if not re.fullmatch(NAME_PATTERN, name):
                raise ValueError(f"assignee or group name {name!r} is not a plain name")
        return self

    def digest(self) -> str:
        """'sha256:<hex>' of the policy's canonical JSON (what agreements refer to)."""
        return "sha256:" + hashlib.sha256(canonicalize(self.model_dump(mode="json"))).hexdigest()


def default_policy() -> UsagePolicy:
    """Members of the space may use, train and evaluate; nobody may redistribute."""
    return UsagePolicy(
        permission=[Rule(action="use"), Rule(action="train"), Rule(action="evaluate")],
        prohibition=[Rule(action="redistribute")],
    )


def share_policy(
    orgs: list[str], permit: list[Action], expires: datetime | None = None
) -> UsagePolicy:
    """The policy of `publish --share-with ORGS --permit ACTIONS --expires TIME`."""
    constraint = [Constraint(leftOperand="dateTime", operator="lteq", rightOperand=expires)] if expires else []
    permitted = sorted(set(permit), key=ACTIONS.index)
    return UsagePolicy(
        permission=[Rule(action=a, assignee=list(orgs), constraint=list(constraint)) for a in permitted],
        prohibition=[Rule(action="redistribute")] if "redistribute" not in permitted else [],
    )


def describe_rule(rule: Rule) -> str:
    """One rule for people: its action, assignees and constraints."""
    text = f"{rule.action} by {', '.join(rule.assignee)}"
    for c in rule.constraint:
        right = c.rightOperand
        shown = right.isoformat() if isinstance(right, datetime) else "|".join(right) if isinstance(right, list) else str(right)
        text += f" ({c.leftOperand} {c.operator} {shown})"
    return text


def describe_policy(policy: UsagePolicy) -> str:
    """The policy in one line for people: each rule's action, assignees and constraints."""
    parts = []
    if policy.permission:
        parts.append("permits " + "; ".join(describe_rule(r) for r in policy.permission))
    if policy.prohibition:
        parts.append("prohibits " + "; ".join(describe_rule(r) for r in policy.prohibition))
    return " | ".join(parts) or "permits nothing to anyone but the publisher"


@dataclass(frozen=True)
class UseRequest:
    """What a consumer asks to do. `rounds` is the federated rounds asked for (train only)."""

    org: str
    action: Action
    purpose: str | None = None
    time: datetime | None = None
    federated: bool = False
    rounds: int | None = None


@dataclass(frozen=True)
class Decision:
    permitted: bool
    reason: str
    # Left operands of the constraints that failed (e.g. ("dateTime",) for an expired policy);
    # empty when the refusal came from a prohibition or from no permission naming the org.
    failed: tuple[str, ...] = ()


def _in_assignees(policy: UsagePolicy, rule: Rule, org: str) -> bool:
    for name in rule.assignee:
        if name == MEMBERS_GROUP or name == org or org in policy.groups.get(name, ()):
            return True
    return False


def _failed_constraint(c: Constraint, req: UseRequest, now: datetime) -> str | None:
    """None when `c` holds for `req`, else the term that failed."""
    right = c.rightOperand
    if c.leftOperand == "purpose":
        assert isinstance(right, list)
        if req.purpose not in right:
            return f"purpose isAnyOf {right} (asked: {req.purpose!r})"
    elif c.leftOperand == "dateTime":
        assert isinstance(right, datetime)
        if now > right:
            return f"dateTime lteq {right.isoformat()} (the policy expired)"
    elif c.leftOperand == "federatedRounds":
        if req.action == "train" and (req.rounds is None or req.rounds > int(right)):  # type: ignore[arg-type]
            return f"federatedRounds lteq {right} (asked: {req.rounds})"
    elif c.leftOperand == "federatedOnly":
        if not req.federated:
            return "federatedOnly eq true (only inside a federation; the bytes are never pulled)"
    return None


def decide(policy: UsagePolicy, request: UseRequest, *, publisher: str) -> Decision:
    """Whether `request` is permitted, and the policy term that decided it (the one rule)."""
    if request.org == publisher:
        return Decision(True, "the publisher may do anything with its own artifact")
    now = request.time or datetime.now(UTC)
    for rule in policy.prohibition:
        if rule.action == request.action and _in_assignees(policy, rule, request.org):
            if all(_failed_constraint(c, request, now) is None for c in rule.constraint):
                return Decision(False, f"prohibition: {rule.action} for {', '.join(rule.assignee)}")
    failures: list[str] = []
    operands: list[str] = []
    for rule in policy.permission:
        if rule.action != request.action or not _in_assignees(policy, rule, request.org):
            continue
        failed = [(c.leftOperand, f) for c in rule.constraint if (f := _failed_constraint(c, request, now)) is not None]
        if not failed:
            return Decision(True, f"permission: {rule.action}")
        failures.extend(f for _, f in failed)
        operands.extend(o for o, _ in failed if o not in operands)
    if failures:
        return Decision(False, f"permission {request.action} requires " + "; ".join(failures), tuple(operands))
    named = sorted({n for r in policy.permission if r.action == request.action for n in r.assignee})
    if named:
        return Decision(
            False,
            f"no permission grants {request.action!r} to {request.org!r} (assignee: {request.org!r} is not among {named})",
        )
    return Decision(False, f"no permission grants {request.action!r} to {request.org!r}")


def permits(
    policy: UsagePolicy,
    action: Action,
    org: str,
    *,
    publisher: str,
    now: datetime | None = None,
    rounds: int | None = None,
    federated: bool = False,
    purpose: str | None = None,
) -> Decision:
    """`decide` with keyword arguments: may `org` do `action` on an artifact of `publisher`?

    The refusal's `reason` names the term that failed (e.g. `prohibition: derive for members`,
    `assignee: 'x' is not among ['a', 'b'] (permission train)`, `... (the policy expired)`,
    `federatedRounds lteq 2 (asked: 3)`, `federatedOnly eq true ...`)."""
    request = UseRequest(org=org, action=action, purpose=purpose, time=now, federated=federated, rounds=rounds)
    return decide(policy, request, publisher=publisher)


def unsigned_policy() -> UsagePolicy:
    """The terms enforced on a Statement signed WITHOUT a policy (everything published before
    policies, and everything the node publishes until `publish --policy` exists): the space
    default plus `derive` for members, which release 1 allowed every member. A Statement that
    signs a policy -- even `default_policy()` itself -- gets exactly the terms it signed."""
    base = default_policy()
    return base.model_copy(update={"permission": [*base.permission, Rule(action="derive")]})


def enforced_policy(policy: UsagePolicy | None) -> UsagePolicy:
    """The policy derive/training enforcement applies: the signed one, else `unsigned_policy()`."""
    return policy if policy is not None else unsigned_policy()


def may_see(policy: UsagePolicy, org: str, *, publisher: str) -> bool:
    """An org sees an artifact (catalog, lists, show) when any permission names it as assignee."""
    return org == publisher or any(_in_assignees(policy, r, org) for r in policy.permission)


def visible_orgs(policy: UsagePolicy) -> list[str] | None:
    """Orgs that may see an artifact under `policy`; None when every member may."""
    names: set[str] = set()
    for rule in policy.permission:
        for name in rule.assignee:
            if name == MEMBERS_GROUP:
                return None
            names.update(policy.groups.get(name, [name]))
    return sorted(names)


# --- restriction-only updates -------------------------------------------------------------


def _expand(policy: UsagePolicy, names: list[str]) -> set[str] | None:
    """Concrete org set of assignee names; None = every member."""
    out: set[str] = set()
    for name in names:
        if name == MEMBERS_GROUP:
            return None
        out.update(policy.groups.get(name, [name]))
    return out


def _at_least_as_strict(new: list[Constraint], old: Constraint) -> bool:
    for c in new:
        if c.leftOperand != old.leftOperand:
            continue
        a, b = c.rightOperand, old.rightOperand
        if c.leftOperand == "purpose" and isinstance(a, list) and isinstance(b, list) and set(a) <= set(b):
            return True
        if c.leftOperand == "dateTime" and isinstance(a, datetime) and isinstance(b, datetime) and a <= b:
            return True
        if c.leftOperand == "federatedRounds" and int(a) <= int(b):  # type: ignore[arg-type]
            return True
        if c.leftOperand == "federatedOnly":
            return True
    return False


def _covered(new_rule: Rule, new: UsagePolicy, old_rule: Rule, old: UsagePolicy) -> bool:
    if new_rule.action != old_rule.action:
        return False
    old_set, new_set = _expand(old, old_rule.assignee), _expand(new, new_rule.assignee)
    if old_set is not None and (new_set is None or not new_set <= old_set):
        return False
    return all(_at_least_as_strict(new_rule.constraint, c) for c in old_rule.constraint)


def _prohibits_at_least(new_rule: Rule, new: UsagePolicy, old_rule: Rule, old: UsagePolicy) -> bool:
    """`new_rule` prohibits everything `old_rule` did: same action, assignees a superset, and
    only constraints the old rule also had (fewer constraints = a broader prohibition)."""
    if new_rule.action != old_rule.action:
        return False
    new_set, old_set = _expand(new, new_rule.assignee), _expand(old, old_rule.assignee)
    if new_set is not None and (old_set is None or not old_set <= new_set):
        return False
    return all(c in old_rule.constraint for c in new_rule.constraint)


def restriction_violations(old: UsagePolicy, new: UsagePolicy) -> list[str]:
    """Terms by which `new` would widen `old` (empty: `new` only restricts).

    Conservative: every new permission must be covered by one old permission (same action,
    assignees a subset, each old constraint matched by one at least as strict), and every old
    prohibition must be kept unchanged.
    """
    problems: list[str] = []
    for rule in new.permission:
        if not any(_covered(rule, new, old_rule, old) for old_rule in old.permission):
            problems.append(f"permission {rule.action} for {', '.join(rule.assignee)} is not within the old policy")
    for rule in old.prohibition:
        if not any(_prohibits_at_least(r, new, rule, old) for r in new.prohibition):
            problems.append(f"prohibition {rule.action} for {', '.join(rule.assignee)} was dropped")
    return problems


def is_restriction_of(old: UsagePolicy, new: UsagePolicy) -> bool:
    return not restriction_violations(old, new)


# --- JSON-LD export -------------------------------------------------------------------------

ODRL_NS: Final = "http://www.w3.org/ns/odrl/2/"
SYNTHSPACE_NS: Final = "https://synthspace.dev/odrl/v1#"

JSONLD_CONTEXT: Final[dict[str, Any]] = {
    "odrl": ODRL_NS,
    "ss": SYNTHSPACE_NS,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "uid": "@id",
    "type": "@type",
    "profile": {"@id": "odrl:profile", "@type": "@id"},
    "permission": {"@id": "odrl:permission", "@container": "@set"},
    "prohibition": {"@id": "odrl:prohibition", "@container": "@set"},
    "target": {"@id": "odrl:target", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "assignee": {"@id": "odrl:assignee", "@type": "@id", "@container": "@set"},
    "action": {"@id": "odrl:action", "@type": "@vocab"},
    "constraint": {"@id": "odrl:constraint", "@container": "@set"},
    "leftOperand": {"@id": "odrl:leftOperand", "@type": "@vocab"},
    "operator": {"@id": "odrl:operator", "@type": "@vocab"},
    "rightOperand": {"@id": "odrl:rightOperand"},
    "use": "odrl:use",
    "train": "ss:train",
    "evaluate": "ss:evaluate",
    "derive": "odrl:derive",
    "redistribute": "odrl:distribute",
    "purpose": "odrl:purpose",
    "dateTime": "odrl:dateTime",
    "federatedRounds": "ss:federatedRounds",
    "federatedOnly": "ss:federatedOnly",
    "isAnyOf": "odrl:isAnyOf",
    "lteq": "odrl:lteq",
    "eq": "odrl:eq",
    "Offer": "odrl:Offer",
}


def to_jsonld(policy: UsagePolicy, *, target: str, assigner: str, space: str) -> dict[str, Any]:
    """The policy as an ODRL Offer in JSON-LD (inline context, no network needed to expand).

    `target` and `assigner` are IRIs (the artifact's and publisher's URLs); group and org names
    become IRIs under `space` (e.g. the coordinator URL + '/orgs/').
    """

    def party(name: str) -> str:
        if name == MEMBERS_GROUP or name in policy.groups:
            return f"{space.rstrip('/')}/groups/{name}"
        return f"{space.rstrip('/')}/orgs/{name}"

    def rule(r: Rule) -> dict[str, Any]:
        out: dict[str, Any] = {"action": r.action, "assignee": [party(n) for n in r.assignee]}
        if r.constraint:
            out["constraint"] = [
                {
                    "leftOperand": c.leftOperand,
                    "operator": c.operator,
                    "rightOperand": (
                        {"@value": c.rightOperand.isoformat(), "@type": "xsd:dateTime"}
                        if isinstance(c.rightOperand, datetime)
                        else c.rightOperand
                    ),
                }
                for c in r.constraint
            ]
        return out

    return {
        "@context": JSONLD_CONTEXT,
        "type": "Offer",
        "uid": f"{target}#policy-{policy.digest().removeprefix('sha256:')[:16]}",
        "profile": POLICY_PROFILE,
        "target": target,
        "assigner": assigner,
        "permission": [rule(r) for r in policy.permission],
        "prohibition": [rule(r) for r in policy.prohibition],
    }
