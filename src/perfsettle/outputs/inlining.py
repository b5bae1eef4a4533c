"""E-mail HTML with its CSS inlined once per template, instead of once per message.

E-mail clients ignore ``<style>`` elements, so a statement's HTML carries its styles in
``style`` attributes. css_inline does that to a finished document: it parses it (html5ever),
matches the rules of its ``<style>`` and writes the document back, which takes about as long
as rendering it. Thousands of statements share one template, so ``InlinedTemplates`` does
that work on the template instead, once: it compiles a Jinja template whose HTML has a
``<style>`` element into a Jinja template whose output is, byte for byte, what css_inline
makes of the original's output:

- every start tag is written as css_inline writes it (class first, the rules of its tag and
  classes merged into its ``style``), as css_inline itself writes it in a small document made
  of the element and its ancestors. Where the rules depend on a value
  (``class="pill pill-{{ status }}"``, or a row class its cells' rules depend on) the tag is
  made once per distinct value, when it first occurs;
- what the HTML parser adds or moves is written where it puts it: the ``<tbody>`` of a
  table's rows, the ``<style>`` element left out, the whitespace before ``<head>`` left out
  and the whitespace after ``</body>`` moved inside;
- values are escaped the way the parser's output is written (``'`` and ``"`` as they are in
  text, ``&quot;`` in attributes, no-break spaces as ``&nbsp;``).

A template it cannot follow (an element left open, a rule with a pseudo-class, a Jinja tag
between two attributes, …) raises ``Unsupported`` when compiled; a value it cannot place
exactly as the parser would (a carriage return, markup from the caller, a class with a space)
raises ``Unsafe`` while rendering, and ``render`` then renders that document the ordinary
way: the Jinja template as it is, then css_inline.
"""
from __future__ import annotations

import html as _html
import logging
import re
from dataclasses import dataclass, replace

from jinja2 import Environment, FunctionLoader, StrictUndefined, nodes

__all__ = ["InlinedTemplates", "Unsafe", "Unsupported", "ViewEnvironment", "finish"]

log = logging.getLogger(__name__)


_DICT_NAMES = frozenset(dir(dict))


class ViewEnvironment(Environment):
    """A Jinja environment for views made of dicts: ``view.key`` is the dict's item at once.

    Jinja looks for an attribute first and for the item after, an exception per lookup (about
    400 per statement). A dict has no attribute of a name that is not one of ``dict``'s own, so
    for such a name the item comes first with the same result, missing keys included."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_NAMES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class Unsupported(Exception):
    """A template construct the compiler does not follow (the template is rendered the ordinary way)."""


class Unsafe(Exception):
    """A value the compiled template cannot write exactly as css_inline would: render the ordinary way."""


# --------------------------------------------------------------------------- values

_CLASS_VALUE = re.compile(r"[A-Za-z0-9_-]*")      # a value inside a class attribute
_CSS_VALUE = re.compile(r"[A-Za-z0-9_#.%-]*")     # a value inside a style attribute css_inline rewrites


def _not_markup(value) -> None:
    if hasattr(value, "__html__"):
        raise Unsafe("markup from the caller")   # the parser would rewrite it


def _text(value) -> str:
    """A value in text, as html5ever writes text: ``&``, ``<`` and ``>`` escaped, quotes as they
    are (no-break spaces are escaped by ``finish``)."""
    if type(value) is not str:
        _not_markup(value)
        value = str(value)
    if "&" in value or "<" in value or ">" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _attr(value) -> str:
    """A value in an attribute, as html5ever writes attribute values: ``&``, ``"`` and no-break spaces escaped."""
    if type(value) is not str:
        if type(value) is int:
            return str(value)
        _not_markup(value)
        value = str(value)
    if "&" in value or '"' in value or "\xa0" in value:
        value = value.replace("&", "&amp;").replace('"', "&quot;").replace("\xa0", "&nbsp;")
    return value


def _css(value) -> str:
    """A value in a style attribute css_inline rewrites: only plain tokens (numbers, colours) are safe."""
    if type(value) is not str:
        _not_markup(value)
        value = str(value)
    if not _CSS_VALUE.fullmatch(value):
        raise Unsafe(f"style value {value!r}")
    return value


_PLAIN_CLASSES: set = set()       # class values seen to be plain: a few statuses and tones


def _cls(value) -> str:
    """A value in a class attribute (css_inline writes classes unescaped): one plain class name part."""
    if type(value) is str and value in _PLAIN_CLASSES:
        return value
    if type(value) is not str:
        _not_markup(value)
        value = str(value)
    if not _CLASS_VALUE.fullmatch(value):
        raise Unsafe(f"class value {value!r}")
    if len(_PLAIN_CLASSES) < 1024:
        _PLAIN_CLASSES.add(value)
    return value


def _css_gone(value) -> str:
    """A value in a style attribute whose declaration css_inline replaces: checked, not written
    (a quote in it would change how the rest of the attribute is read)."""
    _css(value)
    return ""


def _class(*parts) -> str:
    """A class attribute's value from its text (even positions) and values (odd positions)."""
    return "".join(p if i % 2 == 0 else _cls(p) for i, p in enumerate(parts))


def _unsafe(*_args, **_kwargs):
    raise Unsafe("a macro's output used as a value")


