"""The verdict on an answer (ragmix.qa.verdict) and the abstention gate (ragmix.qa.router):
pure functions, tested as tables on real Chinese and English text."""

from __future__ import annotations

import pytest

from ragmix.qa import direct, router, verdict
from ragmix.qa.chain import by_support

REPORT = (
    "苏州明远精密机械股份有限公司2025年年度报告。董事长沈知远先生主持公司工作。\n"
    "2025年公司实现营业收入56.83亿元，同比增长12.4%；研发投入4.1亿元。\n"
    "前五大客户合计销售额占年度销售总额的31.5%，其中第一大客户占11.2%。\n\n"
    "公司员工总数为三千二百人，总部位于苏州工业园区。"
)
STAMPEDES = (
    "2015年1月，麦加朝觐期间米纳发生踩踏事件，造成8人死亡，数十人受伤。\n\n"
    "2014年12月31日晚，上海外滩陈毅广场发生拥挤踩踏事件，造成36人死亡，49人受伤。"
)
OTHER_STAMPEDE = "2015年1月，麦加朝觐期间米纳发生踩踏事件，造成8人死亡，数十人受伤。"
TRAD = "臺灣鐵路公司宣布，該列車於上午九時從南寧站發車，全程票價為一百二十元。"


@pytest.mark.parametrize(
    ("answer", "texts", "question", "expected", "unsupported"),
    [
        # numbers compared as numbers, in any notation
        ("营业收入为5,683,000,000元", [REPORT], "公司2025年营业收入是多少？", "supported", []),
        ("营业收入约57亿元", [REPORT], "公司2025年营业收入是多少？", "supported", []),
        ("前五大客户销售额占比31.5%", [REPORT], "前五大客户销售额占比是多少？", "supported", []),
        ("前五大客户销售额占比11.2%", [REPORT], "前五大客户的销售额占比是多少？", "supported", []),
        ("前五大客户销售额占比为21.5%", [REPORT], "前五大客户销售额占比？", "unsupported",
         ["21.5%"]),
        ("员工总数3200人", [REPORT], "公司有多少员工？", "supported", []),
        ("56.83", [REPORT], "公司2025年营业收入是多少？", "supported", []),  # the unit dropped
        # the name is in the text, but nowhere near a hobby; the hobby is nowhere at all
        ("公司董事长沈知远先生的个人爱好是烹饪。", [REPORT], "公司董事长的个人爱好是什么？",
         "unsupported", ["沈知远", "烹饪", "先生"]),
        # a name jieba cuts into single characters is still checked
        ("李成栋的字是廷贞。", ["李成栋，字廷贞，明末将领。"], "李成栋的字是什么？",
         "supported", []),
        ("李成栋的字是介眉。", ["李成栋，字廷贞，明末将领。"], "李成栋的字是什么？",
         "unsupported", ["介眉"]),
        # the question's most specific name locates it, not a common one ("中国")
        ("原名是“香港公开羽毛球锦标赛”。",
         ["香港公开羽毛球锦标赛，原名中国香港羽毛球超级大赛，是一项羽毛球赛事。"],
         "中国（南京）国际象棋超级大赛的原名是什么？", "unsupported", ["香港公开羽毛球锦标赛"]),
        # a content word must be found where the question is discussed, not anywhere
        ("赵鹏的职业是后卫。", ["赵鹏是一名演员。\n\n邹游是中国足球运动员，司职后卫。"],
         "赵鹏的职业是什么？", "unsupported", ["后卫"]),
        # the year the question names is in the report's title, not in its paragraphs
        ("18.62亿元，研发投入为2.87亿元。",
         ["江南智造2025年年度报告\n\n第一节 公司简介\n\n公司成立于2012年。\n\n"
          "报告期内，公司实现营业收入18.62亿元，研发投入2.87亿元。"],
         "公司2025年的营业收入和研发投入是多少？", "supported", []),
        ("18.62亿元。",
         ["江南智造2024年年度报告\n\n报告期内，公司实现营业收入18.62亿元。"],
         "公司2025年的营业收入是多少？", "unsupported", ["18.62亿元"]),
        # one of the question's own options: nothing to check
        ("有机化合物", ["乙二醛是一种有机化合物。"], "乙二醛是有机还是无机化合物？", "partial", []),
        # a number from a passage about another event is not support
        ("上海外滩踩踏事件造成8人死亡。", [STAMPEDES], "上海外滩踩踏事件造成多少人死亡？",
         "unsupported", ["8人"]),
        ("造成8人死亡。", [OTHER_STAMPEDE], "上海外滩踩踏事件造成多少人死亡？",
         "unsupported", ["8人"]),
        ("上海外滩踩踏事件造成36人死亡，49人受伤。", [STAMPEDES],
         "上海外滩踩踏事件造成多少人死亡？", "supported", []),
        # Traditional text backs a Simplified answer
        ("票价为120元", [TRAD], "台湾铁路这趟列车的票价是多少？", "supported", []),
        ("列车从南宁站发车", [TRAD], "臺灣鐵路這趟列車從哪裡發車？", "supported", []),
        ("列车从西安站发车", [TRAD], "台湾铁路这趟列车从哪里发车？", "unsupported", ["西安"]),
        # an answer that only repeats the question says nothing
        ("生命数耗完即算", [REPORT], "生命数耗完即算为什么？", "unsupported", []),
        ("2008年", [REPORT], "2008年男子100米跑赛事什么时候举行？", "unsupported", []),
        ("是的。", [REPORT], "公司总部是否位于苏州？", "partial", []),
        # the model says the documents do not tell
        ("无法回答：文档中没有相关信息", [REPORT], "董事长的爱好是什么？", "no_answer", []),
        ("Unanswerable: the document does not say.", ["The warranty lasts two years."],
         "Who founded the company?", "no_answer", []),
        # English
        ("The warranty lasts two years.", ["The Lumen X2 warranty lasts two years from purchase."],
         "How long is the warranty?", "supported", []),
        ("The warranty lasts five years and covers water damage.",
         ["The Lumen X2 warranty lasts two years from purchase."],
         "How long is the warranty?", "unsupported", ["five"]),
    ],
)
def test_verdict_table(
    answer: str, texts: list[str], question: str, expected: str, unsupported: list[str]
) -> None:
    j = verdict.judge(answer, texts, question)
    assert j.verdict == expected, j
    for piece in unsupported:
        assert any(piece in u for u in j.unsupported), j


