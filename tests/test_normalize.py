from rag.text.normalize import is_boilerplate, normalize_text, search_key


def test_pinyin_glosses_removed_and_script_kept() -> None:
    raw = "為譜寫如皋現(xiàn)代化建設(shè)新篇章,南通爭優(yōu)勝"
    assert normalize_text(raw) == "為譜寫如皋現代化建設新篇章，南通爭優勝"


def test_ascii_punctuation_in_chinese_made_full_width_but_numbers_left() -> None:
    assert normalize_text("2023年,苏州(一)加强领导:完成1,200件,增长3.5%") == "2023年，苏州（一）加强领导：完成1,200件，增长3.5%"
    assert normalize_text("see (GDP) and http://a.b:8080") == "see (GDP) and http://a.b:8080"


def test_full_width_digits_and_spaces() -> None:
    assert normalize_text("２０２０年８月\u00a0\u3000被评为") == "2020年8月 被评为"


def test_web_boilerplate_lines_dropped() -> None:
    for line in ("常熟新闻网首页", "[责任编辑:SJX]", "标签:", "手机新闻网", "声明:所有来源为“常熟日报”的内容"):
        assert is_boilerplate(line), line
    assert not is_boilerplate("白皮书的主要内容")
    assert normalize_text("常熟新闻网首页\n\n白皮书的主要内容\n[责任编辑:SJX]\n标签:") == "白皮书的主要内容"


def test_hard_wrapped_text_rejoined_but_headings_and_sentence_ends_kept() -> None:
    raw = "一、总体要求\n坚持以习近平新时代中国特色社会主义思\n想为指导，深入贯彻落实习近平法治思想，\n全面推进依法行政工作，取得积极成效。\n（一）加强领导\n组织召开会议。"
    assert normalize_text(raw).split("\n") == [
        "一、总体要求",
        "坚持以习近平新时代中国特色社会主义思想为指导，深入贯彻落实习近平法治思想，全面推进依法行政工作，取得积极成效。",
        "（一）加强领导",
        "组织召开会议。",
    ]


def test_search_key_is_simplified_folded_and_length_preserving() -> None:
    trad = "（二）法治政府建設彰顯了“硬擔當”，ＡＢＣ"
    key = search_key(trad)
    assert len(key) == len(trad)
    assert key == search_key("(二)法治政府建设彰显了“硬担当”,abc")


def test_a_number_wrapped_inside_chinese_text_is_joined_without_a_space() -> None:
    from rag.text.normalize import normalize_text

    lines = ["各县区、各部门要坚持依法行政，加快建设法治政府，不断提升群众的获得感和满意",
             "度。", "", "马鞍山市2025年共办理法律援助案件2468件，为困难群众挽回经济损失13", "57万元。"]
    assert normalize_text("\n".join(lines)).endswith("挽回经济损失1357万元。")
    wrapped = ["The committee met in the spring of the year and agreed on version", "2 of the plan.",
               "The committee met in the spring of the year and agreed on version", "3 of the plan."]
    assert "version 2 of" in normalize_text("\n".join(wrapped))  # Latin text keeps its space


def test_wrapped_lines_join_after_an_indented_first_line_a_closing_quote_and_a_split_row() -> None:
    """A paragraph's first line is two characters short (its indent, stripped); a row OCR split in
    two leaves a line starting with "，", which never starts a paragraph; "(一）" is one bracket pair."""
    para = ("在2019年全国法治政府建设示范创建活动中，在省司法厅、滁州市司法局和天长市委、市政府高度重视下，"
            "该市取得了可喜成绩，2020年8月被评为首批“全国法治政府建设示范市（县、区）”，省委书记为天长市颁发了奖牌。")
    width = 24
    lines = [para[:width - 2]] + [para[i:i + width] for i in range(width - 2, len(para), width)]
    assert normalize_text("\n".join(lines)) == para
    split = "实行“首次轻微违法豁免制”\n，督促企业进行整改，规范经营行为。"
    assert normalize_text(split) == "实行“首次轻微违法豁免制”，督促企业进行整改，规范经营行为。"
    assert normalize_text("第一段。\n\n，不是新段") == "第一段。\n，不是新段"  # a blank line still ends it
    assert normalize_text("(一）大力推进全面依法治市工作") == "（一）大力推进全面依法治市工作"
    assert normalize_text("（二)全面加强") == "（二）全面加强"
