"""Issue 13, answer grounding and dialogue roles: on labelled sets (bundled-model output read by
hand, the seeds' own examples and hand-written records), the usefulness gate drops >= 95% of
unfaithful or role-swapped records and keeps >= 90% of faithful ones; every check has a
positive control. Run through `gate_records` (the code behind `synthspace gate --records`)
with the demo recipes and their seeds, one record at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthspace.demo.plans import ORGS
from synthspace.node.examples import example_path
from synthspace.node.gates import gate_records
from synthspace.node.quality.answer_grounding import GroundingCheck, numbers
from synthspace.node.quality.roles import RoleCheck
from synthspace.node.quality.usefulness import FaithfulnessChecker
from synthspace.node.recipes import RecipeError, parse_recipe
from synthspace.node.recipes.gate_rules import AnswerGroundingRule, RoleRule
from synthspace.node.recipes.loading import load_recipe

DATA = Path(__file__).parent / "data"
PLANS = {p.org: p for p in ORGS}
LEGAL, SUPPORT = PLANS["kanagawa-legal"], PLANS["osaka-support"]
FAITHFUL = ("usefulness:ungrounded", "usefulness:contradiction", "usefulness:role_swap")


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (DATA / name).read_text(encoding="utf-8").splitlines()]


def _reasons(
    tmp_path: Path, plan: Any, records: list[dict[str, Any]], *, grounding: bool = True
) -> list[list[str]]:
    path = tmp_path / "records.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    recipe = load_recipe(plan.recipe)
    cfg = recipe.gates
    assert cfg is not None
    if not grounding:
        # The role sets hold exchanges about any support topic, not only the help-centre
        # answers the demo recipe grounds replies in: they measure the role check alone.
        cfg = cfg.model_copy(
            update={"usefulness": cfg.usefulness.model_copy(update={"answer_grounding": []})}
        )
    return gate_records(path, recipe, plan.seeds, cfg).reasons


def _faithless(reasons: list[str]) -> bool:
    return any(r in FAITHFUL for r in reasons)


def _useless(reasons: list[str]) -> bool:
    return any(r.startswith("usefulness:") for r in reasons)


@pytest.mark.parametrize(
    ("plan", "name", "grounding"),
    [
        (LEGAL, "grounding_legal", True),
        (SUPPORT, "grounding_support", True),
        (SUPPORT, "roles_support", False),
    ],
    ids=["legal", "support-grounding", "support-roles"],
)
def test_drops_unfaithful_and_keeps_faithful(
    plan: Any, name: str, grounding: bool, tmp_path: Path
) -> None:
    bad, good = _lines(f"{name}_bad.jsonl"), _lines(f"{name}_good.jsonl")
    assert len(bad) >= 40 and len(good) >= 40
    assert any(r["_origin"] == "model" for r in bad) and any(r["_origin"] == "model" for r in good)
    # One record at a time: the verdict never leans on the rest of a run.
    bad_why = [_reasons(tmp_path, plan, [r], grounding=grounding)[0] for r in bad]
    good_why = _reasons(tmp_path, plan, good, grounding=grounding)
    # Model output may be dropped by any usefulness check (copied prompt text is also
    # repetitive); the written failures, the among them, must fall to the new checks.
    dropped = [
        _faithless(w) if r["_origin"] != "model" else _useless(w)
        for r, w in zip(bad, bad_why, strict=True)
    ]
    written = [d for r, d in zip(bad, dropped, strict=True) if r["_origin"] != "model"]
    # A faithful record must pass every usefulness check, not only the new ones.
    kept = [not _useless(w) for w in good_why]
    print(
        f"{name}: dropped {sum(dropped)}/{len(bad)} bad ({sum(written)}/{len(written)} written), "
        f"kept {sum(kept)}/{len(good)} good"
    )
    assert sum(dropped) / len(bad) >= 0.95, [r for r, d in zip(bad, dropped, strict=True) if not d]
    assert sum(written) / len(written) >= 0.95
    assert all(d for r, d in zip(bad, dropped, strict=True) if r["_origin"] == "issue")
    assert sum(kept) / len(good) >= 0.90, [
        (r, w) for r, w, k in zip(good, good_why, kept, strict=True) if not k
    ]


def _legal_check(**kw: Any) -> GroundingCheck:
    rule = AnswerGroundingRule(
        field="answer",
        source_fields=["statute", "article_text"],
        context_fields=["question", "cited_article"],
        **kw,
    )
    return GroundingCheck(rule, "en")


SEED = {
    "statute": "Fictional Citizen Data Ordinance, Article 5",
    "article_text": "A business must not give a user's information to a third party without the "
    "user's consent, except where it is needed to protect a life.",
}
GOOD = "A business must not give your information to a third party without your consent."


@pytest.mark.parametrize(
    ("answer", "kind", "flags"),
    [
        # numbers: digits and number words, a citation number never grounds a quantity
        (
            "A business must not give your information to a third party for thirty days.",
            "ungrounded",
            {"numbers": True},
        ),
        (
            "A business must wait 7 days before giving your information to a third party.",
            "ungrounded",
            {"numbers": True},
        ),
        # names and jurisdiction words the article does not hold
        (
            "Under California rules a business must not give your information to a third party.",
            "ungrounded",
            {"names": True},
        ),
        (
            "A federal rule says a business must not give your information to a third party.",
            "ungrounded",
            {"names": True},
        ),
        # negation flipped, both ways
        (
            "A business may give your information to a third party without your consent.",
            "contradiction",
            {"polarity": True},
        ),
        (
            "A business can give a user's information to a third party without consent.",
            "contradiction",
            {"polarity": True},
        ),
        # mostly words from elsewhere
        (
            "The answer is a little bit long but I will give you the exact answer.",
            "ungrounded",
            {"max_novel_share": 0.5},
        ),
    ],
)
def test_each_grounding_check_fires_alone(answer: str, kind: str, flags: dict[str, Any]) -> None:
    off = {"numbers": False, "names": False, "polarity": False, "max_novel_share": None}
    only = _legal_check(**{**off, **flags})
    record = {
        "answer": answer,
        "question": "Can a shop share my data?",
        "cited_article": SEED["statute"],
    }
    assert kind in {f.kind for f in only.findings(record, SEED)}, answer
    # Positive control: the faithful answer passes the same check.
    assert only.findings({**record, "answer": GOOD}, SEED) == []


def test_grounding_keeps_faithful_paraphrases() -> None:
    check = _legal_check()
    ok = [
        GOOD,
        "Yes. A business may give your information to a third party to protect a life.",  # the exception
        "No, a business cannot share your information without consent unless a life is at risk.",
        "Article 5 forbids sharing a user's information with a third party without consent.",
    ]
    for answer in ok:
        record = {
            "answer": answer,
            "question": "Can a shop share my data?",
            "cited_article": SEED["statute"],
        }
        assert check.findings(record, SEED) == [], answer


def test_a_statute_title_is_no_claim_to_contradict() -> None:
    """The statute line shares words with every answer but states nothing: an answer that keeps
    the article's negation is not compared with it (a demo run dropped one that way)."""
    seed = {
        "statute": "Fictional Electric Scooter Traffic Act, Article 8",
        "article_text": "Electric scooters must not be ridden on the pavement, except vehicles "
        "limited to six kilometres per hour or less.",
    }
    check = _legal_check(numbers=False, names=False, max_novel_share=None)
    answer = (
        "Under the fictional electric scooter traffic act, 8 means that electric scooters "
        "cannot be ridden on the pavement."
    )
    record = {"answer": answer, "question": "Can I ride on the pavement?", "cited_article": ""}
    assert check.findings(record, seed) == []
    flipped = {**record, "answer": "Electric scooters may be ridden on the pavement."}
    assert [f.kind for f in check.findings(flipped, seed)] == ["contradiction"]


