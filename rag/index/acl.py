"""Knowledge bases, grants and who may read what: the one place that decides it.

An index holds many **knowledge bases** (named collections of documents: 法制科, 服务大厅 …).
Each grants a **role** to users (a :class:`~rag.models.Principal`'s ``name``) or groups (its
``groups``; ``*`` is everyone who may use the server at all):

* ``viewer``  reads the knowledge base's documents that are meant for it (below);
* ``editor``  also reads every document in it and sets their audience and classification;
* ``manager`` also grants and revokes roles on it.

A **document** belongs to one knowledge base and carries a **classification** (``公开`` public,
the default, or ``内部`` internal) and an optional **audience** (groups). A principal may read a
document when

1. it is a site administrator (``Principal.admin``: full-access keys, the CLI), or
2. it is an editor or manager of the document's knowledge base, or
3. it is a viewer of it by name or through one of its own groups, and the audience is empty or
   shares a group with it, or
4. it is a viewer only through ``*`` (everyone), the document is ``公开``, and the audience is
   empty or shares a group with it.

:func:`read_filter` turns that rule into a :class:`ReadFilter`, which each store translates into
its own query (SQL over the embedded store's documents, a scalar-field expression in a Milvus
search): retrieval applies it before ranking, so a document the asker may not read is never a
candidate, and nothing downstream (answer, related passages, streams, exports) can show it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.models import Principal

ROLES = ("viewer", "editor", "manager")
#: Where documents indexed without a knowledge base go (and those indexed before there were any).
DEFAULT_KB = "默认"
EVERYONE = "*"
PUBLIC, INTERNAL = "公开", "内部"
CLASSIFICATIONS = (PUBLIC, INTERNAL)
#: Metadata keys a document's access is kept under (``audience`` joined by commas).
KB_KEY, AUDIENCE_KEY, CLASSIFICATION_KEY = "kb", "audience", "classification"
ACCESS_KEYS = (AUDIENCE_KEY, CLASSIFICATION_KEY)
#: Where the catalogue (knowledge bases and grants) is kept in a store's meta table.
CATALOGUE_META = "access_catalogue"
_NAME = re.compile(r"^[^\s,;:\"'\\/*]{1,64}$")


def access_of(metadata: dict[str, str]) -> tuple[str, str, str]:
    """A document's (knowledge base, audience, classification) from its effective metadata."""
    return (metadata.get(KB_KEY) or DEFAULT_KB, metadata.get(AUDIENCE_KEY) or "",
            metadata.get(CLASSIFICATION_KEY) or PUBLIC)


class AccessError(ValueError):
    """A refused or malformed access change: the message says what to do."""


class NotReadable(AccessError):
    """A knowledge base the asker may not read was named (the same whether it exists or not)."""


