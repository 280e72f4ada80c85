"""Build ``longdocs.json`` (SQuAD/CMRC format) from the ``*.txt`` documents beside this file.

Each question's gold answer is a span copied from its document; ``anchor`` is a longer
phrase that holds the answer exactly once in the document, so the answer's offset is
unambiguous. The build stops with an error if an anchor is missing or not unique, or if an
offset does not point at its answer. Run: ``python benchmarks/data/longdocs/build.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (file, title, [(question, answer, anchor, needs_global_view)])
QUESTIONS: list[tuple[str, str, list[tuple[str, str, str, bool]]]] = [
    (
        "judgment_01.txt",
        "（2016）沪01民终13566号 确认劳动关系纠纷二审民事判决书",
        [
            ("翟楼与叶某口头约定的每天工资是多少？", "220元", "口头约定每天工资220元", False),
            ("二审案件受理费由谁负担？", "上诉人翟楼", "由上诉人翟楼负担", False),
        ],
    ),
    (
        "regulation_01.txt",
        "明码标价和禁止价格欺诈规定（国家市场监督管理总局令第56号）",
        [
            (
                "经营者未标明被比较价格的详细信息时，"
                "被比较价格应当不高于价格比较前多少日内的最低成交价格？",
                "七日",
                "进行价格比较前七日内的最低成交价格",
                False,
            ),
            (
                "交易场所提供者提供的标价模板不符合规定、情节严重的，罚款幅度是多少？",
                "三万元以上十万元以下罚款",
                "第二十五条 交易场所提供者提供的标价模板不符合本规定的，"
                "由县级以上市场监督管理部门责令改正，可以处三万元以下罚款；"
                "情节严重的，处三万元以上十万元以下罚款",
                False,
            ),
        ],
    ),
    (
        "regulation_02.txt",
        "市场监督管理投诉举报处理暂行办法（国家市场监督管理总局令第20号）",
        [
            (
                "自投诉受理之日起多少个工作日内未能达成调解协议的，终止调解？",
                "四十五个工作日",
                "自投诉受理之日起四十五个工作日内",
                False,
            ),
            (
                "本办法施行时同时废止的规章中，原国家食品药品监督管理总局发布的是哪一部？",
                "《食品药品投诉举报管理办法》",
                "第21号公布的《食品药品投诉举报管理办法》",
                False,
            ),
            (
                "第二十一条列举了几种终止调解的情形？",
                "七",
                "（七）法律、法规、规章规定的应当终止调解的其他情形",
                True,
            ),
        ],
    ),
    (
        "court_rules_01.txt",
        "人民法院在线调解规则（最高人民法院）",
        [
            ("立案前在线调解的期限为多少日？", "三十日", "立案前在线调解期限为三十日", False),
            (
                "立案后在线调解适用简易程序的，调解期限为几日？",
                "七日",
                "适用简易程序的调解期限为七日",
                False,
            ),
            (
                "最高人民法院审判委员会在第几次会议上通过了本规则？",
                "第1859次会议",
                "最高人民法院审判委员会第1859次会议通过",
                False,
            ),
        ],
    ),
    (
        "judicial_interp_01.txt",
        "最高人民法院、最高人民检察院关于办理盗窃刑事案件适用法律若干问题的解释（2013）",
        [
            (
                "二年内盗窃多少次以上，应当认定为“多次盗窃”？",
                "三次以上",
                "二年内盗窃三次以上的",
                False,
            ),
            (
                "没有盗窃数额或者盗窃数额无法计算的，应当在什么幅度内判处罚金？",
                "一千元以上十万元以下",
                "应当在一千元以上十万元以下判处罚金",
                False,
            ),
        ],
    ),
    (
        "regulation_03.txt",
        "家用汽车产品修理更换退货责任规定（国家市场监督管理总局令第43号）",
        [
            ("修理记录的保存期限不得低于几年？", "6年", "修理记录保存期限不得低于6年", False),
            ("使用补偿系数n不得高于多少？", "0.5%", "使用补偿系数n不得高于0.5%", False),
            (
                "家用汽车产品的包修期不得低于多久？",
                "3年或者行驶里程60,000公里",
                "包修期不得低于3年或者行驶里程60,000公里",
                False,
            ),
            (
                "发生三包责任争议，本规定列出了几种解决途径？",
                "五",
                "（五）向人民法院提起诉讼",
                True,
            ),
        ],
    ),
    (
        "regulation_04.txt",
        "中华人民共和国人民币管理条例（国务院令第280号）",
        [
            (
                "故意毁损人民币的，公安机关除给予警告外，还并处多少罚款？",
                "1万元以下的罚款",
                "故意毁损人民币的，由公安机关给予警告，并处1万元以下的罚款",
                False,
            ),
            ("本条例自何时起施行？", "2000年5月1日", "本条例自2000年5月1日起施行", False),
        ],
    ),
]


def build() -> dict[str, object]:
    data: list[dict[str, object]] = []
    for i, (name, title, questions) in enumerate(QUESTIONS, 1):
        context = (HERE / name).read_text(encoding="utf-8")
        qas: list[dict[str, object]] = []
        for j, (question, answer, anchor, global_view) in enumerate(questions, 1):
            if context.count(anchor) != 1:
                raise SystemExit(f"{name}: anchor {anchor!r} occurs {context.count(anchor)} times")
            inner = anchor.find(answer)
            if inner < 0:
                raise SystemExit(f"{name}: answer {answer!r} is not in its anchor {anchor!r}")
            start = context.index(anchor) + inner
            assert context[start : start + len(answer)] == answer
            qa: dict[str, object] = {
                "id": f"LONGDOC_{i:02d}_QUERY_{j}",
                "question": question,
                "answers": [{"text": answer, "answer_start": start}],
            }
            if global_view:
                qa["needs_global_view"] = True
            qas.append(qa)
        data.append(
            {
                "title": title,
                "paragraphs": [{"id": f"LONGDOC_{i:02d}", "context": context, "qas": qas}],
            }
        )
    return {"version": "longdocs-1", "data": data}


def main() -> None:
    out = HERE / "longdocs.json"
    out.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
