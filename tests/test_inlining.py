"""Templates with their CSS inlined once (outputs/inlining.py): every output must be, byte for
byte, what css_inline makes of the original template's output, which these tests compute
beside it; values the compiled template cannot place exactly fall back to that reference."""
from __future__ import annotations

import css_inline
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from perfsettle.outputs import inlining
from perfsettle.outputs.inlining import InlinedTemplates, Unsafe, Unsupported

INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False, keep_link_tags=False)

STYLE = """<style>
body { margin: 0; }
table { border-collapse: collapse; }
td, th { vertical-align: top; }
.rows td { padding: 5px 0; }
.row-strong td { font-weight: bold; }
.row-earned .amount { color: #1b5e20; }
.grid > tbody > tr > td { border-bottom: 1px solid #eee; }
.pill { font-size: 11px; }
.pill-met { color: green; }
.amount { text-align: right; }
.wide { width: 3px !important; }
</style>"""

PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
""" + STYLE + """
</head>
<body class="body">
{% block content %}{% endblock %}
</body>
</html>
"""


def templates(content: str, macros: str = "", **more) -> InlinedTemplates:
    """t.html: ``content`` in the page's block, ``macros`` defined before it."""
    env = Environment(loader=DictLoader({"page.html": PAGE, "t.html": '{% extends "page.html" %}' + macros
                                         + '{% block content %}' + content + '{% endblock %}', **more}),
                      autoescape=select_autoescape(["html"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return InlinedTemplates(env, INLINER)


def compiled(t: InlinedTemplates, name: str = "t.html", **view) -> str:
    """The compiled template's output (no fallback allowed)."""
    return inlining.finish(t.compiled(name).render(**view))


def same(t: InlinedTemplates, name: str = "t.html", **view) -> str:
    out = compiled(t, name, **view)
    assert out == t.reference(name, **view)
    return out


VIEW = dict(lang="fr", title="Relevé — « octobre »")


# --------------------------------------------------------------------------- what the parser adds and moves

def test_the_document_is_written_as_css_inline_writes_it():
    t = templates("<div class=\"pill\">{{ title }}</div>\n")
    out = same(t, **VIEW)
    assert out.startswith('<!DOCTYPE html><html lang="fr"><head>\n<meta charset="utf-8">')
    assert "<style>" not in out and out.endswith("\n\n</body></html>")   # whitespace after </body> moved in
    assert '<body class="body" style="margin: 0;">' in out


def test_rows_get_the_tbody_the_parser_adds_wherever_the_first_row_is():
    t = templates("""<table class="rows">
<tr><td>head</td></tr>
</table>
<table class="rows">
{% for r in rows %}
<tr><td>{{ r }}</td></tr>
{% endfor %}
</table>
<table>{% if first %}<tr><td>a</td></tr>{% endif %}<tr><td>b</td></tr></table>
<table>{% for r in rows %}{% if r %}<tr><td>{{ r }}</td></tr>{% endif %}{% endfor %}</table>
""")
    for rows in ([], ["x"], ["x", "", "y"]):
        for first in (True, False):
            same(t, rows=rows, first=first, **VIEW)
    assert "<table" in same(t, rows=[], first=False, **VIEW)


def test_styles_that_depend_on_a_class_value_are_made_per_value():
    t = templates("""<table class="rows">
{% for tone, amount in rows %}
<tr class="row-{{ tone or 'plain' }}"><td class="label">{{ tone }}</td><td class="amount">{{ amount }}</td></tr>
{% endfor %}
</table>
<table class="grid"><tr><td>{{ title }}</td></tr></table>
{% for s in statuses %}<span class="pill pill-{{ s }}">{{ s }}</span>{% endfor %}
""")
    out = same(t, rows=[("strong", "1"), ("earned", "2"), ("", "3"), ("earned", "4")],
               statuses=["met", "missed", ""], **VIEW)
    assert 'style="vertical-align: top;padding: 5px 0;font-weight: bold;"' in out
    assert '<td class="amount" style="vertical-align: top;text-align: right;padding: 5px 0;color: #1b5e20;">' in out
    assert "border-bottom: 1px solid #eee" in out


def test_values_in_style_attributes_are_merged_as_css_inline_merges_them():
    t = templates("""<table><tr>
<td class="amount" width="{{ w }}%" style="width:{{ w }}%; height: 2px">x</td>
<td class="wide" style="width: {{ w }}px;height:1px">y</td>
<td style="vertical-align: bottom; padding: 0 {{ w }}px;">z</td>
</tr></table>
{% for h, colour in bars %}<div class="bar" style="height: {{ h }}px;{% if colour %} background-color: {{ colour }};{% endif %}">&nbsp;</div>{% endfor %}
""")
    out = same(t, w=37, bars=[(4, "#2e7d32"), (0, "")], **VIEW)
    assert 'style="vertical-align: top;text-align: right;width: 37%;height: 2px"' in out
    # A value css_inline drops (an !important rule wins) is still checked: a quote would change the rest.
    assert t.render("t.html", w="'", bars=[], **VIEW) == t.reference("t.html", w="'", bars=[], **VIEW)


def test_a_macro_is_compiled_where_it_is_called():
    t = templates("""<div>{{ box("warn", [title]) }}</div>
<table><tr><td>{{ box("bad", ["a", "b"]) }}</td></tr>
{{ row(title) }}
</table>
""", macros=MACROS)
    same(t, **VIEW)
    # Called where a rule styles its cells differently (.rows td), it is not compiled.
    t = templates("""<div>{{ box("warn", [title]) }}</div><table class="rows"><tr><td>{{ box("bad", []) }}</td></tr>
</table>""", macros=MACROS)
    with pytest.raises(Unsupported):
        t.compiled("t.html")
    assert t.render("t.html", **VIEW) == t.reference("t.html", **VIEW)


MACROS = """{% macro box(tone, lines) %}<table><tr><td class="notice tone-{{ tone }}">
{% for line in lines %}<div>{{ line }}</div>{% endfor %}</td></tr></table>{% endmacro %}
{% macro row(label) %}<tr><td class="amount">{{ label }}</td></tr>{% endmacro %}
"""


def test_text_and_attributes_are_escaped_as_the_parser_writes_them_back():
    t = templates("""<div title="{{ v }}" data-x='{{ v }}'>{{ v }} &amp; &nbsp; ' " &lt;</div>""")
    for v in ["O'Brien & « fils »", 'a "quoted" <b>word</b>', "12\u00a0345,67\u00a0€ \u202f", "&amp; &#39;",
              "tab\there\x0cform", "\u2028\ufeff\U0001f600", 42, None]:
        same(t, v=v, **VIEW)


# --------------------------------------------------------------------------- values it cannot place: the reference

@pytest.mark.parametrize("view", [
    dict(v="a\r\nb"), dict(v="nul\x00"), dict(v=Markup("<b>bold</b>")),
    dict(v="x", tone="met extra"), dict(v="x", tone="a&b"), dict(v="x", w="1;color:red"),
])
def test_values_it_cannot_place_are_rendered_the_ordinary_way(view):
    t = templates("""<table class="rows"><tr class="row-{{ tone|default('plain') }}">
<td class="amount" style="width: {{ w|default(1) }}px">{{ v }}</td></tr></table>""")
    with pytest.raises(Unsafe):
        inlining.finish(t.compiled("t.html").render(**view, **VIEW))
    assert t.render("t.html", **view, **VIEW) == t.reference("t.html", **view, **VIEW)


def test_a_macro_output_used_as_a_value_is_rendered_the_ordinary_way():
    t = templates("""<div>{{ b(v) if v else "" }}</div>""", macros="""{% macro b(x) %}<strong>{{ x }}</strong>{% endmacro %}""")
    with pytest.raises(Unsafe):
        compiled(t, v="x", **VIEW)
    assert t.render("t.html", v="x", **VIEW) == t.reference("t.html", v="x", **VIEW)


# --------------------------------------------------------------------------- templates it does not follow

@pytest.mark.parametrize("content", [
    '<table><tr>{% for h in hs %}<th{% if not loop.first %} class="amount"{% endif %}>{{ h }}</th>{% endfor %}</tr></table>',
    "<div><p>paragraphs close themselves</p></div>",
    "<div>left open",
    "<table>{{ title }}<tr><td>x</td></tr></table>",
    "<table><tr><td>{% if x %}</td></tr>{% endif %}</table>",
    '<div class="{{ a }} {% if b %}c{% endif %}">x</div>',
    "{% include 'page.html' %}",
    "{{ super() }}",
    "{% for x in hs %}{% block row %}<div>{{ x }}</div>{% endblock %}{% endfor %}",
    "<!-- a comment -->",
])
def test_a_template_it_does_not_follow_is_unsupported(content):
    t = templates(content)
    with pytest.raises(Unsupported):
        t.compiled("t.html")
    assert t.render("t.html", x=1, a="a", b=1, hs=["h"], **VIEW) == t.reference("t.html", x=1, a="a", b=1, hs=["h"],
                                                                                 **VIEW)


@pytest.mark.parametrize("rule", ["td:first-child { color: red; }", "a[href] { color: red; }",
                                  "h1 + p { margin: 0; }", "@media (max-width: 600px) { td { padding: 0; } }"])
def test_a_stylesheet_it_does_not_follow_is_unsupported(rule):
    t = templates("<div>x</div>", **{"page.html": PAGE.replace("</style>", rule + "\n</style>")})
    with pytest.raises(Unsupported):
        t.compiled("t.html")


# --------------------------------------------------------------------------- any value

PROPERTY = templates("""<table class="rows">
{% for tone, text in rows %}
<tr class="row-{{ tone }}"><td class="amount" title="{{ text }}">{{ text }}</td></tr>
{% endfor %}
</table>
<div class="pill pill-{{ status }}" style="height: {{ h }}px">{{ title }}</div>
""")

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["strong", "earned", "plain", ""]) | texts, texts), max_size=3),
       status=st.sampled_from(["met", "missed"]) | texts, h=st.integers(0, 99) | texts, title=texts, lang=texts)