def test_an_invention_names_what_is_not_found_and_where_it_was() -> None:
    j = verdict.judge("造成8人死亡。", [STAMPEDES], "上海外滩踩踏事件造成多少人死亡？")
    assert j.unsupported == ["8人"]
    assert "only where the text is about something else" in j.note


def test_a_summary_is_judged_against_the_whole_text() -> None:
    # A global question has no terms to locate: every specific found anywhere counts.
    j = verdict.judge(
        "报告介绍了营业收入56.83亿元和研发投入4.1亿元。", [REPORT], "总结这份报告",
        global_question=True,
    )
    assert j.verdict == "supported", j


def test_numbers_are_read_in_every_notation() -> None:
    text = "56.83亿元、5,683万、12%、三千二百人、二〇二五年、百分之五"
    values = [n.value for n in verdict.numbers(text)]
    assert values == [5_683_000_000.0, 56_830_000.0, 12.0, 3200.0, 2025.0, 5.0]


@pytest.mark.parametrize(
    ("terms", "dense", "fires"),
    [
        (0.1, 0.70, True),  # nothing bears on it
        (0.1, 0.90, False),  # worded differently, but close in meaning
        (0.5, 0.70, False),  # the passage names what was asked
        (0.1, None, True),  # no meaning signal (the embedder does not read the question)
    ],
)
def test_abstain_table(terms: float, dense: float | None, fires: bool) -> None:
    why = router.abstain(
        router.Confidence(terms, dense), enabled=True, min_terms=0.35, min_dense=0.86
    )
    assert (why is not None) == fires
    if fires:
        assert why is not None and why.startswith("not in your documents")
    assert router.abstain(
        router.Confidence(terms, dense), enabled=False, min_terms=0.35, min_dense=0.86
    ) is None


def test_sources_in_the_order_of_support_keep_their_numbers() -> None:
    sources = [{"support": s, "score": sc} for s, sc in ((0.0, 0.9), (0.1, 0.8), (0.94, 0.2))]
    ordered = by_support(sources)  # type: ignore[arg-type]
    assert [(s["n"], s["support"]) for s in ordered] == [(3, 0.94), (2, 0.1), (1, 0.0)]


def test_the_examples_in_the_docstrings_hold() -> None:
    import doctest

    from ragmix.cli import console
    from ragmix.qa import chain, sources

    for module in (verdict, router, chain, sources, console, direct):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


@pytest.mark.parametrize(
    ("answer", "question", "shown"),
    [
        # the restated question and a lead-in are not shown
        ("根据案情，翟楼与叶某口头约定的每天工资为220元。", "翟楼与叶某口头约定的每天工资是多少？",
         "220元。"),
        ("[1] 立案前在线调解期限为三十日。", "立案前在线调解的期限为多少日？", "三十日。"),
        ("乍都节公园位于泰国的首都曼谷的乍都节县。", "乍都节公园位于什么地方？",
         "泰国的首都曼谷的乍都节县。"),
        # an answer whose own words start with the question's is kept whole
        ("中国（南京）国际象棋特级大师邀请赛", "中国（南京）国际象棋超级大赛的原名是什么？",
         "中国（南京）国际象棋特级大师邀请赛"),
        ("《SOUL EATER》里的登场人物介绍。", "《SOUL EATER》是谁的漫画作品？",
         "《SOUL EATER》里的登场人物介绍。"),
        # a question that asks for two things: each part keeps its label
        ("根据报告，公司2025年的营业收入为18.62亿元，研发投入为2.87亿元。",
         "公司2025年的营业收入和研发投入是多少？",
         "公司2025年的营业收入为18.62亿元，研发投入为2.87亿元。"),
        # all restatement: shown as written; a refusal is untouched
        ("生命数耗完即算", "生命数耗完即算为什么？", "生命数耗完即算"),
        ("无法回答：文档中没有相关信息。", "董事长的爱好是什么？",
         "无法回答：文档中没有相关信息。"),
    ],
)
def test_a_chinese_answer_is_shown_from_where_it_answers(
    answer: str, question: str, shown: str
) -> None:
    assert direct.lead(answer, question) == shown
    for size in (1, 2, 3, 5, 8):  # the stream shows the same text, however it is cut
        d = direct.DirectLead(question)
        streamed = "".join(d.feed(answer[i : i + size]) for i in range(0, len(answer), size))
        assert streamed + d.finish() == shown, size
