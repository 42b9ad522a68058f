"""Dialogue roles: a field declared as the customer's must read as the customer, the agent's as
the agent (`gates.usefulness.roles`, `RoleRule`).

Lexical cues, matched on word boundaries in the lower-cased, NFKC text: phrases only a support
agent says ("how can I help", "thank you for contacting", "we apologize", "our team", "your
order") and phrases only a customer says ("I bought", "my order", "can you help me", "I was
charged"). A turn fails when it holds a cue of the other role and at least as many of them
as of its own (`margin` 0; a customer turn that also says "I will help you" is swapped);
the usefulness gate reports it as `usefulness:role_swap`. English only: other languages need
their own cue lists (`extra_customer_cues` / `extra_agent_cues` add phrases to the built-in
English ones).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from synthspace.node.recipes.gate_rules import RoleRule

# Phrases of a support agent. "your <thing>" is the agent speaking of the customer's property;
# a customer says "my <thing>".
AGENT_CUES = (
    r"how (?:can|may|could) (?:i|we) (?:help|assist)",
    r"(?:i am|i'm|we are|we're) (?:here|happy|glad|pleased) to (?:help|assist)",
    r"(?:happy|glad) to help",
    r"thank(?:s| you) for (?:contacting|reaching out|getting in touch|your patience|flagging|letting us know|your message)",
    r"we(?: apologi[sz]e| are sorry|'re sorry)",
    r"(?:sorry|apologies|apologi[sz]e) (?:about|for) (?:that|(?:any|the) (?:inconvenience|trouble|delay))",
    r"our (?:team|store|shop|company|support|records|system|warehouse|courier|policy)",
    r"(?:i|we)(?: will|'ll| can| have|'ve) (?:help you|refund|send|arrange|replace|issue|look into|check|process|sort)",
    r"(?:i|we)(?: have|'ve) (?:refunded|sent|arranged|issued|processed|updated|cancell?ed|reset)",
    r"let me (?:help|check|look)",
    r"(?:i|we)(?: will|'ll| can| am able to| am going to|'m going to|'re going to) (?:help|assist) you",
    r"(?:a way|how) to (?:help|assist) you",
    r"your (?:\w+ ){0,2}(?:order|parcel|package|refund|account|kettle|toaster|blender|coffee maker|item|purchase|card|replacement|issue|problem|email)",
    r"please (?:try|descale|unplug|check|send us|use|reset|return|allow)",
    r"is there anything else",
    r"here(?:'s| is) (?:how|what you can do|a (?:\w+ )?guide)",
)
# Phrases of a customer.
CUSTOMER_CUES = (
    r"i (?:bought|ordered|purchased|received|paid|returned|got|was charged|have been charged|haven't received|never received|can't log|cannot log)",
    r"my (?:order|parcel|package|refund|account|kettle|toaster|blender|coffee maker|item|product|purchase|card|money|delivery|email|password)",
    r"(?:i am|i'm) (?:a|your) (?:customer|client)",
    r"i need (?:help|a refund|to return|to change)",
    r"(?:can|could|would) you (?:please )?(?:help me|refund me|send me|check my|fix my)",
    r"please help",
    r"i(?: want| would like|'d like) (?:to return|a refund|to cancel|my money|to change|a replacement)",
    r"thank(?:s| you) for (?:your help|helping|the help|sorting)",
    r"(?:it|this) (?:is|was) (?:only|just) \w+ (?:weeks?|months?|days?) old",
)


def _compile(phrases: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(rf"(?:\b{p}\b)" for p in phrases))


def _text(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [t for v in items for t in _text(v)]
    return [unicodedata.normalize("NFKC", str(value)).lower().replace("’", "'")]


class RoleCheck:
    """One recipe rule: `swapped(record)` is the positions of turns that read as the other role."""

    def __init__(self, rule: RoleRule) -> None:
        self.rule = rule
        self.cues = {
            "agent": _compile([*AGENT_CUES, *map(re.escape, rule.extra_agent_cues)]),
            "customer": _compile([*CUSTOMER_CUES, *map(re.escape, rule.extra_customer_cues)]),
        }

    def score(self, text: str) -> dict[str, int]:
        """Cue counts per role in one turn."""
        t = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
        return {role: len(rx.findall(t)) for role, rx in self.cues.items()}

    def swapped(self, record: dict[str, Any]) -> list[int]:
        turns = _text(record.get(self.rule.field))
        roles = self.rule.roles
        out = []
        for i, turn in enumerate(turns):
            own = roles[i % len(roles)]
            other = "customer" if own == "agent" else "agent"
            s = self.score(turn)
            if s[other] >= 1 and s[other] - s[own] >= self.rule.margin:
                out.append(i)
        return out


__all__ = ["AGENT_CUES", "CUSTOMER_CUES", "RoleCheck"]