def finish(html: str) -> str:
    """The rendered output of a compiled template as css_inline writes it: no-break spaces as
    ``&nbsp;``. Carriage returns and NUL characters, which the parser rewrites, raise ``Unsafe``."""
    if "\r" in html or "\x00" in html:
        raise Unsafe("carriage return or NUL")
    return html.replace("\xa0", "&nbsp;")


def _text_out(static: str) -> str:
    """Static text as the parser reads it and css_inline writes it back."""
    s = _html.unescape(static)
    return s.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- the stylesheet

_SELECTOR = re.compile(r"[A-Za-z0-9_.\s>*-]+")
_CLASS_NAME = re.compile(r"\.([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class _Stylesheet:
    """The classes a template's rules name: on the element styled (subjects) and on its ancestors."""
    subject_classes: frozenset
    ancestor_classes: frozenset

    @property
    def classes(self) -> frozenset:
        return self.subject_classes | self.ancestor_classes

    @classmethod
    def parse(cls, css: str) -> "_Stylesheet":
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        if any(c in css for c in "@\\\"'"):
            raise Unsupported("at-rules, escapes and strings in the stylesheet")
        subjects, ancestors = set(), set()
        for rule in css.split("}"):
            if not rule.strip():
                continue
            if rule.count("{") != 1:
                raise Unsupported(f"rule {rule.strip()[:40]!r}")
            selectors, _declarations = rule.split("{")
            for selector in selectors.split(","):
                if not _SELECTOR.fullmatch(selector.strip()):
                    raise Unsupported(f"selector {selector.strip()!r}: only tags, classes, descendants and children")
                compounds = selector.replace(">", " ").split()
                if not compounds:
                    raise Unsupported("an empty selector")
                subjects.update(_CLASS_NAME.findall(compounds[-1]))
                for compound in compounds[:-1]:
                    ancestors.update(_CLASS_NAME.findall(compound))
        return cls(frozenset(subjects), frozenset(ancestors))


# --------------------------------------------------------------------------- template items

_SENTINEL = 0xF0000                                   # Unicode private use, plane 15: never in a template
_SENTINELS = re.compile("[\U000f0000-\U000ffffd]")


def _sentinel(i: int) -> str:
    return chr(_SENTINEL + i)


def _index(sentinel: str) -> int:
    return ord(sentinel) - _SENTINEL


def _raw(text: str) -> str:
    """Output text, kept away from Jinja's syntax."""
    if "{" in text or "}" in text:
        if "endraw" in text:
            raise Unsupported("endraw in the template's text")
        return "{% raw %}" + text + "{% endraw %}"
    return text


def _interleave(text: str) -> list:
    """Text with sentinels as [text, hole index, text, …]: texts at even positions."""
    out, last = [], 0
    for s in _SENTINELS.finditer(text):
        out += [text[last:s.start()], _index(s.group())]
        last = s.end()
    return out + [text[last:]]


@dataclass(frozen=True)
class _Var:
    expr: str                 # the expression of a {{ … }}


@dataclass(frozen=True)
class _Block:
    keyword: str
    src: str                  # "{% … %}", its whitespace control already applied to the text around it


@dataclass(frozen=True)
class _Marker:
    block: str                # where a {% block %} is, in a template's body


def _lex(env: Environment, name: str) -> list:
    """The template as text (after Jinja's whitespace control), ``_Var`` and ``_Block`` items."""
    source, _filename, _uptodate = env.loader.get_source(env, name)
    if _SENTINELS.search(source):
        raise Unsupported("private-use characters in the template")
    items: list = []
    kind, parts = None, []
    for _line, token, value in env.lex(source, name):
        if kind is None:
            if token == "data":
                items.append(value)
            elif token in ("variable_begin", "block_begin", "comment_begin"):
                kind, parts = token, []
            else:
                raise Unsupported(f"{token} in {name}")
        elif token in ("variable_end", "block_end", "comment_end"):
            inner = "".join(parts).strip()
            if kind != "comment_begin" and re.search(r"\b(super\s*\(|self\s*\.)", inner):
                raise Unsupported(f"super() or self in {name}")   # blocks are flattened
            if kind == "variable_begin":
                items.append(_Var(inner))
            elif kind == "block_begin":
                items.append(_Block(inner.split(None, 1)[0] if inner else "", "{% " + inner + " %}"))
            kind = None
        else:
            parts.append(value)
    return items


def _split(items: list, name: str) -> tuple[list, dict, dict]:
    """(the items with a ``_Marker`` for each block, {block: its items}, {macro: (its tag, its items)})."""
    body, blocks, macros = [], {}, {}
    i = 0
    while i < len(items):
        item = items[i]
        if not (isinstance(item, _Block) and item.keyword in ("macro", "block")):
            body.append(item)
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(items) and depth:
            other = items[j]
            if isinstance(other, _Block) and other.keyword == item.keyword:
                depth += 1
            elif isinstance(other, _Block) and other.keyword == "end" + item.keyword:
                depth -= 1
            j += 1
        if depth:
            raise Unsupported(f"{item.src} not closed in {name}")
        inner = items[i + 1:j - 1]
        words = item.src[2:-2].split(None, 1)
        if item.keyword == "macro":
            called = re.match(r"([A-Za-z_]\w*)\s*\(", words[1] if len(words) > 1 else "")
            if not called or any(isinstance(x, _Block) and x.keyword in ("macro", "block") for x in inner):
                raise Unsupported(f"{item.src} in {name}")
            macros[called.group(1)] = (item.src, inner)
        else:
            block = words[1].strip() if len(words) > 1 else ""
            if not re.fullmatch(r"[A-Za-z_]\w*", block):
                raise Unsupported(f"{item.src} in {name}")
            inner_body, inner_blocks, inner_macros = _split(inner, name)
            if inner_macros:
                raise Unsupported(f"a macro inside a block in {name}")
            blocks.update(inner_blocks)
            blocks[block] = inner_body
            body.append(_Marker(block))
        i = j
    return body, blocks, macros


def _check_blocks(items: list, name: str) -> None:
    """Blocks only outside loops and conditions, after no variable set: Jinja renders a block in
    a scope of its own, which putting it in place would otherwise change."""
    depth, assigned = 0, False
    for x in items:
        if isinstance(x, _Block):
            depth += (x.keyword in ("if", "for", "with")) - (x.keyword in ("endif", "endfor", "endwith"))
            assigned |= x.keyword == "set"
        elif isinstance(x, _Marker) and (depth or assigned):
            raise Unsupported(f"a block inside a loop or a condition, or after a set, in {name}")


def _flatten(env: Environment, name: str) -> tuple[list, dict]:
    """The template with the layouts it extends and its blocks in place: (items, macros)."""
    chain, seen = [], set()
    while True:
        if name in seen:
            raise Unsupported("a template extending itself")
        seen.add(name)
        body, blocks, macros = _split(_lex(env, name), name)
        for items in [body, *blocks.values()]:
            _check_blocks(items, name)
        chain.append((blocks, macros))
        parts = [x for x in body if not (isinstance(x, str) and not x.strip())]
        if parts and isinstance(parts[0], _Block) and parts[0].keyword == "extends":
            parent = re.fullmatch(r"\{% extends (['\"])([^'\"]+)\1 %\}", parts[0].src)
            if not parent or not all(isinstance(x, _Marker) for x in parts[1:]):
                raise Unsupported(f"{parts[0].src}, or text or statements outside blocks, in {name}")
            name = parent.group(2)
            continue
        if any(isinstance(x, _Block) and x.keyword in ("extends", "include", "import", "from", "call",
                                                       "filter", "with", "autoescape") for x in body):
            raise Unsupported(f"extends, include, import, call, filter, with or autoescape in {name}")
        break
    blocks, macros = {}, {}
    for own_blocks, own_macros in reversed(chain):       # the layout first, what extends it wins
        blocks.update(own_blocks)
        macros.update(own_macros)

    def resolve(items):
        for x in items:
            if isinstance(x, _Marker):
                yield from resolve(blocks[x.block])
            else:
                yield x
    return list(resolve(body)), macros


# --------------------------------------------------------------------------- css_inline as the reference

_MARK = "data-perfsettle-probe"
_TAG_TAIL = re.compile(r'(?: [^\s"=>]+="[^"]*")*>')
_OUT_ATTR = re.compile(r' ([^\s"=>]+)="([^"]*)"')


class _Reference:
    """css_inline on small documents: the start tags it writes for elements, given their ancestors.

    Rules name only tags and classes of the element and its ancestors (``_Stylesheet``: no
    sibling, attribute or pseudo-class selectors), so the element, its ancestors and their
    classes are all css_inline needs to style it, and elements side by side in one document
    (each under its own ancestors) are styled as each would be alone."""

    def __init__(self, inliner, styles: str):
        self.inliner = inliner
        self.styles = styles      # the template's <style> elements, as written

    def start_tag(self, chain: list, tag: str, attrs: str) -> str:
        """How ``<tag attrs>`` is written inside ``chain``, [(tag, class or None)] from <html>."""
        return self.start_tags([(chain, tag, attrs)])[0]

    def start_tags(self, probes: list) -> list[str]:
        """``start_tag`` for each (chain, tag, attrs), in as few css_inline calls as possible:
        one per <html> and <body> of the chains."""
        groups: dict = {}
        for i, (chain, tag, attrs) in enumerate(probes):
            key = tuple(chain[:1]), tuple(c for c in chain[1:2] if c[0] == "body")
            if tag in ("html", "head", "body"):
                key = (i,)                               # the document's own: alone
            groups.setdefault(key, []).append(i)
        out = [""] * len(probes)
        for members in groups.values():
            for i, written in zip(members, self._document([probes[i] for i in members])):
                out[i] = written
        return out

    def _document(self, probes: list) -> list[str]:
        open_tag = lambda t, c: f"<{t}" + (f' class="{c}"' if c is not None else "") + ">"  # noqa: E731
        chain0, tag0, attrs0 = probes[0]
        root = {"html": [], "head": [], "body": []}      # the probes of <html>, <head>, <body> themselves
        head, body = [], []
        for i, (chain, tag, attrs) in enumerate(probes):
            mark = f"<{tag} {_MARK}=\"{i}\"{attrs}>"
            if tag in root:
                root[tag] = [mark]
            elif len(chain) >= 2 and chain[1][0] == "head":
                head.append(mark + ("" if tag in VOID else f"</{tag}>"))
            else:
                inner = chain[2:]
                body.append("".join(open_tag(t, c) for t, c in inner) + mark
                            + ("" if tag in VOID else f"</{tag}>") + "".join(f"</{t}>" for t, _c in reversed(inner)))
        html = root["html"][0] if root["html"] else open_tag(*(chain0[0] if chain0 else ("html", None)))
        body_tag = root["body"][0] if root["body"] else (open_tag(*chain0[1]) if len(chain0) > 1 and
                                                           chain0[1][0] == "body" else "<body>")
        doc = ("<!DOCTYPE html>" + html + (root["head"][0] if root["head"] else "<head>") + self.styles
               + "".join(head) + "</head>" + body_tag + "".join(body) + "</body></html>")
        written = self.inliner.inline(doc)
        found = []
        for i, (_chain, tag, _attrs) in enumerate(probes):
            mark = f' {_MARK}="{i}"'
            at = written.index(mark)
            start = written.rindex("<", 0, at)
            tail = _TAG_TAIL.match(written, at + len(mark))
            if tail is None or not written.startswith("<" + tag, start):
                raise Unsupported(f"cannot read how css_inline writes <{tag}>")
            found.append(written[start:at] + written[at + len(mark):tail.end()])
        return found


@dataclass(frozen=True)
class _Piece:
    text: str = ""
    hole: int = -1            # the hole's index, or -1 for text
    kind: str = ""            # attr | css | cls | block


_STYLE_TEXT = re.compile(r"[A-Za-z0-9_#.%:;!, \t\n-]*")


def _check_style(value: str) -> None:
    """A style attribute css_inline rewrites, with values in it: plain declarations, each value
    inside a declaration's value (not its name)."""
    if not _STYLE_TEXT.fullmatch(_SENTINELS.sub("", value)) or \
            any(_SENTINELS.search(declaration.partition(":")[0]) for declaration in value.split(";")):
        raise Unsupported(f"style {value!r}: values css_inline rewrites must be plain declaration values")


def _pieces(tag_text: str, holes: dict, restyled: bool, style_holes: set = frozenset()) -> list[_Piece]:
    """A written start tag cut at its holes (sentinels); each hole's kind from its attribute.
    A value of a restyled style attribute that css_inline dropped (a rule overrides its
    declaration) is still checked, as ``css_gone``."""
    where = {}
    for m in _OUT_ATTR.finditer(tag_text):
        for s in _SENTINELS.finditer(m.group(2)):
            where[m.start(2) + s.start()] = m.group(1)
    pieces, last, seen = [], 0, set()
    for s in _SENTINELS.finditer(tag_text):
        index = _index(s.group())
        if index not in holes or index in seen or s.start() not in where:
            raise Unsupported(f"a value moved by css_inline in {tag_text!r}")
        seen.add(index)
        attribute = where[s.start()]
        if isinstance(holes[index], _Block):
            if attribute == "class" or attribute == "style" and restyled:
                raise Unsupported(f"a Jinja tag in a {attribute} attribute css_inline rewrites")
            kind = "block"
        else:
            kind = "cls" if attribute == "class" else "css" if attribute == "style" and restyled else "attr"
        pieces += [_Piece(tag_text[last:s.start()]), _Piece(hole=index, kind=kind)]
        last = s.end()
    pieces.append(_Piece(tag_text[last:]))
    if restyled:
        pieces += [_Piece(hole=i, kind="css_gone") for i in sorted(style_holes - seen)]
    return [p for p in pieces if p.hole >= 0 or p.text]


# --------------------------------------------------------------------------- start tags made when rendering

_FILL = {"attr": _attr, "css": _css, "cls": _cls, "css_gone": _css_gone}


@dataclass(frozen=True)
class _Dynamic:
    """A start tag whose styles depend on class values known only when rendering."""
    tag: str
    attrs: tuple              # (name, source) in order
    own: bool                 # the first value is the element's own class (its source is replaced)
    chain: tuple              # ancestors: (tag, class or None), or (tag, index of the value)
    holes: tuple              # hole indexes of its attribute values, in order (the own class's excepted)

    def attributes(self, own: str | None, style: bool = True) -> str:
        return "".join(f' class="{own}"' if self.own and name == "class" else src
                       for name, src in self.attrs if style or name != "style")


class _Tags:
    """``_tag(n, values, holes)`` in compiled templates: start tag n for these class values
    (made by css_inline the first time), with these values in its attributes."""

    def __init__(self, reference: _Reference):
        self.reference = reference
        self.tags: list[_Dynamic] = []
        self.numbers: dict = {}
        self.made: dict = {}

    def add(self, tag: _Dynamic) -> int:
        if tag not in self.numbers:
            self.numbers[tag] = len(self.tags)
            self.tags.append(tag)
        return self.numbers[tag]

    def __call__(self, n: int, values: tuple, holes: tuple) -> str:
        made = self.made.get((n, values))
        if made is None:
            pieces = self._make(self.tags[n], values)
            made = self.made[(n, values)] = pieces[0].text if len(pieces) == 1 and pieces[0].hole < 0 else pieces
        if type(made) is str:            # most: a tag without values in its attributes
            return made
        return "".join(p.text if p.hole < 0 else _FILL[p.kind](holes[p.hole]) for p in made)

    def _make(self, tag: _Dynamic, values: tuple) -> list[_Piece]:
        values = list(values)
        own = values.pop(0) if tag.own else None
        chain = [(t, values[c] if isinstance(c, int) else c) for t, c in tag.chain]
        written, bare = self.reference.start_tags([(chain, tag.tag, tag.attributes(own)),
                                                   (chain, tag.tag, tag.attributes(own, style=False))])
        restyled = any(name == "style" for name, _src in tag.attrs) and " style=" in bare
        position = {hole: i for i, hole in enumerate(tag.holes)}
        style = next((src for name, src in tag.attrs if name == "style"), "")
        pieces = _pieces(written, {hole: _Var("") for hole in tag.holes}, restyled,
                         set(_interleave(style)[1::2]))
        return [p if p.hole < 0 else _Piece(hole=position[p.hole], kind=p.kind) for p in pieces]


# --------------------------------------------------------------------------- the compiler

_TOKEN = re.compile(r"""
    (?P<style><style\s*>(?P<css>.*?)</style\s*>)
  | (?P<doctype><!doctype\s+(?P<dtname>[a-z]+)\s*>)
  | (?P<end></(?P<endname>[a-z][a-z0-9]*)\s*>)
  | (?P<start><(?P<name>[a-z][a-z0-9]*)
      (?P<attrs>(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(?P<slash>/?)>)
""", re.I | re.S | re.X)
_ATTR = re.compile(r"""\s+([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_SPACE = " \t\n\f\r"

VOID = frozenset({"meta", "br", "img", "hr"})
IN_HEAD = frozenset({"meta", "title"})
IN_BODY = frozenset({"div", "span", "strong", "b", "em", "i", "u", "small", "code", "br", "img", "hr",
                     "table", "tr", "td", "th"})
TABLE_CONTEXT = frozenset({"table", "tr"})       # where the parser moves text out (foster parenting)
STATIC_CLASS = re.compile(r"[A-Za-z0-9_ -]*")    # a class attribute's text around its values


@dataclass(eq=False)
class _Elem:
    tag: str
    cls: str | None = None        # the class attribute's source (with sentinels), None without one
    tokens: tuple = ()            # its classes, with sentinels where values go
    patterned: bool = False       # some class has a value
    own_dynamic: bool = False     # a value may name a class rules style it by
    ancestral: bool = False       # a value may name a class rules style its descendants by
    var: str | None = None        # the Jinja variable holding its class value, for its descendants
    foreign: bool = False         # an element of a macro's call site
    depth: int = 0                # tables: control blocks open where it starts
    tbody: str = "none"           # tables: none | open (before the first row) | dynamic
    ns: str | None = None         # a dynamic tbody: the namespace saying whether it is open
    slot: list | None = None      # a dynamic tbody: where that namespace is made, in the output


@dataclass(frozen=True)
class _Static:
    """A start tag made once, when compiling: what css_inline is asked, and its values."""
    chain: list
    tag: str
    attrs: str                    # its attributes' source (values as sentinels)
    bare: str | None              # the same without the style attribute (None without one)
    holes: dict                   # hole index -> _Var or _Block
    style: str | None             # the style attribute's value

    def jinja(self, written: str, bare_written: str) -> str:
        """The Jinja source of the tag, from how css_inline writes it, with and without its style."""
        restyled = self.bare is not None and " style=" in bare_written
        if restyled and _SENTINELS.search(self.style):
            _check_style(self.style)
        out = []
        for piece in _pieces(written, self.holes, restyled, set(_interleave(self.style or "")[1::2])):
            if piece.hole < 0:
                if "\xa0" in piece.text:
                    raise Unsupported("a no-break space in a start tag")   # finish would escape it
                out.append(_raw(piece.text))
            elif piece.kind == "block":
                out.append(self.holes[piece.hole].src)
            else:
                out.append("{{ (" + self.holes[piece.hole].expr + ")|_" + piece.kind + " }}")
        return "".join(out)


class _Unit:
    """The items of the template's body, or of a macro, compiled in a context (open elements)."""

    def __init__(self, compiler: "_Compiler", items: list, stack: list, mode: str, prefix: str):
        self.c = compiler
        self.items = items
        self.stack = stack
        self.mode = mode          # the parser's: initial, before_head, in_head, after_head, in_body, after_body…
        self.prefix = prefix      # of the Jinja variables it makes
        self.controls: list = []
        self.out: list = []
        self.holes: dict = {}
        self.position = 0

    # ---- output
    def emit(self, text: str) -> None:
        if text:
            self.out.append(_raw(text))

    def jinja(self, src: str) -> None:
        self.out.append(src)

    def source(self) -> str:
        return "".join(x if isinstance(x, str) else x[0] for x in self.out)

    def name(self, kind: str) -> str:
        return f"_{self.prefix}_{kind}{self.position}"

    # ---- the walk
    def run(self) -> "_Unit":
        probe = []
        for i, item in enumerate(self.items):
            if isinstance(item, str):
                probe.append(item)
            else:
                self.holes[i] = item
                probe.append(_sentinel(i))
        probe = "".join(probe)
        last = 0
        for m in _TOKEN.finditer(probe):
            self.text(probe[last:m.start()])
            self.position = m.start()
            self.token(m)
            last = m.end()
        self.text(probe[last:])
        if self.controls:
            raise Unsupported(f"{self.controls[-1][0]} not closed")
        return self

    def token(self, m: re.Match) -> None:
        if m.group("style"):
            if self.mode != "in_head" or _SENTINELS.search(m.group()):
                raise Unsupported("a <style> outside <head>, or with a value in it")
            return                                        # css_inline drops it
        if m.group("doctype"):
            if self.mode != "initial":
                raise Unsupported("a doctype after the start")
            self.emit(f"<!DOCTYPE {m.group('dtname').lower()}>")
            return
        if m.group("end"):
            self.end(m.group("endname").lower())
            return
        name = m.group("name").lower()
        attrs = []
        for a in _ATTR.finditer(m.group("attrs")):
            attr = a.group(1).lower()
            if _SENTINELS.search(attr) or attr in (_MARK, "data-css-inline"):
                raise Unsupported(f"attribute {attr!r} of <{name}>")
            attrs.append((attr, a.group(), next((v for v in a.group(2, 3, 4) if v is not None), "")))
        if m.group("slash") and name not in VOID:
            raise Unsupported(f"<{name}/>")
        self.start(name, attrs)

    # ---- text and values
    def text(self, text: str) -> None:
        for i, part in enumerate(_interleave(text)):
            if i % 2 == 0:
                self.static_text(part)
            else:
                self.hole(self.holes[part])

    def static_text(self, text: str) -> None:
        if not text:
            return
        if "<" in text:
            raise Unsupported(f"markup the compiler cannot read: {text[:60]!r}")
        blank = not text.strip(_SPACE)
        top = self.stack[-1] if self.stack else None
        if self.mode in ("initial", "before_head"):
            if not blank:
                raise Unsupported("text before <head>")
            return                                        # the parser drops it
        if self.in_text(top):
            self.emit(_text_out(text))
            return
        if not blank:
            raise Unsupported(f"text where the parser would move it ({self.mode}, <{top.tag if top else ''}>)")
        self.emit(text)                 # blank text in <head>, in tables; after </body>: moved before it

    def in_text(self, top: _Elem | None) -> bool:
        return top is not None and (self.mode == "in_head" and top.tag == "title"
                                    or self.mode == "in_body" and top.tag not in TABLE_CONTEXT)

    def hole(self, item) -> None:
        if isinstance(item, _Block):
            self.control(item)
            return
        macro = self.c.macro_call(item.expr)
        if macro is not None:
            if self.mode != "in_body":
                raise Unsupported("a macro called outside <body>")
            self.c.called(macro, [replace(e, foreign=True, slot=None) for e in self.stack], self.mode)
            self.jinja("{{ " + _MACRO + item.expr.lstrip() + " }}")
        elif self.in_text(self.stack[-1] if self.stack else None):
            self.jinja("{{ (" + item.expr + ")|_text }}")
        else:
            raise Unsupported(f"a value outside element content: {{{{ {item.expr} }}}}")

    def control(self, block: _Block) -> None:
        k = block.keyword
        state = (tuple(map(id, self.stack)), self.mode)
        if k in ("if", "for"):
            self.controls.append((k, state))
        elif k in ("elif", "else", "endif", "endfor"):
            opener = {"elif": ("if",), "else": ("if", "for"), "endif": ("if",), "endfor": ("for",)}[k]
            if not self.controls or self.controls[-1][0] not in opener:
                raise Unsupported(f"{block.src} out of place")
            if self.controls[-1][1] != state:
                raise Unsupported(f"elements opened and closed unevenly before {block.src}")
            if k.startswith("end"):
                self.controls.pop()
        elif k != "set" or "=" not in block.src:
            raise Unsupported(block.src)
        self.jinja(block.src)

    # ---- elements
    def start(self, name: str, attrs: list) -> None:
        top = self.stack[-1] if self.stack else None
        expected = {"html": "initial", "head": "before_head", "body": "after_head"}
        if name in expected:
            if self.mode != expected[name]:
                raise Unsupported(f"<{name}> out of place")
            self.mode = {"html": "before_head", "head": "in_head", "body": "in_body"}[name]
        elif self.mode == "in_head":
            if name not in IN_HEAD or top.tag != "head":
                raise Unsupported(f"<{name}> in <head>")
        elif self.mode != "in_body" or name not in IN_BODY:
            raise Unsupported(f"<{name}> ({self.mode}): not an element the compiler follows")
        elif name in ("td", "th") and top.tag != "tr" or name == "tr" and top.tag != "table":
            raise Unsupported(f"<{name}> in <{top.tag}>")
        elif name not in ("td", "th", "tr") and top.tag in TABLE_CONTEXT:
            raise Unsupported(f"<{name}> directly in <{top.tag}>")
        if name == "tr":
            self.tbody(top)
        elem = self.element(name, attrs)
        self.write_start(elem, attrs)
        if name == "table":
            elem.depth, elem.slot = len(self.controls), [""]
            self.out.append(elem.slot)
        if name not in VOID:
            self.stack.append(elem)

    def element(self, name: str, attrs: list) -> _Elem:
        elem = _Elem(name)
        cls = next((value for attr, _src, value in attrs if attr == "class"), None)
        if cls is None:
            return elem
        if any(isinstance(self.holes[i], _Block) for i in _interleave(cls)[1::2]) or \
                not STATIC_CLASS.fullmatch(_SENTINELS.sub("", cls)):
            raise Unsupported(f"class {cls!r} of <{name}>: only letters, digits, -, _ and spaces")
        elem.cls, elem.tokens = cls, tuple(cls.split())
        if not _SENTINELS.search(cls):
            return elem
        elem.patterned = True
        sheet = self.c.sheet
        for token in elem.tokens:
            if _SENTINELS.search(token):
                pattern = re.compile("".join(re.escape(p) if i % 2 == 0 else _CLASS_VALUE.pattern
                                             for i, p in enumerate(_interleave(token))))
                elem.own_dynamic |= any(pattern.fullmatch(c) for c in sheet.subject_classes)
                elem.ancestral |= any(pattern.fullmatch(c) for c in sheet.ancestor_classes)
        return elem

    def end(self, name: str) -> None:
        top = self.stack[-1] if self.stack else None
        if top is None or top.tag != name or top.foreign:
            raise Unsupported(f"</{name}> does not close the open <{top.tag if top else ''}>")
        self.stack.pop()
        if name == "body":
            self.mode = "after_body"            # </body></html> are written at the end
        elif name == "html":
            if self.mode != "after_body":
                raise Unsupported("</html> before </body>")
            self.mode = "after_after_body"
        else:
            if name == "head":
                self.mode = "after_head"
            elif top.tbody == "open":
                self.emit("</tbody>")
            elif top.tbody == "dynamic":
                self.jinja("{% if " + top.ns + ".open %}</tbody>{% endif %}")
            self.emit(f"</{name}>")

    def end_of_document(self) -> None:
        if self.mode == "in_body" and [e.tag for e in self.stack] == ["html", "body"] or \
                self.mode in ("after_body", "after_after_body"):
            self.emit("</body></html>")
        else:
            raise Unsupported(f"the document ends in {self.mode} with {[e.tag for e in self.stack]} open")

    def tbody(self, table: _Elem) -> None:
        """The <tbody> the parser opens before a table's first row: there when the first row is
        not inside a Jinja block of the table, else where a namespace says it is not open yet."""
        if table.tbody == "open":
            return
        if table.foreign:
            raise Unsupported("a macro writing the first rows of its caller's table")
        if table.tbody == "none" and len(self.controls) == table.depth:
            self.write_start(_Elem("tbody"), [])
            table.tbody = "open"
            return
        if table.tbody == "none":
            table.tbody, table.ns = "dynamic", self.name("tbody")
            table.slot[0] = "{% set " + table.ns + " = namespace(open=false) %}"
        self.jinja("{% if not " + table.ns + ".open %}{% set " + table.ns + ".open = true %}")
        self.write_start(_Elem("tbody"), [])
        self.jinja("{% endif %}")

    # ---- start tags
    def chain(self, row: bool) -> list:
        """The ancestors of the element being opened, as css_inline sees them: (tag, the classes
        rules name, or the ancestor whose class value they depend on)."""
        out = []
        sheet = self.c.sheet
        for i, e in enumerate(self.stack):
            if e.cls is None:
                cls = None
            elif e.patterned and e.ancestral:
                cls = e
            else:
                cls = " ".join(t for t in e.tokens if t in sheet.classes) or None
            out.append((e.tag, cls))
            if e.tag == "table" and (i + 1 < len(self.stack) or row):
                out.append(("tbody", None))      # rows are in the tbody the parser adds
        return out

    def write_start(self, elem: _Elem, attrs: list) -> None:
        chain = self.chain(row=elem.tag == "tr")
        ancestors = [c for _t, c in chain if isinstance(c, _Elem)]
        if any(a.foreign for a in ancestors):
            raise Unsupported("an element of a macro styled by a class value of its call site")
        if elem.patterned and (elem.own_dynamic or elem.ancestral):
            elem.var = self.name("class")
            parts = [repr(p) if i % 2 == 0 else "(" + self.holes[p].expr + ")"
                     for i, p in enumerate(_interleave(elem.cls))]
            self.jinja("{% set " + elem.var + " = _class(" + ", ".join(parts) + ") %}")
        source = "".join(src for _a, src, _v in attrs)
        style = next((value for a, _src, value in attrs if a == "style"), None)
        own_holes = set(_interleave(elem.cls)[1::2]) if elem.own_dynamic else set()
        holes = [i for i in _interleave(source)[1::2] if i not in own_holes]
        if elem.own_dynamic or ancestors:
            self.write_dynamic(elem, attrs, chain, holes)
            return
        # Made with the template's other start tags, in one css_inline document (``_Compiler.resolve``).
        bare = None if style is None else "".join(src for a, src, _v in attrs if a != "style")
        slot = [""]
        self.out.append(slot)
        self.c.requests.append((slot, _Static(chain, elem.tag, source, bare, {i: self.holes[i] for i in holes},
                                              style)))

    def write_dynamic(self, elem: _Elem, attrs: list, chain: list, holes: list) -> None:
        if any(isinstance(self.holes[i], _Block) for i in holes):
            raise Unsupported(f"a Jinja tag in an attribute of <{elem.tag}>, whose style depends on a value")
        style = next((value for a, _src, value in attrs if a == "style"), "")
        if _SENTINELS.search(style):
            _check_style(style)
        values = [elem.var] if elem.own_dynamic else []
        spec = []
        for t, c in chain:
            if isinstance(c, _Elem):
                spec.append((t, len(values) - elem.own_dynamic))
                values.append(c.var)
            else:
                spec.append((t, c))
        tag = _Dynamic(elem.tag, tuple((a, src) for a, src, _v in attrs), elem.own_dynamic, tuple(spec),
                       tuple(holes))
        n = self.c.tags.add(tag)
        self.jinja("{{ _tag(" + str(n) + ", (" + "".join(v + ", " for v in values) + "), ("
                   + "".join("(" + self.holes[i].expr + "), " for i in holes) + ")) }}")


_MACRO = "_macro_"        # the compiled macros' names: _macro_box for box


class _Compiler:
    """One template compiled: its body, then each macro in the contexts it is called from."""

    def __init__(self, env: Environment, inliner, name: str):
        self.env = env
        self.name = name
        self.items, self.macros = _flatten(env, name)
        probe = "".join(x if isinstance(x, str) else _sentinel(0) for x in self.items)
        styles = [m for m in _TOKEN.finditer(probe) if m.group("style")]
        if not styles:
            raise Unsupported(f"no <style> in {name}")
        self.sheet = _Stylesheet.parse("\n".join(m.group("css") for m in styles))
        self.reference = _Reference(inliner, "".join(m.group() for m in styles))
        self.tags = _Tags(self.reference)
        self.requests: list = []          # (slot in a unit's output, _Static)
        self.calls: list = []
        self.contexts: set = set()

    def resolve(self) -> None:
        """Every static start tag, from one css_inline document (two: those of <head> apart)."""
        probes = []
        for _slot, tag in self.requests:
            probes += [(tag.chain, tag.tag, tag.attrs), (tag.chain, tag.tag, tag.attrs if tag.bare is None else tag.bare)]
        written = self.reference.start_tags(probes)
        for i, (slot, tag) in enumerate(self.requests):
            slot[0] = tag.jinja(written[2 * i], written[2 * i + 1])

    def macro_call(self, expr: str) -> str | None:
        """The macro a value is a plain call of (its output is compiled HTML), else None."""
        called = re.match(r"\s*([A-Za-z_]\w*)\s*\(", expr)
        if called is None or called.group(1) not in self.macros:
            return None
        try:
            output = self.env.parse("{{ " + expr + " }}").body
        except Exception:               # noqa: BLE001 — not a call we recognise: a plain value
            return None
        if len(output) == 1 and isinstance(output[0], nodes.Output) and len(output[0].nodes) == 1:
            call = output[0].nodes[0]
            if isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name) and call.node.name in self.macros:
                return call.node.name
        return None

    def called(self, macro: str, stack: list, mode: str) -> None:
        key = (macro, mode, tuple((e.tag, e.tokens if not e.patterned else None, e.patterned and e.ancestral,
                                   e.tbody) for e in stack))
        if key not in self.contexts:
            self.contexts.add(key)
            self.calls.append((macro, stack, mode))

    def compile(self) -> str:
        body = _Unit(self, self.items, [], "initial", "b").run()
        body.end_of_document()
        units = []
        done = 0
        while done < len(self.calls):
            macro, stack, mode = self.calls[done]
            done += 1
            unit = _Unit(self, self.macros[macro][1], list(stack), mode, "m").run()
            if len(unit.stack) != len(stack) or any(a is not b for a, b in zip(unit.stack, stack)):
                raise Unsupported(f"macro {macro} leaves elements open, or closes its caller's")
            units.append((macro, unit))
        self.resolve()
        compiled: dict[str, set] = {}
        for macro, unit in units:
            compiled.setdefault(macro, set()).add(unit.source())
        # Each macro under a name of its own, for the calls the compiler placed; its own name
        # raises Unsafe, for a call inside a value (its HTML is not text to escape).
        defs = []
        for macro, (header, _items) in self.macros.items():
            variants = compiled.get(macro, {"{{ _unsafe() }}"})
            if len(variants) > 1:
                raise Unsupported(f"macro {macro} is styled differently where it is called")
            defs.append(header.replace(" macro ", " macro " + _MACRO, 1) + variants.pop() + "{% endmacro %}"
                        + "{% set " + macro + " = _unsafe %}")
        return "".join(defs) + body.source()


# --------------------------------------------------------------------------- the templates

class InlinedTemplates:
    """The HTML templates of ``env`` with their CSS inlined once by ``inliner`` (a
    ``css_inline.CSSInliner``): ``render(name, **view)`` is what ``inliner.inline`` makes of
    ``env``'s rendering, byte for byte."""

    def __init__(self, env: Environment, inliner):
        self.original = env
        self.inliner = inliner
        self.compilers: dict = {}
        # No autoescape: every value is escaped by the filter of its place (_text, _attr, …).
        self.env = ViewEnvironment(loader=FunctionLoader(self._source), autoescape=False,
                                   undefined=StrictUndefined, keep_trailing_newline=True)
        self.env.filters.update(env.filters)
        self.env.filters.update({"_text": _text, "_attr": _attr, "_css": _css, "_cls": _cls, "_css_gone": _css_gone})
        self.env.tests.update(env.tests)
        self.env.globals.update(env.globals)
        self.env.globals.update({"_class": _class, "_unsafe": _unsafe})
        self.templates: dict = {}
        self.failed: dict = {}

    def _source(self, name: str):
        compiler = self.compilers[name] = _Compiler(self.original, self.inliner, name)
        return compiler.compile(), None, lambda: True

    def compiled(self, name: str):
        """The compiled template (``Unsupported`` if the compiler cannot follow it)."""
        template = self.templates.get(name)
        if template is None:
            if name in self.failed:
                raise self.failed[name]
            try:
                template = self.env.get_template(name)
            except Unsupported as exc:
                self.failed[name] = exc
                raise
            template.globals["_tag"] = self.compilers[name].tags     # this template's own
            self.templates[name] = template
        return template

    def source(self, name: str) -> str:
        """The compiled template's Jinja source (to read it)."""
        return _Compiler(self.original, self.inliner, name).compile()

    def render(self, name: str, **view) -> str:
        try:
            return finish(self.compiled(name).render(**view))
        except (Unsupported, Unsafe) as why:
            log.debug("%s rendered the ordinary way: %s", name, why)
            return self.reference(name, **view)

    def reference(self, name: str, **view) -> str:
        """The ordinary way: the template as it is, then css_inline on the whole document."""
        return self.inliner.inline(self.original.get_template(name).render(**view))