def check_name(name: str, what: str) -> str:
    """A knowledge base or group name: 1-64 characters, no spaces, commas, quotes, slashes or ``*``."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise AccessError(f"{what} name {name!r} is not valid: use 1-64 characters without spaces, commas, "
                          "quotes, slashes or '*' (e.g. 法制科)")
    return name


def audience_value(groups: Iterable[str]) -> str:
    """The stored form of an audience: group names, sorted, joined by commas ("" for none)."""
    return ",".join(sorted({check_name(g, "group") for g in groups if g and g.strip()}))


def classification_value(value: str | None) -> str:
    value = (value or PUBLIC).strip()
    if value not in CLASSIFICATIONS:
        raise AccessError(f"classification {value!r} is not one of {', '.join(CLASSIFICATIONS)}")
    return value


@dataclass(frozen=True)
class Grant:
    kb: str
    kind: str  # "user" or "group"
    who: str
    role: str


@dataclass(frozen=True)
class Catalogue:
    """The knowledge bases of an index and the roles they grant (kept as JSON in the store's meta)."""

    kbs: tuple[str, ...]
    grants: tuple[Grant, ...] = ()

    @classmethod
    def initial(cls, default_kb: str) -> Catalogue:
        """A library that never configured access: one knowledge base everyone may read (today's behaviour)."""
        return cls((default_kb,), (Grant(default_kb, "group", EVERYONE, "viewer"),))

    @classmethod
    def from_json(cls, raw: str | None, default_kb: str) -> Catalogue:
        if not raw:
            return cls.initial(default_kb)
        data = json.loads(raw)
        return cls(tuple(data["kbs"]), tuple(Grant(*g) for g in data["grants"]))

    def to_json(self) -> str:
        return json.dumps({"kbs": list(self.kbs), "grants": [[g.kb, g.kind, g.who, g.role] for g in self.grants]},
                          ensure_ascii=False)

    def create(self, kb: str) -> Catalogue:
        kb = check_name(kb, "knowledge base")
        if kb in self.kbs:
            raise AccessError(f"knowledge base {kb!r} exists already")
        return Catalogue(self.kbs + (kb,), self.grants)

    def grant(self, kb: str, kind: str, who: str, role: str) -> Catalogue:
        self._known(kb)
        if role not in ROLES:
            raise AccessError(f"role {role!r} is not one of {', '.join(ROLES)}")
        who = who.strip() if kind == "user" or who.strip() == EVERYONE else check_name(who, "group")
        if not who:
            raise AccessError("name a user (--user) or a group (--group)")
        kept = tuple(g for g in self.grants if (g.kb, g.kind, g.who) != (kb, kind, who))
        return Catalogue(self.kbs, kept + (Grant(kb, kind, who, role),))

    def revoke(self, kb: str, kind: str, who: str) -> Catalogue:
        self._known(kb)
        return Catalogue(self.kbs, tuple(g for g in self.grants if (g.kb, g.kind, g.who) != (kb, kind, who.strip())))

    def _known(self, kb: str) -> None:
        if kb not in self.kbs:
            raise AccessError(f"no knowledge base {kb!r}: create it with `policyqa kb create {kb}`")

    def role_of(self, principal: Principal, kb: str) -> str | None:
        """The highest role ``principal`` holds on ``kb`` by name or through its own groups (not ``*``)."""
        roles = [g.role for g in self.grants if g.kb == kb and (
            (g.kind == "user" and g.who == principal.name) or (g.kind == "group" and g.who in principal.groups))]
        return max(roles, key=ROLES.index) if roles else None

    def everyone_role(self, kb: str) -> str | None:
        roles = [g.role for g in self.grants if g.kb == kb and g.kind == "group" and g.who == EVERYONE]
        return max(roles, key=ROLES.index) if roles else None

    def may(self, principal: Principal, kb: str, role: str) -> bool:
        """Whether ``principal`` holds at least ``role`` on ``kb`` (administrators hold every role)."""
        if principal.admin:
            return kb in self.kbs
        held = [r for r in (self.role_of(principal, kb), self.everyone_role(kb)) if r]
        return any(ROLES.index(r) >= ROLES.index(role) for r in held)

    def readable(self, principal: Principal) -> list[str]:
        """The knowledge bases ``principal`` may read anything in."""
        return [kb for kb in self.kbs if self.may(principal, kb, "viewer")]


@dataclass(frozen=True)
class ReadFilter:
    """What one asker may read, as the stores apply it: documents of ``full`` knowledge bases;
    of ``member`` ones, those whose audience is empty or names one of ``groups``; of ``public``
    ones, the 公开 among those. Nothing else (an empty filter lets nothing through)."""

    full: tuple[str, ...] = ()
    member: tuple[str, ...] = ()
    public: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.full or self.member or self.public)

    def admits(self, kb: str, audience: str, classification: str) -> bool:
        """The same rule in Python, for one document's stored access values."""
        open_to_me = not audience or bool(set(audience.split(",")) & set(self.groups))
        return kb in self.full or (kb in self.member and open_to_me) or \
            (kb in self.public and open_to_me and classification != INTERNAL)

    def sql(self, kb: str, audience: str, classification: str) -> tuple[str, list[str]]:
        """A WHERE clause over SQL expressions giving a document's kb, audience and classification."""
        clauses, params = [], []
        open_to_me = " OR ".join([f"{audience} = ''"] + [f"instr(',' || {audience} || ',', ?) > 0" for _ in self.groups])
        group_params = [f",{g}," for g in self.groups]
        if self.full:
            clauses.append(f"{kb} IN ({','.join('?' * len(self.full))})")
            params += self.full
        if self.member:
            clauses.append(f"({kb} IN ({','.join('?' * len(self.member))}) AND ({open_to_me}))")
            params += [*self.member, *group_params]
        if self.public:
            clauses.append(f"({kb} IN ({','.join('?' * len(self.public))}) AND {classification} != ? AND ({open_to_me}))")
            params += [*self.public, INTERNAL, *group_params]
        return "(" + (" OR ".join(clauses) or "0") + ")", params

    def milvus(self) -> str:
        """A Milvus filter expression over the chunk fields ``kb``, ``audience`` (ARRAY of groups)
        and ``classification``."""
        def quoted(values: Sequence[str]) -> str:
            return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"

        open_to_me = "array_length(audience) == 0" + (
            f" or array_contains_any(audience, {quoted(self.groups)})" if self.groups else "")
        clauses = []
        if self.full:
            clauses.append(f"kb in {quoted(self.full)}")
        if self.member:
            clauses.append(f"(kb in {quoted(self.member)} and ({open_to_me}))")
        if self.public:
            clauses.append(f"(kb in {quoted(self.public)} and classification != {json.dumps(INTERNAL, ensure_ascii=False)} "
                           f"and ({open_to_me}))")
        return "(" + (" or ".join(clauses) or "id < 0") + ")"


def read_filter(principal: Principal, catalogue: Catalogue, kbs: Sequence[str] = ()) -> ReadFilter | None:
    """What ``principal`` may read among ``kbs`` (every knowledge base when none is named).

    None means no restriction at all: an administrator asking across the whole library, so
    retrieval runs exactly as it did before knowledge bases existed. A named knowledge base the
    principal may not read raises AccessError with the same words whether it exists or not."""
    for kb in kbs:
        if not catalogue.may(principal, kb, "viewer"):
            raise NotReadable(f"no knowledge base {kb!r} that you may read")
    if principal.admin:
        return None if not kbs else ReadFilter(full=tuple(dict.fromkeys(kbs)))
    full, member, public = [], [], []
    for kb in (dict.fromkeys(kbs) if kbs else catalogue.kbs):
        own, everyone = catalogue.role_of(principal, kb), catalogue.everyone_role(kb)
        if (own and own != "viewer") or (everyone and everyone != "viewer"):
            full.append(kb)
        elif own:
            member.append(kb)
        elif everyone:
            public.append(kb)
    return ReadFilter(tuple(full), tuple(member), tuple(public), tuple(sorted(principal.groups)))
