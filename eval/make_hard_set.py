"""Build eval/policyqa_hard.jsonl: questions written to break PolicyQA, systematically from docs/.

    python eval/make_hard_set.py            # writes eval/policyqa_hard.jsonl

The set is separate from eval/policyqa_eval.jsonl (written in the documents' own words) so both can
be reported. For the facts of that set it adds, by kind (the ``kind`` field of each line):

* ``paraphrase``: the same fact asked with other verbs and nouns (hand-written below);
* ``paraphrase-trad``: those paraphrases in traditional characters (OpenCC s2tw);
* ``other-city``: every city-specific question asked about each of the other four cities. Expected
  to be refused, except where that city's own document gives the fact: those were checked by hand
  against docs/ and are listed in ``OTHER_CITY_ANSWERS`` with the fact from that city's document;
* ``wrong-year`` / ``false-premise``: a year the documents do not give for that fact, or a premise
  they contradict: to be refused (or corrected with a citation: the scorer then wants the true fact);
* ``reverse``: which city did X — answered from the document's subject;
* ``role``: who did something, in which role.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "policyqa_eval.jsonl"
OUT = ROOT / "policyqa_hard.jsonl"
CITIES = ["天长市", "苏州市", "太仓市", "常熟市", "如皋市"]

#: Hand-written paraphrases of the source set's facts: other verbs, nouns and word order.
PARAPHRASES = {
    "q001": ["天长市是哪一年哪个月获评首批全国法治政府建设示范市的？", "天长市荣获全国法治政府建设示范市称号是在什么时候？"],
    "q002": ["天长市2020年8月获评的是什么荣誉？"],
    "q003": ["天长市诉前调解中心配备的专职调解员、行业调解员和退休法律工作者一共有几名？"],
    "q004": ["天长市诉前调解中心可以调解的民商事纠纷有几类？"],
    "q005": ["天长市“最多跑一次”事项清单一共列了几项？"],
    "q006": ["天长市参加行政执法证考试的行政执法机关工作人员有几名？", "天长市组织行政执法证考试，参考的执法机关人员有多少？"],
    "q007": ["天长市行政执法证考试的通过人数是多少？"],
    "q008": ["天长市一共聘了几名政府特邀行政执法监督员？"],
    "q009": ["天长市司法局参加教育整顿的在编在职干警共有几名？"],
    "q010": ["天长市政法队伍教育整顿设了多少个工作专班？"],
    "q011": ["天长市“双随机一公开”的分类分级检查比例全年最低是多少？"],
    "q012": ["天长市诉前调解中心在安徽法院系统中是首家什么机构？"],
    "q013": ["2023年苏州市人民调解组织一共调解化解了多少件纠纷？", "苏州全市的人民调解组织2023年化解的纠纷数量是多少？"],
    "q014": ["苏州市委常委会2023年研究法治领域事项共计几次？"],
    "q015": ["苏州市政务服务事项的网上可办率是多少？"],
    "q016": ["苏州市优化营商环境创新行动2023一共推出几项具体措施？"],
    "q017": ["苏州市政府全年出台的行政规范性文件有几件？"],
    "q018": ["苏州市涉企轻微违法行为免罚轻罚清单4.0版有多少个事项？"],
    "q019": ["苏州市县处职领导干部任前法律法规考试的参考人数和通过率分别是多少？"],
    "q020": ["苏州市在重点领域行政执法案卷评查中一共抽查了几份案卷？"],
    "q021": ["苏州市出台的全省首部茶叶保护立法叫什么名字？"],
    "q022": ["苏州市市级机关“法治开讲”活动开展了几期？"],
    "q023": ["截至11月，太仓市人民调解委员会受理调处的矛盾纠纷共有几件？"],
    "q024": ["太仓市领导干部学法用法的民主测评满意率达到多少？"],
    "q025": ["太仓市向社会公布的行政执法主体有几个？"],
    "q026": ["太仓市通过资格审查的行政执法人员共有几名？", "太仓市行政执法人员资格审查通过了多少人？"],
    "q027": ["太仓市去年以来立案受理的行政复议案件一共几件？"],
    "q028": ["太仓市一共建了几个“法润民生”微信群？"],
    "q029": ["在太仓市开办企业要花多少钱、多长时间？"],
    "q030": ["太仓市的政务自助一体机能办理几项政务事项？"],
    "q031": ["太仓市有几个村建成了国家级民主法治示范村？"],
    "q032": ["常熟市是哪天发布法治政府建设状况白皮书的？"],
    "q033": ["2015年到2019年，常熟市行政复议机关一共受理了多少件行政复议案件？"],
    "q034": ["常熟市行政复议的直接纠错率达到多少？"],
    "q035": ["五年来常熟市政府法律顾问一共出具了几份法律意见书？"],
    "q036": ["常熟市现在一共建立了几个调解组织？"],
    "q037": ["常熟市是什么时候被评为全国“七五”普法中期先进县（市）的？"],
    "q038": ["常熟市被评为首批“国际湿地城市”是在哪一年？"],
    "q039": ["常熟市依托“两法衔接”机制一共移送了几件案件？"],
    "q040": ["如皋市2023年一共排查出几条问题线索？"],
    "q041": ["如皋市出具的知识产权类公证书有几件，比上年增长了多少？"],
    "q042": ["如皋市把2024年的行政诉讼败诉率控制在多少以内？"],
    "q043": ["2023年如皋市基层司法所牵头化解的矛盾纠纷有几件？"],
    "q051": ["如皋市一共走访了几家中小微企业？"],
    "q052": ["如皋市一共部署了几个远程公证服务点？"],
    "q053": ["如皋市为2024年定下的目标是什么？"],
    "q055": ["天长市行政执法证考试通过了几人，特邀行政执法监督员聘了几名？"],
    "q056": ["2023年苏州市人民调解组织化解了多少件纠纷，案卷评查抽了多少份？"],
    "q057": ["常熟市法律顾问五年出具了几份法律意见书，行政复议机关受理了几件案件？"],
}

#: Other-city questions that the other city's own document does answer (checked by hand in docs/):
#: (source id, city) -> facts. Every other (id, city) pair is expected to be refused.
OTHER_CITY_ANSWERS: dict[tuple[str, str], list[list[str]]] = {}

#: Other-city questions whose other city's document gives a near fact (another period, or a neighbouring
#: measure such as 资格审查 for 执法证考试), checked by hand: refusing is right, and so is answering with
#: that document's own figure, which shows its period or measure in the cited sentence.
OTHER_CITY_CORRECTS: dict[tuple[str, str], list[list[str]]] = {
    ("q007", "太仓市"): [["1534"]],
    ("q017", "常熟市"): [["20件", "108件"]],
    ("q023", "苏州市"): [["246357"]],
    ("q023", "常熟市"): [["73293"]],
    ("q026", "天长市"): [["171"]],
    ("q027", "常熟市"): [["313"]],
}

#: Years the documents do not give for a fact, or premises they contradict: to be refused, or
#: answered with the correcting fact (``corrects``) and its citation.
WRONG_YEAR = [
    ("天长市何时在2015年被评为首批全国法治政府建设示范市？", "false-premise", [["2020年8月"]]),
    ("天长市为什么在2015年被评为首批全国法治政府建设示范市？", "false-premise", [["2020年8月"]]),
    ("苏州市2021年全市人民调解组织共化解纠纷多少件？", "wrong-year", []),
    ("苏州市2019年政务服务可网办率达到多少？", "wrong-year", []),
    ("如皋市2020年排查问题线索多少条？", "wrong-year", []),
    ("如皋市2021年基层司法所牵头化解各类矛盾纠纷多少件？", "wrong-year", []),
    ("常熟市2023年行政复议直接纠错率是多少？", "wrong-year", []),
    ("常熟市2010—2014年行政复议机关共受理行政复议案件多少件？", "wrong-year", []),
    ("太仓市2023年有多少名行政执法人员通过资格审查？", "wrong-year", []),
    ("天长市2019年聘请了多少名政府特邀行政执法监督员？", "wrong-year", []),
    ("常熟市哪一年获评第二批“国际湿地城市”？", "false-premise", []),
    ("太仓市建成了几个市级民主法治示范村？", "false-premise", []),  # it gives 国家级 (2) and 省级 (63) only
]

#: Which city did X: the answer is the document's subject.
REVERSE = [
    ("哪个城市在2020年8月被评为首批全国法治政府建设示范市？", [["天长"]]),
    ("哪个城市的诉前调解中心是安徽法院首家诉前和解中心？", [["天长"]]),
    ("哪个城市打造了“亭满意”营商环境品牌？", [["天长"]]),
    ("哪个城市的政务服务可网办率达到98.6%？", [["苏州"]]),
    ("哪个城市出台了全省首部关于茶叶保护的立法《洞庭山碧螺春茶保护条例》？", [["苏州"]]),
    ("哪个城市建立了155个“法润民生”微信群？", [["太仓"]]),
    ("哪个城市的领导干部学法用法民主测评满意率达到99.25%？", [["太仓"]]),
    ("哪个城市获评首批“国际湿地城市”？", [["常熟"]]),
    ("哪个城市的行政复议直接纠错率是7.9%？", [["常熟"]]),
    ("哪个城市出具知识产权类公证书360件？", [["如皋"]]),
    ("哪个城市2024年的目标是“南通争优胜”？", [["如皋"]]),
]

#: Who did something, in which role.
ROLE = [
    ("谁为天长市颁发了全国法治政府建设示范市奖牌？", True, [["省委书记"]]),
    ("天长市的市委书记叫什么名字？", False, []),
    ("苏州市的市长是谁？", False, []),
    ("如皋市司法局局长是谁？", False, []),
]


def city_of(question: str) -> str | None:
    return next((c for c in CITIES if c in question or c[:-1] in question), None)


def main() -> None:
    import opencc

    s2t = opencc.OpenCC("s2tw.json")
    source = [json.loads(line) for line in SOURCE.open(encoding="utf-8") if line.strip()]
    items: list[dict] = []

    def add(kind: str, question: str, answerable: bool, facts: list, origin: str | None = None,
            corrects: list | None = None) -> None:
        items.append({"id": f"h{len(items) + 1:03d}", "kind": kind, "question": question, "answerable": answerable,
                      "facts": facts, **({"source": origin} if origin else {}),
                      **({"corrects": corrects} if corrects else {})})

    for item in source:
        for text in PARAPHRASES.get(item["id"], []):
            add("paraphrase", text, True, item["facts"], item["id"])
            add("paraphrase-trad", s2t.convert(text), True, item["facts"], item["id"])
    for item in source:
        city = city_of(item["question"])
        if not item["answerable"] or city is None or s2t.convert(item["question"]) == item["question"]:
            continue  # traps, questions naming no city, and traditional ones (their simplified twin is here)
        for other in CITIES:
            if other == city:
                continue
            question = item["question"].replace(city, other).replace(city[:-1], other[:-1])
            facts = OTHER_CITY_ANSWERS.get((item["id"], other))
            add("other-city", question, facts is not None, facts or [], item["id"],
                corrects=OTHER_CITY_CORRECTS.get((item["id"], other)))
    for question, kind, corrects in WRONG_YEAR:
        add(kind, question, False, [], corrects=corrects)
    for question, facts in REVERSE:
        add("reverse", question, True, facts)
    for question, answerable, facts in ROLE:
        add("role", question, answerable, facts)
    with OUT.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    print(f"{len(items)} items written to {OUT}: {kinds}")


if __name__ == "__main__":
    main()