def test_any_value_gives_what_css_inline_gives(rows, status, h, title, lang):
    view = dict(rows=rows, status=status, h=h, title=title, lang=lang)
    try:
        expected = PROPERTY.reference("t.html", **view)
    except css_inline.InlineError:           # a style value css_inline refuses: the statement is not written either way
        return
    assert PROPERTY.render("t.html", **view) == expected


# --------------------------------------------------------------------------- dict lookups

LOOKUPS = ("{{ d.a }}|{{ d.items is defined }}|{{ d.get('b', 'none') }}|"
           "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.keys is callable }}|"
           "{{ d.missing is defined }}|{{ o.real }}|{{ n.a }}|{{ d['items'] }}")


class _Named:
    a = "attribute"


@pytest.mark.parametrize("d", [{"a": 1, "items": "x", "b": 2}, {"a": "é", "items": [1], "keys": 0},
                               {"a": None, "items": ""}])
def test_a_views_environment_reads_dicts_as_jinja_does(d):
    """``view.key`` on a dict gives what Jinja's own environment gives, dict methods included."""
    ours = inlining.ViewEnvironment(undefined=StrictUndefined).from_string(LOOKUPS)
    jinja = Environment(undefined=StrictUndefined).from_string(LOOKUPS)
    assert ours.render(d=d, o=3, n=_Named()) == jinja.render(d=d, o=3, n=_Named())


def test_a_missing_key_is_undefined_in_a_views_environment():
    from jinja2.exceptions import UndefinedError
    with pytest.raises(UndefinedError, match="missing"):
        inlining.ViewEnvironment(undefined=StrictUndefined).from_string("{{ d.missing }}").render(d={"a": 1})
