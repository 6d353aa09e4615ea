"""An OFD file (GB/T 33190-2016) opened safely: its zip, its XML parts and what its pages hold.

An OFD is a zip of XML parts: ``OFD.xml`` names the document's root (``Doc_0/Document.xml``),
which lists the pages (``Pages/Page_N/Content.xml``), the templates shared by pages and the
resource files (fonts, images). Everything in it is hostile until read: the zip's directory is
checked against the archive limits before a byte is inflated, each part is read with a cap, XML
is parsed by lxml without entities, DTDs or network (a part that declares a DTD, as an XML bomb
or an external entity must, is refused as a whole-file error), and every path a part names is
resolved inside the document's folder, never outside it. The parser reads nothing else from the
file: signatures, annotations, attachments and custom tags are not read.

A whole-file problem is an :class:`IngestError`; a problem of one page (its part missing or
broken) is a :class:`PageUnreadable`, so the loader can read the other pages and warn about it.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from rag.ingest.base import IngestError
from rag.ingest.limits import IngestLimits, check_archive

#: A4 in millimetres, the page size when neither the page nor the document states one.
_A4 = (0.0, 0.0, 210.0, 297.0)
_RESAVE = "Open it in the application that made it (e.g. 数科/福昕 OFD reader) and save or export it again"


class PageUnreadable(Exception):
    """One page's part is missing or broken; the other pages can still be read."""


@dataclass(frozen=True)
class Placed:
    """An image on a page: the zip member of its file and where it stands (mm, y down)."""

    member: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


#: An affine map (a, b, c, d, e, f): (x, y) -> (a x + c y + e, b x + d y + f), as OFD's CTM.
Affine = tuple[float, float, float, float, float, float]
IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_MAX_NESTING = 4  # composite objects inside composite units, at most this deep
_MAX_DRAWN = 20_000  # graphic units one page may draw


def compose(outer: Affine, inner: Affine) -> Affine:
    """``outer`` after ``inner``."""
    a, b, c, d, e, f = outer
    a2, b2, c2, d2, e2, f2 = inner
    return (a * a2 + c * b2, b * a2 + d * b2, a * c2 + c * d2, b * c2 + d * d2, a * e2 + c * f2 + e, b * e2 + d * f2 + f)


def placement(obj: etree._Element) -> Affine:
    """Where an object's own coordinates land on its parent: its CTM, then its Boundary's origin."""
    box = numbers(obj.get("Boundary"))
    ctm = numbers(obj.get("CTM"))
    a, b, c, d, e, f = ctm if len(ctm) == 6 else IDENTITY
    x, y = (box[0], box[1]) if len(box) >= 2 else (0.0, 0.0)
    return (a, b, c, d, e + x, f + y)