def test_an_obligation_told_as_a_permission_is_a_contradiction() -> None:
    """"must disclose" published by a demo run as "allows a business to disclose": the same
    words, another rule. The force is not compared under a negation ("may not refuse ...
    without" is "must not refuse ... without") nor for a passive ("can be fined")."""
    seed = {
        "statute": "Fictional Citizen Data Ordinance, Article 3",
        "article_text": "A business must disclose the information it holds about a user within "
        "thirty days of the user's request.",
    }
    check = _legal_check(numbers=False, names=False, max_novel_share=None)
    record = {"question": "What does it say?", "cited_article": ""}
    weakened = "The article 3 is a law that allows a business to disclose information about users within thirty days of request."
    found = check.findings({**record, "answer": weakened}, seed)
    assert [f.kind for f in found] == ["contradiction"] and "into a permission" in found[0].detail
    for answer in (
        "Under Article 3 the business must disclose the information within thirty days of the request.",
        "You can ask, and the business must disclose the information it holds within thirty days.",
    ):
        assert check.findings({**record, "answer": answer}, seed) == [], answer
    may_seed = {"statute": "Fictional Vacant House Care Act, Article 9",
                "article_text": "The mayor may advise the owner of a vacant house to repair it."}  # fmt: skip
    strengthened = {**record, "answer": "The mayor must advise the owner of a vacant house to repair it."}
    assert [f.kind for f in check.findings(strengthened, may_seed)] == ["contradiction"]
    negated_seed = {"statute": "Fictional Pet Tenancy Act, Article 2",
                    "article_text": "A landlord must not refuse, without good reason, a tenant keeping a small dog."}  # fmt: skip
    restated = {**record, "answer": "A landlord may not refuse a tenant keeping a small dog without good reason."}
    assert check.findings(restated, negated_seed) == []


