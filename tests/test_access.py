"""Who may read what (rag.index.acl), as rules: the read filter and its SQL form agree with the
rule written out case by case; a name is never a wildcard; a sidecar is read strictly."""

from __future__ import annotations

import sqlite3
from itertools import product
from pathlib import Path

import pytest

from rag.index.acl import DEFAULT_KB, AccessError, Catalogue, read_filter
from rag.index.sidecar import Sidecars, read_sidecar
from rag.models import LOCAL, Principal

CAT = (Catalogue.initial(DEFAULT_KB).create("法制科").create("服务大厅")
       .grant("法制科", "group", "法制科", "viewer").grant("法制科", "user", "oidc:zhao", "editor")
       .grant("服务大厅", "group", "*", "viewer").grant("服务大厅", "group", "服务_厅", "manager"))
LI = Principal(name="oidc:li", role="read", groups=frozenset({"法制科"}))
ZHAO = Principal(name="oidc:zhao", role="write")
KIOSK = Principal(name="key:0badcafe", role="read")
HALL = Principal(name="oidc:hall", role="read", groups=frozenset({"服务_厅"}))
#: Every kind of document: knowledge base × audience × classification.
DOCS = list(product([DEFAULT_KB, "法制科", "服务大厅"], ["", "法制科", "服务大厅", "法制科,司法局", "服务a厅"], ["公开", "内部"]))


def expected(principal: Principal, kb: str, audience: str, classification: str) -> bool:
    """The rule of rag.index.acl's docstring, written out case by case."""
    if principal.admin:
        return True
    own, everyone = CAT.role_of(principal, kb), CAT.everyone_role(kb)
    meant = not audience or bool(set(audience.split(",")) & principal.groups)
    if own in ("editor", "manager"):
        return True
    if own == "viewer":
        return meant
    return everyone is not None and meant and classification == "公开"


@pytest.mark.parametrize("principal", [LI, ZHAO, KIOSK, HALL], ids=lambda p: p.name)
def test_filter_agrees_with_the_rule_in_python_and_sql(principal: Principal) -> None:
    access = read_filter(principal, CAT)
    clause, params = access.sql("t.kb", "t.audience", "t.classification")
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t(kb, audience, classification)")
    admitted = 0
    for kb, audience, classification in DOCS:
        want = expected(principal, kb, audience, classification)
        assert access.admits(kb, audience, classification) == want, (kb, audience, classification)
        db.execute("DELETE FROM t")
        db.execute("INSERT INTO t VALUES(?, ?, ?)", (kb, audience, classification))
        assert bool(db.execute(f"SELECT COUNT(*) FROM t WHERE {clause}", params).fetchone()[0]) == want
        admitted += want
    assert 0 < admitted < len(DOCS)  # each asker reads some documents and not others


def test_a_group_name_is_matched_whole_never_as_a_pattern() -> None:
    # 服务_厅 must not read a document meant for 服务a厅 (LIKE would take "_" for any character)
    assert not read_filter(HALL, CAT).admits("法制科", "服务a厅", "公开")


def test_administrators_are_unrestricted_and_names_are_checked() -> None:
    assert read_filter(LOCAL, CAT) is None  # retrieval runs exactly as without knowledge bases
    assert read_filter(LOCAL, CAT, ["法制科"]).full == ("法制科",)
    for who, kb in ((KIOSK, "法制科"), (KIOSK, "无此库")):  # the same words whether it exists or not
        with pytest.raises(AccessError, match="that you may read"):
            read_filter(who, CAT, [kb])
    with pytest.raises(AccessError):
        CAT.create("法制 科")
    with pytest.raises(AccessError):
        CAT.grant("法制科", "group", "法制科", "owner")
    assert CAT.readable(KIOSK) == [DEFAULT_KB, "服务大厅"]
    assert CAT.may(ZHAO, "法制科", "editor") and not CAT.may(ZHAO, "法制科", "manager")
    assert Catalogue.from_json(CAT.to_json(), DEFAULT_KB) == CAT


def test_sidecar_nearest_wins_and_a_typo_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".policyqa.toml").write_text('classification = "内部"\naudience = ["法制科", "司法局"]\n'
                                                   'kb = "法制科"\n', encoding="utf-8")
    (tmp_path / "a" / "b" / ".policyqa.toml").write_text('classification = "公开"\n', encoding="utf-8")
    sidecars = Sidecars(None)
    assert sidecars.access(tmp_path / "x.txt", tmp_path) == {"kb": DEFAULT_KB, "audience": "", "classification": "公开"}
    assert sidecars.access(tmp_path / "a" / "x.txt", tmp_path) == \
        {"kb": "法制科", "audience": "司法局,法制科", "classification": "内部"}
    assert sidecars.access(tmp_path / "a" / "b" / "x.txt", tmp_path)["classification"] == "公开"
    assert Sidecars("服务大厅").access(tmp_path / "a" / "x.txt", tmp_path)["kb"] == "服务大厅"  # --kb wins
    bad = tmp_path / ".policyqa.toml"
    for text in ('classificaton = "内部"\n', 'classification = "secret"\n', 'audience = "法制科"\n', "kb = [\n"):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(AccessError, match=".policyqa.toml"):
            read_sidecar(bad)