@dataclass(frozen=True)
class PagePart:
    """What a page holds for reading and drawing: its size (mm), its content layers (templates'
    first, as XML elements in drawing order) each with the map from its coordinates to the page's
    (the identity for a layer, a CompositeObject's placement for the content of the graphic unit
    it draws), and its images."""

    number: int
    width: float
    height: float
    layers: tuple[tuple[etree._Element, Affine], ...]
    images: tuple[Placed, ...]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Child elements called ``name`` whatever their namespace (producers differ: ofd:, none)."""
    return [c for c in element if _local(c) == name]


def child_text(element: etree._Element, name: str) -> str | None:
    found = children(element, name)
    return (found[0].text or "").strip() if found else None


def descendants(element: etree._Element, *names: str) -> Iterator[etree._Element]:
    return (e for e in element.iter() if _local(e) in names)


def numbers(value: str | None) -> list[float]:
    """The numbers of an ST_Array attribute ("0 0 210 297"); unreadable values give none."""
    try:
        return [float(v) for v in (value or "").split()]
    except ValueError:
        return []


class OfdPackage:
    """An opened OFD: its first document's pages, templates and resources (see the module docstring)."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, limits: IngestLimits) -> None:
        self.path = path
        self._zip = archive
        self._limits = limits
        self._names = {n.lstrip("/"): n for n in archive.namelist()}
        # producers on Windows name parts in any case ("TPLS/Tpl_0" for Tpls/Tpl_0): a name not found
        # as written is looked up again folded
        self._folded = {n.lower(): full for n, full in self._names.items()}
        #: what could not be read but does not stop the pages (a missing resource file or template)
        self.warnings: list[str] = []
        root = self._xml("OFD.xml", whole_file=True)
        body = children(root, "DocBody")
        doc_root = child_text(body[0], "DocRoot") if body else None
        if not doc_root:
            raise IngestError(path, "not an OFD document: OFD.xml names no DocRoot (OFD.xml 缺少文档入口)", _RESAVE)
        self._root = self._inside("", doc_root, posixpath.dirname(doc_root.lstrip("/")))
        self._doc_dir = posixpath.dirname(self._root)
        info = children(body[0], "DocInfo")
        self.title = (child_text(info[0], "Title") or None) if info else None
        document = self._xml(self._root, whole_file=True)
        common = (children(document, "CommonData") or [document])[0]
        area = children(common, "PageArea")
        self._default_box = _box(area[0]) if area else _A4
        self._media: dict[str, str] = {}
        self._units: dict[str, etree._Element] = {}  # composite graphic units (VectorG) by ID
        for res in [*children(common, "PublicRes"), *children(common, "DocumentRes")]:
            if res.text and res.text.strip():
                self._read_res(self._inside(self._root, res.text.strip()))
        self._templates = {t.get("ID"): t.get("BaseLoc", "") for t in children(common, "TemplatePage")}
        self._template_layers: dict[str, list[etree._Element]] = {}
        pages = children(document, "Pages")
        #: where each page's Content.xml is (as the document names it, "" if it names none), in page order
        self.pages = [p.get("BaseLoc", "") for p in (children(pages[0], "Page") if pages else [])]

    # -- parts -----------------------------------------------------------------------------------

    def _inside(self, referrer: str, loc: str, doc_dir: str | None = None) -> str:
        """The member ``loc`` names, relative to the part ``referrer`` (absolute from the zip's
        root), refused when it leaves the document's folder."""
        loc = loc.strip().replace("\\", "/")
        base = "" if loc.startswith("/") else posixpath.dirname(referrer)
        member = posixpath.normpath(posixpath.join(base, loc.lstrip("/")))
        folder = self._doc_dir if doc_dir is None else doc_dir
        if member.startswith("../") or member == ".." or (folder and not member.startswith(folder + "/")):
            raise IngestError(self.path, f"a part refers to '{loc}', outside its document's folder "
                              "(路径越出文档目录); the file is damaged or crafted", _RESAVE)
        return member

    def read(self, member: str) -> bytes:
        """A member's bytes, read with the per-member cap (a member may lie about its size)."""
        name = self._names.get(member) or self._folded.get(member.lower())
        if name is None:
            raise KeyError(member)
        cap = int(self._limits.archive_max_member_mb * 1024 * 1024)
        with self._zip.open(name) as stream:
            data = stream.read(cap + 1)
        if len(data) > cap:
            raise IngestError(self.path, f"part '{member}' inflates past the {self._limits.archive_max_member_mb:g} MB "
                              "limit (部件过大)", "If the file is genuine, raise POLICYQA_INGEST_ARCHIVE_MAX_MEMBER_MB")
        return data

    def _xml(self, member: str, whole_file: bool) -> etree._Element:
        """A part parsed safely; missing or broken, it is the file's error (``whole_file``) or the page's."""
        try:
            data = self.read(member)
        except KeyError:
            if whole_file:
                raise IngestError(self.path, f"not a complete OFD file: its part '{member}' is missing (缺少 {member})",
                                  _RESAVE) from None
            raise PageUnreadable(f"its part '{member}' is missing from the file") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:  # a damaged member (CRC, stream)
            if whole_file:
                raise IngestError(self.path, f"the OFD file is damaged: part '{member}' cannot be inflated ({exc}) "
                                  "(OFD 部件损坏)", _RESAVE) from exc
            raise PageUnreadable(f"its part '{member}' is damaged ({exc})") from exc
        return parse_xml(self.path, member, data, whole_file)

    def _read_res(self, member: str) -> None:
        """Images a resource file declares (``MultiMedia`` of type Image), by ID; its fonts are not
        needed: pages are drawn with one CJK font."""
        try:
            res = self._xml(member, whole_file=False)
        except PageUnreadable as exc:
            self._warn(f"resource file: {exc}; images it declares are not read")
            return
        base = res.get("BaseLoc", "")
        for unit in descendants(res, "CompositeGraphicUnit"):
            if unit.get("ID"):
                self._units[unit.get("ID")] = unit
        for media in descendants(res, "MultiMedia"):
            file = child_text(media, "MediaFile")
            if file and media.get("ID"):
                loc = file if file.startswith("/") else posixpath.join(base, file)
                self._media[media.get("ID")] = self._inside(member, loc)

    def _warn(self, note: str) -> None:
        if note not in self.warnings:
            self.warnings.append(note)

    def page(self, number: int) -> PagePart:
        """Page ``number`` (1-based): its content layers, templates first, and images. Raises
        PageUnreadable for a page whose part is missing or broken."""
        loc = self.pages[number - 1]
        if not loc:
            raise PageUnreadable("the document names no part for it")
        member = self._inside(self._root, loc)
        page = self._xml(member, whole_file=False)
        for res in children(page, "PageRes"):
            if res.text and res.text.strip():
                self._read_res(self._inside(member, res.text.strip()))
        area = children(page, "Area")
        _, _, w, h = _box(area[0]) if area else self._default_box
        layers: list[etree._Element] = []
        for template in children(page, "Template"):
            layers.extend(self._template(template.get("TemplateID", "")))
        layers.extend(children(page, "Content"))
        placed = [(layer, IDENTITY) for layer in layers]
        for n, drawn in enumerate(self._composites(layers, IDENTITY, 1)):
            if n >= _MAX_DRAWN:  # units drawing units drawing units: a page of 100^4 copies is refused
                raise PageUnreadable(f"its composite objects draw more than {_MAX_DRAWN:,} graphic units")
            placed.append(drawn)
        return PagePart(number, w, h, tuple(placed), tuple(self._images(layers)))

    def _composites(self, layers: list[etree._Element], outer: Affine,
                    depth: int) -> Iterator[tuple[etree._Element, Affine]]:
        """The contents of the graphic units the CompositeObjects of ``layers`` draw (converters from
        PDF put a page's text there), each with its map to the page; nested at most _MAX_NESTING deep."""
        if depth > _MAX_NESTING:
            return
        for obj in (o for layer in layers for o in descendants(layer, "CompositeObject")):
            unit = self._units.get(obj.get("ResourceID", ""))
            if unit is None:
                continue
            at = compose(outer, placement(obj))
            contents = children(unit, "Content")
            yield from ((content, at) for content in contents)
            yield from self._composites(contents, at, depth + 1)

    def _template(self, template_id: str) -> list[etree._Element]:
        """The content layers of a template (parsed once for all the pages that use it). A template
        is decoration (a red header, a seal's frame): one that cannot be read is warned about once,
        and the pages still read."""
        if template_id not in self._template_layers:
            base = self._templates.get(template_id)
            layers: list[etree._Element] = []
            if base:
                try:
                    layers = children(self._xml(self._inside(self._root, base), whole_file=False), "Content")
                except PageUnreadable as exc:
                    self._warn(f"a template cannot be read: {exc}; its text (a header, a footer) is missing")
            self._template_layers[template_id] = layers
        return self._template_layers[template_id]

    def _images(self, layers: list[etree._Element]) -> Iterator[Placed]:
        for layer in layers:
            for image in descendants(layer, "ImageObject"):
                member = self._media.get(image.get("ResourceID", ""))
                box = numbers(image.get("Boundary"))
                if member and len(box) == 4 and box[2] > 0 and box[3] > 0:
                    x, y, w, h = box
                    yield Placed(member, (x, y, x + w, y + h))