HELP_SEED = {
    "product": "Nimbus Toaster Duo",
    "issue": "Parcel marked delivered but missing",
    "help_article": "We open a claim with the courier and send a new item if the parcel is not "
    "found in two days.",
}


def _support_check(**kw: Any) -> GroundingCheck:
    rule = AnswerGroundingRule(
        field="agent",
        source_fields=["product", "issue", "help_article"],
        context_fields=["customer"],
        **kw,
    )
    return GroundingCheck(rule, "en")


def test_a_negated_condition_is_not_the_claims_polarity() -> None:
    """"If the parcel is not found, we send a new item" claims that we send one: a reply that
    says so without the condition keeps the source's polarity; one that negates the claim
    itself still contradicts it."""
    check = _support_check(numbers=False, names=False, max_novel_share=None)
    record = {"customer": "My toaster parcel is missing."}
    for agent in (
        "I have opened a claim with the courier.",
        "If your parcel is not found in two days, we will send a new item.",
        "We open a claim with the courier, then we send a new item.",
    ):
        assert check.findings({**record, "agent": agent}, HELP_SEED) == [], agent
    # Positive control: negating the main clause, inside or after a condition, is caught.
    for agent in (
        "We do not open a claim with the courier or send a new item.",
        "If the parcel is not found, we do not send a new item or open a claim with the courier.",
    ):
        found = check.findings({**record, "agent": agent}, HELP_SEED)
        assert [f.kind for f in found] == ["contradiction"], agent


def test_min_source_words_needs_the_reply_to_pass_something_on() -> None:
    check = _support_check(
        numbers=False, names=False, polarity=False, max_novel_share=None, min_source_words=2
    )
    record = {"customer": "Hello, my Nimbus Toaster Duo parcel is missing. Can you help?"}
    # Nothing of the help text: a generic line, and one that only repeats the customer's words.
    for agent in (
        "Your representative can help with this issue.",
        "Sorry, your Nimbus Toaster Duo parcel is missing.",
    ):
        found = check.findings({**record, "agent": agent}, HELP_SEED)
        assert [f.kind for f in found] == ["ungrounded"], agent
        assert "content words from the source" in found[0].detail
    # Positive control: passing on the claim and the courier is enough.
    ok = {**record, "agent": "We have opened a claim with the courier."}
    assert check.findings(ok, HELP_SEED) == []
    # Off by default.
    assert _support_check().rule.min_source_words is None


