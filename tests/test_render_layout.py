"""The layout inlined once gives the bytes of inlining each whole reply."""

from __future__ import annotations

import shutil
from pathlib import Path

import css_inline
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from mailloop.context import Company, Person, TemplateContext
from mailloop.render import TemplateError, TemplateSet
from mailloop.render.markdown import render

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_LAYOUT = (ROOT / "templates" / "_layout.html").read_text(encoding="utf-8")
INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
COMPANY = {"name": "Example & Co.", "website": "https://example.com/?a=1&b=2",
           "signature": "The team"}
BODY = render("# Hi\n\nA *b* [c](https://x.test) & <d> \u00a0\n\n> q\n\n- e\n\n```\nf\n```")[0]


def set_with(tmp_path: Path, layout: str) -> TemplateSet:
    (tmp_path / "t.md").write_text("Subject: Hello {{ customer.name }}\n\nDear "
                                   "{{ customer.first_name }},\n\n> {{ words }}\n",
                                   encoding="utf-8")
    (tmp_path / "_layout.html").write_text(layout, encoding="utf-8")
    return TemplateSet(tmp_path)


def whole(tset: TemplateSet, body: str, subject: str) -> str:
    """What every reply did before: render the layout, inline the whole document."""
    assert tset.layout is not None
    return INLINER.inline(tset.layout.template.render(body=Markup(body), subject=subject,
                                                      company=COMPANY))


def test_the_shipped_layout_is_inlined_once(tmp_path: Path) -> None:
    tset = set_with(tmp_path, SHIPPED_LAYOUT)
    assert tset.layout is not None and tset.layout.frame(COMPANY) is not None
    subject = 'Re: A & B <c> "d" \u00a0 é'
    assert tset.layout.html(BODY, subject, COMPANY, 10**6) == whole(tset, BODY, subject)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_any_reply_comes_out_as_inlining_it_whole(name: str, words: str) -> None:
    tset = SHIPPED
    assert tset.layout is not None
    ctx = TemplateContext(customer=Person(name=name, first_name=name), words=words,
                          company=Company(**COMPANY))
    out = tset.render("t", ctx)
    body = render(tset.templates[("t", "en")].body.render(ctx.template_values()).strip())[0]
    assert out.html == whole(tset, body, out.subject)
    assert tset.layout.frame(COMPANY) is not None


@pytest.fixture(scope="module", autouse=True)
def _shipped(tmp_path_factory: pytest.TempPathFactory) -> None:
    global SHIPPED
    SHIPPED = set_with(tmp_path_factory.mktemp("shipped"), SHIPPED_LAYOUT)


SHIPPED: TemplateSet

STYLE = "<style>p { color: red; }</style>"
FALLS_BACK = {
    "descendant selector": "<html><head><style>td p { color: red; }</style></head><body>"
                           "<table><tr><td>{{ body }}</td></tr></table></body></html>",
    "pseudo-class": "<html><head><style>p:first-child { color: red; }</style></head>"
                    "<body><div><b>x</b>{{ body }}</div></body></html>",
    "filter on the subject": f"<html><head><title>{{{{ subject|upper }}}}</title>{STYLE}"
                             "</head><body>{{ body }}</body></html>",
    "test on the body": f"<html><head>{STYLE}</head><body>{{% if body %}}{{{{ body }}}}"
                        "{% endif %}</body></html>",
    "body inside a paragraph": f"<html><head>{STYLE}</head><body><p>{{{{ body }}}}</p>"
                               "</body></html>",
    "subject in an attribute": f'<html><head>{STYLE}<meta name="x" content="{{{{ subject }}}}">'
                               "</head><body>{{ body }}</body></html>",
    "body twice": f"<html><head>{STYLE}</head><body>{{{{ body }}}}{{{{ body }}}}</body></html>",
    "linked stylesheet": '<html><head><link rel="stylesheet" href="x.css"></head>'
                         "<body>{{ body }}</body></html>",
}


@pytest.mark.parametrize("case", sorted(FALLS_BACK))
def test_a_layout_it_cannot_prove_equal_is_inlined_whole(tmp_path: Path, case: str) -> None:
    tset = set_with(tmp_path, FALLS_BACK[case])
    assert tset.layout is not None and tset.layout.frame(COMPANY) is None
    subject = 'Re: "x" & y'
    assert tset.layout.html(BODY, subject, COMPANY, 10**6) == whole(tset, BODY, subject)


def test_the_frame_follows_the_company(tmp_path: Path) -> None:
    tset = set_with(tmp_path, SHIPPED_LAYOUT)
    assert tset.layout is not None
    other = {**COMPANY, "name": "Other Ltd"}
    assert "Other Ltd" in tset.layout.html(BODY, "s", other, 10**6)
    assert "Other Ltd" not in tset.layout.html(BODY, "s", COMPANY, 10**6)


@pytest.mark.parametrize("layout", [SHIPPED_LAYOUT, FALLS_BACK["descendant selector"]])
def test_the_size_budget_holds_either_way(tmp_path: Path, layout: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    tset = set_with(tmp_path, layout)
    (tmp_path / "amp.md").write_text("Subject: x\n\n" + "&" * 3000 + "\n", encoding="utf-8")
    tset = TemplateSet(tmp_path)  # each `&` is five characters of HTML
    ctx = TemplateContext(customer=Person(name="Maria"), company=Company(**COMPANY))
    monkeypatch.setattr("mailloop.render.templateset.MAX_OUTPUT", 5000)
    assert "&amp;" * 3000 in tset.render("amp", ctx).html
    monkeypatch.setattr("mailloop.render.templateset.MAX_OUTPUT", 3500)
    with pytest.raises(TemplateError, match="rendered HTML is too large"):
        tset.render("amp", ctx)


def test_the_shipped_set_renders_the_same_through_the_frame(tmp_path: Path) -> None:
    from mailloop.render.samples import applies, sample_contexts

    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    tset = TemplateSet(tmp_path / "templates")
    assert tset.layout is not None
    for (name, _), compiled in tset.templates.items():
        if name in ("newsletter", "digest"):
            continue
        for sample, ctx in sample_contexts().items():
            if applies(sample, name):
                values = ctx.template_values()
                out = tset.render_compiled(compiled, ctx)
                body = render(compiled.body.render(values).strip())[0]
                assert out.html == INLINER.inline(tset.layout.template.render(
                    body=Markup(body), subject=out.subject, company=values["company"]))
