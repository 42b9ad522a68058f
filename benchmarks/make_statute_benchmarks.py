"""Writes the shipped fictional-statute benchmarks (node/examples/benchmarks/{ja,en}_statutes.jsonl).

Every fact comes from src/synthspace/node/examples/ja_legal_qa_seeds.jsonl (fictional laws that
exist nowhere else); each item rephrases one fact as a multiple-choice question whose wrong
options are plausible values. No item text equals a seed text (tests/evaluation checks it).
Run: python benchmarks/make_statute_benchmarks.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/synthspace/node/examples/benchmarks"

# (id, Japanese question, Japanese options, English question, English options, answer index)
ITEMS: list[tuple[str, str, list[str], str, list[str], int]] = [
    (
        "data-3a",
        "架空・市民データ取扱条例第3条では、利用者から開示を求められた事業者は何日以内に開示しなければなりませんか。",
        ["三十日以内", "十四日以内", "六十日以内", "七日以内"],
        "Under Article 3 of the fictional Citizen Data Handling Ordinance, within how many days must a business disclose a user's data on request?",
        ["within 30 days", "within 14 days", "within 60 days", "within 7 days"],
        0,
    ),
    (
        "data-3b",
        "架空・市民データ取扱条例で、利用者情報の開示期限を定めているのは第何条ですか。",
        ["第3条", "第5条", "第7条", "第9条"],
        "Which article of the fictional Citizen Data Handling Ordinance sets the deadline for disclosing a user's data?",
        ["Article 3", "Article 5", "Article 7", "Article 9"],
        0,
    ),
    (
        "data-3c",
        "架空・市民データ取扱条例第3条の開示義務を負うのは誰ですか。",
        ["事業者", "市町村長", "利用者", "図書館"],
        "Who bears the disclosure duty in Article 3 of the fictional Citizen Data Handling Ordinance?",
        ["the business", "the mayor", "the user", "the library"],
        0,
    ),
    (
        "data-5a",
        "架空・市民データ取扱条例第5条によると、事業者が利用者の情報を第三者に提供するには原則として何が必要ですか。",
        ["利用者の同意", "市町村への届出", "手数料の支払い", "裁判所の許可"],
        "Under Article 5 of the fictional Citizen Data Handling Ordinance, what does a business normally need before giving a user's data to a third party?",
        [
            "the user's consent",
            "a filing with the municipality",
            "payment of a fee",
            "a court order",
        ],
        0,
    ),
    (
        "data-5b",
        "架空・市民データ取扱条例第5条で、同意なしの第三者提供が例外的に認められるのはどんな場合ですか。",
        ["生命の保護に必要な場合", "売上が増える場合", "広告に使う場合", "事業者が合併する場合"],
        "Under Article 5 of the fictional Citizen Data Handling Ordinance, when may a business share data with a third party without consent?",
        [
            "when needed to protect life",
            "when it raises sales",
            "when used for advertising",
            "when the business merges",
        ],
        0,
    ),
    (
        "data-5c",
        "架空・市民データ取扱条例で第三者提供の制限を定めているのは第何条ですか。",
        ["第5条", "第3条", "第2条", "第12条"],
        "Which article of the fictional Citizen Data Handling Ordinance restricts giving data to third parties?",
        ["Article 5", "Article 3", "Article 2", "Article 12"],
        0,
    ),
    (
        "kick-8a",
        "架空・電動キックボード通行法第8条では、電動キックボードは原則としてどこを通行してはなりませんか。",
        ["歩道", "車道", "自転車道", "高速道路の路肩"],
        "Under Article 8 of the fictional E-Scooter Traffic Act, where may an e-scooter not ride as a rule?",
        ["on the pavement", "on the road", "in the cycle lane", "on the motorway shoulder"],
        0,
    ),
    (
        "kick-8b",
        "架空・電動キックボード通行法第8条の例外として歩道を通行できるのは、時速何キロメートル以下に制限された車両ですか。",
        ["六キロメートル", "十キロメートル", "二十キロメートル", "三キロメートル"],
        "Under the exception in Article 8 of the fictional E-Scooter Traffic Act, vehicles limited to what speed may use the pavement?",
        ["6 km/h", "10 km/h", "20 km/h", "3 km/h"],
        0,
    ),
    (
        "kick-8c",
        "架空・電動キックボード通行法で歩道通行を禁じているのは第何条ですか。",
        ["第8条", "第12条", "第4条", "第10条"],
        "Which article of the fictional E-Scooter Traffic Act bans riding on the pavement?",
        ["Article 8", "Article 12", "Article 4", "Article 10"],
        0,
    ),
    (
        "kick-12a",
        "架空・電動キックボード通行法第12条では、運転者は夜間に何をしなければなりませんか。",
        ["前照灯を点灯する", "ヘルメットを外す", "警音器を鳴らし続ける", "歩道を走る"],
        "Under Article 12 of the fictional E-Scooter Traffic Act, what must a rider do at night?",
        [
            "switch on the headlight",
            "take off the helmet",
            "sound the horn continuously",
            "ride on the pavement",
        ],
        0,
    ),
    (
        "kick-12b",
        "架空・電動キックボード通行法第12条に違反した者の過料はいくら以下ですか。",
        ["五千円以下", "一万円以下", "三千円以下", "五万円以下"],
        "Under Article 12 of the fictional E-Scooter Traffic Act, what is the maximum fine for breaking it?",
        ["5,000 yen", "10,000 yen", "3,000 yen", "50,000 yen"],
        0,
    ),
    (
        "kick-12c",
        "架空・電動キックボード通行法で夜間の前照灯点灯を義務づけるのは第何条ですか。",
        ["第12条", "第8条", "第3条", "第6条"],
        "Which article of the fictional E-Scooter Traffic Act requires a headlight at night?",
        ["Article 12", "Article 8", "Article 3", "Article 6"],
        0,
    ),
    (
        "house-4a",
        "架空・空き家管理促進法第4条では、空き家の所有者は建物の状態を年に何回以上点検しなければなりませんか。",
        ["一回以上", "四回以上", "十二回以上", "二年に一回"],
        "Under Article 4 of the fictional Vacant House Management Act, how often must an owner inspect the building?",
        [
            "at least once a year",
            "at least four times a year",
            "every month",
            "once every two years",
        ],
        0,
    ),
    (
        "house-4b",
        "架空・空き家管理促進法第4条で、点検の結果はどこに届け出ますか。",
        ["市町村", "警察署", "国土交通大臣", "近隣住民"],
        "Under Article 4 of the fictional Vacant House Management Act, to whom must the inspection result be reported?",
        ["the municipality", "the police", "the national ministry", "the neighbours"],
        0,
    ),
    (
        "house-4c",
        "架空・空き家管理促進法で所有者の点検義務を定めているのは第何条ですか。",
        ["第4条", "第9条", "第2条", "第7条"],
        "Which article of the fictional Vacant House Management Act sets the owner's inspection duty?",
        ["Article 4", "Article 9", "Article 2", "Article 7"],
        0,
    ),
    (
        "house-9a",
        "架空・空き家管理促進法第9条では、市町村長は倒壊のおそれがある空き家の所有者に何を勧告できますか。",
        ["修繕", "売却", "取り壊しの延期", "賃貸"],
        "Under Article 9 of the fictional Vacant House Management Act, what may the mayor recommend to the owner of a house at risk of collapse?",
        ["repairs", "a sale", "postponing demolition", "renting it out"],
        0,
    ),
    (
        "house-9b",
        "架空・空き家管理促進法第9条の修繕勧告で定める期限は最長どれだけですか。",
        ["三か月以内", "一か月以内", "一年以内", "六か月以内"],
        "Under Article 9 of the fictional Vacant House Management Act, what is the longest deadline a repair recommendation may set?",
        ["three months", "one month", "one year", "six months"],
        0,
    ),
    (
        "house-9c",
        "架空・空き家管理促進法で修繕の勧告を定めているのは第何条ですか。",
        ["第9条", "第4条", "第5条", "第11条"],
        "Which article of the fictional Vacant House Management Act lets the mayor recommend repairs?",
        ["Article 9", "Article 4", "Article 5", "Article 11"],
        0,
    ),
    (
        "pet-2a",
        "架空・ペット共生住宅法第2条では、貸主は体重何キログラム未満の犬又は猫の飼育を正当な理由なく拒めませんか。",
        ["十キログラム", "五キログラム", "二十キログラム", "三キログラム"],
        "Under Article 2 of the fictional Pet-Friendly Housing Act, a landlord may not refuse dogs or cats under what weight?",
        ["10 kg", "5 kg", "20 kg", "3 kg"],
        0,
    ),
    (
        "pet-2b",
        "架空・ペット共生住宅法第2条の対象となる動物はどれですか。",
        ["犬又は猫", "鳥又は魚", "爬虫類", "すべての動物"],
        "Which animals does Article 2 of the fictional Pet-Friendly Housing Act cover?",
        ["dogs or cats", "birds or fish", "reptiles", "every animal"],
        0,
    ),
    (
        "pet-2c",
        "架空・ペット共生住宅法で貸主がペット飼育を拒めない場合を定めているのは第何条ですか。",
        ["第2条", "第6条", "第3条", "第8条"],
        "Which article of the fictional Pet-Friendly Housing Act limits a landlord's right to refuse pets?",
        ["Article 2", "Article 6", "Article 3", "Article 8"],
        0,
    ),
    (
        "pet-6a",
        "架空・ペット共生住宅法第6条では、退去時のペットによる損耗の原状回復費用は誰が負担しますか。",
        ["借主", "貸主", "市町村", "管理会社と折半"],
        "Under Article 6 of the fictional Pet-Friendly Housing Act, who pays to restore pet damage when a tenant moves out?",
        ["the tenant", "the landlord", "the municipality", "split with the agent"],
        0,
    ),
    (
        "pet-6b",
        "架空・ペット共生住宅法第6条で、借主の負担から除かれるのはどんな損耗ですか。",
        ["通常の使用による損耗", "ペットによる損耗", "故意による損耗", "すべての損耗"],
        "Under Article 6 of the fictional Pet-Friendly Housing Act, which wear is excluded from what the tenant pays?",
        ["wear from normal use", "pet damage", "deliberate damage", "all wear"],
        0,
    ),
    (
        "pet-6c",
        "架空・ペット共生住宅法で退去時の原状回復費用を定めているのは第何条ですか。",
        ["第6条", "第2条", "第9条", "第4条"],
        "Which article of the fictional Pet-Friendly Housing Act covers restoration costs at move-out?",
        ["Article 6", "Article 2", "Article 9", "Article 4"],
        0,
    ),
    (
        "lib-7a",
        "架空・地域図書館利用法第7条では、返却が何日を超えて遅れると新たな貸出しを受けられなくなりますか。",
        ["十四日", "七日", "三十日", "三日"],
        "Under Article 7 of the fictional Community Library Act, a return late by more than how many days blocks new loans?",
        ["14 days", "7 days", "30 days", "3 days"],
        0,
    ),
    (
        "lib-7b",
        "架空・地域図書館利用法第7条で、返却が大幅に遅れた者はどうなりますか。",
        [
            "遅延期間中は新たな貸出しを受けられない",
            "罰金を払う",
            "利用者登録が取り消される",
            "何も起きない",
        ],
        "Under Article 7 of the fictional Community Library Act, what happens to someone whose return is badly overdue?",
        [
            "no new loans while it is overdue",
            "they pay a fine",
            "their card is cancelled",
            "nothing happens",
        ],
        0,
    ),
    (
        "lib-7c",
        "架空・地域図書館利用法で返却遅延の扱いを定めているのは第何条ですか。",
        ["第7条", "第10条", "第3条", "第12条"],
        "Which article of the fictional Community Library Act deals with overdue returns?",
        ["Article 7", "Article 10", "Article 3", "Article 12"],
        0,
    ),
    (
        "lib-10a",
        "架空・地域図書館利用法第10条では、貸出記録は返却後何日を経過したら消去しなければなりませんか。",
        ["七日", "十四日", "三十日", "一年"],
        "Under Article 10 of the fictional Community Library Act, how many days after a return must the loan record be erased?",
        ["7 days", "14 days", "30 days", "one year"],
        0,
    ),
    (
        "lib-10b",
        "架空・地域図書館利用法第10条で消去が義務づけられている記録は何ですか。",
        ["利用者の貸出記録", "図書の購入記録", "職員の勤務記録", "寄付の記録"],
        "Which records must be erased under Article 10 of the fictional Community Library Act?",
        ["users' loan records", "book purchase records", "staff timesheets", "donation records"],
        0,
    ),
    (
        "lib-10c",
        "架空・地域図書館利用法で貸出記録の消去を定めているのは第何条ですか。",
        ["第10条", "第7条", "第5条", "第2条"],
        "Which article of the fictional Community Library Act requires erasing loan records?",
        ["Article 10", "Article 7", "Article 5", "Article 2"],
        0,
    ),
    (
        "free-3a",
        "架空・フリーランス報酬支払法第3条では、発注者は成果物の受領日から何日以内に報酬を支払わなければなりませんか。",
        ["四十五日以内", "三十日以内", "六十日以内", "九十日以内"],
        "Under Article 3 of the fictional Freelance Payment Act, within how many days of receiving the work must the client pay?",
        ["within 45 days", "within 30 days", "within 60 days", "within 90 days"],
        0,
    ),
    (
        "free-3b",
        "架空・フリーランス報酬支払法第3条の支払期限は、いつから数えますか。",
        ["成果物を受領した日", "契約を結んだ日", "請求書が届いた日", "月末"],
        "Under Article 3 of the fictional Freelance Payment Act, from when is the payment deadline counted?",
        [
            "the day the work is received",
            "the day the contract is signed",
            "the day the invoice arrives",
            "the end of the month",
        ],
        0,
    ),
    (
        "free-3c",
        "架空・フリーランス報酬支払法で報酬の支払期限を定めているのは第何条ですか。",
        ["第3条", "第7条", "第10条", "第1条"],
        "Which article of the fictional Freelance Payment Act sets the payment deadline?",
        ["Article 3", "Article 7", "Article 10", "Article 1"],
        0,
    ),
    (
        "free-7a",
        "架空・フリーランス報酬支払法第7条では、発注者はどのような方法で報酬額と支払期日を明示しなければなりませんか。",
        ["書面又は電磁的方法", "口頭のみ", "掲示板への掲載", "方法の定めはない"],
        "Under Article 7 of the fictional Freelance Payment Act, how must the client state the fee and payment date?",
        [
            "in writing or electronically",
            "orally only",
            "on a notice board",
            "no method is required",
        ],
        0,
    ),
    (
        "free-7b",
        "架空・フリーランス報酬支払法第7条で、発注者が明示しなければならない事項はどれですか。",
        ["報酬額及び支払期日", "発注者の年収", "成果物の著作権", "作業場所"],
        "Under Article 7 of the fictional Freelance Payment Act, what must the client state?",
        [
            "the fee and the payment date",
            "the client's income",
            "copyright in the work",
            "the place of work",
        ],
        0,
    ),
    (
        "free-7c",
        "架空・フリーランス報酬支払法で報酬額の明示を定めているのは第何条ですか。",
        ["第7条", "第3条", "第8条", "第12条"],
        "Which article of the fictional Freelance Payment Act requires stating the fee?",
        ["Article 7", "Article 3", "Article 8", "Article 12"],
        0,
    ),
]


def _rotate(options: list[str], k: int) -> tuple[list[str], int]:
    """Move the correct option (index 0 in the table) to position k so answers are not all 'A'."""
    k %= len(options)
    rest = options[1:]
    return rest[:k] + [options[0]] + rest[k:], k


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for lang, qi, oi in (("ja", 1, 2), ("en", 3, 4)):
        lines = []
        for n, row in enumerate(ITEMS):
            options, answer = _rotate([str(o) for o in row[oi]], n)  # type: ignore[union-attr]
            item = {
                "id": f"{lang}-{row[0]}",
                "kind": "choice",
                "question": row[qi],
                "options": options,
                "answer": answer,
            }
            lines.append(json.dumps(item, ensure_ascii=False))
        (OUT / f"{lang}_statutes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{lang}: {len(lines)} items")


if __name__ == "__main__":
    main()