def test_numbers_read_words_digits_and_kanji() -> None:
    assert {v for _, v in numbers("within forty five days, up to five thousand yen, 30 days")} == {
        45,
        5000,
        30,
    }
    assert numbers("Article 7 says") == {("cite", 7.0)}  # a citation, not "seven days"
    assert numbers("at least once a year") == {("qty", 1.0)}
    assert numbers("once seven days have passed") == {("qty", 7.0)}
    assert numbers("the one you bought") == set()
    assert numbers("第3条により三十日以内に") == {("cite", 3.0), ("qty", 30.0)}
    assert numbers("五千円以下の過料") == {("qty", 5000.0)}


def test_japanese_answers_get_the_number_check_only() -> None:
    seed = {
        "statute": "架空・市民データ取扱条例 第3条",
        "article_text": "事業者は、求めがあったときは三十日以内に開示しなければならない。",
    }
    rule = AnswerGroundingRule(field="answer", source_fields=["statute", "article_text"])
    check = GroundingCheck(rule, "ja")
    assert check.findings({"answer": "第3条により、30日以内に開示されます。"}, seed) == []
    assert [f.kind for f in check.findings({"answer": "六十日以内に開示されます。"}, seed)] == [
        "ungrounded"
    ]
    # English-only checks do not run: a Latin name or a flipped negation is not judged.
    assert check.findings({"answer": "California では開示してはならない。"}, seed) == []


def test_roles_flag_each_direction_and_list_turns() -> None:
    single = RoleCheck(RoleRule(field="customer", roles=["customer"]))
    assert single.swapped({"customer": "Hi, I am here to help you with your kettle today."}) == [0]
    assert single.swapped({"customer": "Thank you for contacting us. How can I help?"}) == [0]
    assert single.swapped({"customer": "Hello, my kettle leaks. Can you help me?"}) == []  # control
    agent = RoleCheck(RoleRule(field="agent", roles=["agent"]))
    assert agent.swapped({"agent": "I bought a toaster and I need help with my order."}) == [0]
    assert (
        agent.swapped({"agent": "Sorry about that! We will send a new lid today."}) == []
    )  # control
    assert agent.swapped({"agent": "Hi, I'm your customer and I cannot find it."}) == [0]
    customer = "My toaster broke. I'm going to help you with your Nimbus Toaster."
    assert single.swapped({"customer": customer}) == [0]
    turns = RoleCheck(RoleRule(field="dialogue", roles=["customer", "agent"]))
    dialogue = ["My kettle leaks.", "Sorry about that, we will replace it.", "How can I help you?"]
    assert turns.swapped({"dialogue": dialogue}) == [2]
    assert turns.swapped({"dialogue": dialogue[:2]}) == []
    extra = RoleCheck(
        RoleRule(field="customer", roles=["customer"], extra_agent_cues=["kind regards, the team"])
    )
    assert extra.swapped({"customer": "The kettle is fine now. Kind regards, the team."}) == [0]


def test_records_without_seeds_are_not_judged_for_grounding() -> None:
    from synthspace.node.recipes.gates import UsefulnessConfig

    cfg = UsefulnessConfig(
        answer_grounding=[AnswerGroundingRule(field="answer", source_fields=["article_text"])]
    )
    record = {"answer": "It is a federal law of the state of California passed in 1994."}
    unseeded = FaithfulnessChecker(cfg, "en_US", [], [])
    assert unseeded.reasons(record, None) == [] and unseeded.unjudged == 1
    assert FaithfulnessChecker(cfg, "en_US", [], [SEED]).reasons(record, None) == [
        "usefulness:ungrounded"
    ]