def _box(area: etree._Element) -> tuple[float, float, float, float]:
    box = numbers(child_text(area, "PhysicalBox"))
    return tuple(box) if len(box) == 4 and box[2] > 0 and box[3] > 0 else _A4  # type: ignore[return-value]


def parse_xml(path: Path, member: str, data: bytes, whole_file: bool = True) -> etree._Element:
    """``data`` parsed without entities, DTDs or network. A part that declares a DTD (an XML bomb,
    an external entity) is refused at once, as the file's error whatever part it is in: no OFD
    needs one, and a file that carries one is not trusted for its other parts either."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                             dtd_validation=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:65536]:
            raise _hostile(path, member) from None
        if whole_file:
            raise IngestError(path, f"the OFD file is damaged: part '{member}' is not well-formed XML ({exc}) "
                              "(OFD 部件不是有效的 XML)", _RESAVE) from None
        raise PageUnreadable(f"its part '{member}' is not well-formed XML ({exc})") from None
    if root.getroottree().docinfo.internalDTD is not None or root.getroottree().docinfo.system_url:
        raise _hostile(path, member)
    return root


def _hostile(path: Path, member: str) -> IngestError:
    return IngestError(path, f"part '{member}' declares a DTD or entities (an XML bomb or external entity; "
                       "文件内含 XML 实体声明，疑似 XML 炸弹), so the file is not read",
                       "Remove the file; if it is genuine, export it again from the application that made it")


@contextmanager
def open_ofd(path: Path, limits: IngestLimits) -> Iterator[OfdPackage]:
    """The OFD at ``path``, its zip checked against the archive limits first."""
    with path.open("rb") as f:
        head = f.read(4)
    if head[:2] != b"PK":
        raise IngestError(path, "not an OFD file: it is not a zip package (不是 OFD 文件：不是 zip 压缩包)",
                          "Check the file; an OFD is exported by an OFD reader or a 版式 application")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise IngestError(path, f"the OFD file is truncated or damaged ({exc}) (OFD 文件不完整或已损坏)",
                          "Copy or download it again completely") from exc
    with archive:
        check_archive(path, limits)
        yield OfdPackage(path, archive, limits)