def test_own_seed_is_used_when_the_record_carries_its_index() -> None:
    from synthspace.node.recipes.gates import UsefulnessConfig

    other = {
        "statute": "Fictional Local Library Act, Article 7",
        "article_text": "A library must open for thirty hours a week.",
    }
    cfg = UsefulnessConfig(
        answer_grounding=[
            AnswerGroundingRule(field="answer", source_fields=["statute", "article_text"])
        ]
    )
    fc = FaithfulnessChecker(cfg, "en_US", [], [SEED, other])
    record = {"answer": "A library must open for thirty hours a week."}
    assert fc.reasons(record, None) == []  # best-matching seed: the library one
    assert fc.reasons(record, 0) == ["usefulness:ungrounded"]  # its own seed says otherwise


def test_rules_are_strict_and_name_real_fields() -> None:
    data = yaml.safe_load(LEGAL.recipe.read_text(encoding="utf-8"))
    rule = data["gates"]["usefulness"]["answer_grounding"][0]
    for broken, match in [
        ({**rule, "field": "nope"}, "no output field 'nope'"),
        ({**rule, "source_fields": ["nope"]}, "no seed field 'nope'"),
        ({**rule, "treshold": 1}, "treshold"),
    ]:
        data["gates"]["usefulness"]["answer_grounding"] = [broken]
        with pytest.raises(RecipeError, match=match):
            parse_recipe(yaml.safe_dump(data))
    data = yaml.safe_load(SUPPORT.recipe.read_text(encoding="utf-8"))
    data["gates"]["usefulness"]["roles"] = [{"field": "customer", "roles": ["buyer"]}]
    with pytest.raises(RecipeError, match="roles"):
        parse_recipe(yaml.safe_dump(data))


def test_demo_and_example_recipes_turn_the_checks_on() -> None:
    legal = load_recipe(LEGAL.recipe).gates
    support = load_recipe(SUPPORT.recipe).gates
    assert legal is not None and legal.usefulness.answer_grounding[0].field == "answer"
    assert support is not None and [r.field for r in support.usefulness.roles] == [
        "customer",
        "agent",
    ]
    en = load_recipe(example_path("en_support.yaml")).gates
    ja = load_recipe(example_path("ja_legal_qa.yaml")).gates
    assert en is not None and en.usefulness.roles[0].roles == ["customer", "agent"]
    assert ja is not None and ja.usefulness.answer_grounding[0].numbers


def test_the_support_prompt_example_reads_in_the_right_roles() -> None:
    """The one-shot example the demo shows the model passes the role check it is held to."""
    import jinja2

    recipe = load_recipe(SUPPORT.recipe)
    line = next(ln for ln in recipe.prompt.template.splitlines() if ln.strip().startswith("{"))
    assert recipe.gates is not None
    checks = [RoleCheck(r) for r in recipe.gates.usefulness.roles]
    seeds = [
        json.loads(ln)
        for ln in SUPPORT.seeds.read_text(encoding="utf-8").splitlines()
        if ln.strip()
    ]
    for seed in seeds:
        example = json.loads(jinja2.Template(line).render(seed=seed), strict=False)
        assert not any(c.swapped(example) for c in checks), example


def test_support_reply_must_be_a_sentence(tmp_path: Path) -> None:
    """The demo's support recipe (`min_words: 5`, `min_function_words: 1`): a name or a company
    label where the agent's reply belongs is dropped; a short real reply is kept (control)."""
    customer = "Hello, my Nimbus Toaster Duo has a problem. Uneven toasting. Can you help me fix it today."
    base = {"customer": customer}
    labels = ["Alex Stone, Nimbus Kettle Co.", "Nimbus Kettle Co. LLP, Inc. Support"]
    reply = "Thick slices can toast unevenly, so please try the bagel setting."
    verdicts = _reasons(tmp_path, SUPPORT, [{**base, "agent": a} for a in [*labels, reply]])
    assert all("usefulness:not_a_sentence" in v for v in verdicts[:2]), verdicts
    assert not [r for r in verdicts[2] if r.startswith("usefulness:")], verdicts[2]


def test_answers_that_do_not_know_or_trail_off_are_dropped(tmp_path: Path) -> None:
    """The recipes' `no_answer` and `fragment_end` validators: the shape of two answers a demo
    run published at 135ebfa (an answer that says it is unclear; a rule followed by "A
    resident."), and a support reply that is not sure; the same answers without the defect, and
    a customer who is not sure, are kept."""
    q = "What does Fictional Town Waste Ordinance, Article 4 say?"
    cited = "Fictional Town Waste Ordinance, Article 4"
    legal = [
        {"question": q, "cited_article": cited,
         "answer": "The answer is to report the result to the town, but it is unclear what that is."},
        {"question": q, "cited_article": cited,
         "answer": "A resident must sort household waste into the categories the town sets. A resident."},
        {"question": q, "cited_article": cited,
         "answer": "A resident must sort household waste into the categories the town sets."},
    ]  # fmt: skip
    why = [_reasons(tmp_path, LEGAL, [r])[0] for r in legal]
    assert any("no_answer" in r for r in why[0]), why[0]
    assert any("fragment_end" in r for r in why[1]), why[1]
    assert not any("no_answer" in r or "fragment_end" in r for r in why[2]), why[2]
    support = [
        {"customer": "My kettle arrived with a cracked lid and I would like a replacement please.",
         "agent": "I'm sorry about the lid. I'm going to send you a new one, but I'm not sure if it's possible."},
        {"customer": "I'm not sure what happened to my parcel, the tracking has not moved for a week.",
         "agent": "I'm sorry about the delay. I have asked the courier to trace your parcel today."},
    ]  # fmt: skip
    why = [_reasons(tmp_path, SUPPORT, [r])[0] for r in support]
    assert any("no_answer" in r for r in why[0]), why[0]
    assert not any("no_answer" in r or "fragment_end" in r for r in why[1]), why[1]


def test_a_misspelt_word_in_a_grounded_answer_is_dropped(tmp_path: Path) -> None:
    """The demo recipes allow no unknown word (neither English nor from the seeds and prompt):
    a demo run at 135ebfa published "Descalen it with white vinegar"; the same reply spelt
    right, with the product's invented name, is kept."""
    customer = "Hello, my AuroraBoil 1.7L kettle has a problem. Kettle shuts off before boiling. Can you help me?"
    reply = "Limescale can stop a kettle early. {} it with white vinegar and water, and we replace it under warranty if that does not help."
    misspelt, right = (
        _reasons(tmp_path, SUPPORT, [{"customer": customer, "agent": reply.format(w)}])[0]
        for w in ("Descalen", "Descale")
    )
    assert "usefulness:unknown_words" in misspelt, misspelt
    assert right == [], right
    q = "What does Fictional Local Library Act, Article 7 say?"
    answer = "A person who returns library materials more than fourteen days late cannot {} new items while the delay lasts."
    legal = [
        _reasons(tmp_path, LEGAL, [{"question": q, "cited_article": "Fictional Local Library Act, Article 7", "answer": answer.format(w)}])[0]
        for w in ("borow", "borrow")
    ]  # fmt: skip
    assert "usefulness:unknown_words" in legal[0], legal[0]
    assert "usefulness:unknown_words" not in legal[1], legal[1]


def test_a_sentence_that_says_nothing_of_the_article_is_dropped(tmp_path: Path) -> None:
    """`min_source_words_per_sentence` (legal recipe): a demo run at 9a31ec2 padded a correct
    answer with "This law is the law of the land."; the same answer without it, and with a
    short aside of one content word ("Not normally."), is kept."""
    q = "What does Fictional Local Library Act, Article 10 say?"
    answer = "A library must erase a user's borrowing record once seven days have passed after the item was returned."
    why = [
        _reasons(tmp_path, LEGAL, [{"question": q, "cited_article": "Fictional Local Library Act, Article 10", "answer": a}])[0]
        for a in (answer + " This law is the law of the land.", answer, answer + " Not normally.")
    ]  # fmt: skip
    assert "usefulness:ungrounded" in why[0], why[0]
    assert why[1] == [] and why[2] == [], why
