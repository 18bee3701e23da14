"""Markdown -> HTML and text: markdown-it.rs's tree written as markdown-it-py wrote it."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mailloop.render.markdown import RULES, render
from mailloop.render.sandbox import markdown_escape
from mailloop.render.text import wrap_line

# What rendered the HTML part before markdown-it-pyrs, and still the reference.
REFERENCE = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False,
                                      "breaks": True})


def html(markdown: str) -> str:
    return render(markdown)[0]


def text(markdown: str) -> str:
    return render(markdown)[1]


SAME_AS_MARKDOWN_IT_PY = [
    "Dear Maria,\n\nThank you.\n\nWith warm regards,\nThe team",
    "# Heading\n\nSetext\n===\n\n## Two *em* **strong**\n\n###### Six #",
    "> quoted\n> lines\n\n> > nested\n\n>\n\nafter",
    "- tight\n- list\n  - nested\n\n1. one\n2. two\n\n7) seven\n\n0. zero",
    "- loose\n\n- list\n\n  second paragraph",
    "- a\n  > quote in a tight item\n- # heading in one\n- ```\n  fence in one\n  ```\n-\n- e",
    "- [ref]: /definition-only\n\n> [ref]: /also",
    "`code` ``a ` b`` *em* _em_ **strong** __strong__ ***both***",
    "[link](https://example.com/a?b=1&c=2 \"title & more\") [rel](/x 'single') [empty]()",
    "[ref] and [ref][] and [text][ref]\n\n[ref]: https://example.com/ref \"Ref title\"",
    "![alt *with* `markup` and \\* & &amp;](img.png \"t\") ![](empty.png)",
    "<https://example.com/ä?x=1> <maria@example.org> <b>raw</b> <!-- comment -->",
    "<div>\nblock html stays text\n</div>\n\n<script>alert(1)</script>",
    "&amp; &copy; &#65; &#x42; &bogus; &#0; \\* \\_ \\\\ \\` \\< \" '",
    "hard  \nbreak\\\nand soft\nbreak",
    "```py title=x\ncode <x> & \"y\"\n```\n\n~~~ a&amp;b\\_c rest\n~~~\n\n"
    "    indented\n    code\n\ntext",
    "***\n---\n___\n\n- - -",
    "no\u00a0break\u00a0space \u00a0\nat the ends\u00a0\n\n\u00a0leading\n\n# \u00a0heading\u00a0",
    "\u00a0\n\nonly spaces above\n\n- \u00a0item\u00a0\n- \u3000ideographic\u3000",
    "tab\there\tand there",
    "*\x85emphasis next to U+0085\u2028* [link](https://x.test/a\u2028b) \u2029",
    "Grüße aus Köln — “quoted” ☺ 李小龍 😞",
    "1. first\n\n   continued\n2. second\n   - nested\n\n     > deep quote",
    "a line that is rather long and goes on well past the seventy-two columns of the text part",
]


@pytest.mark.parametrize("markdown", SAME_AS_MARKDOWN_IT_PY)
def test_html_is_markdown_it_pys(markdown: str) -> None:
    assert html(markdown) == REFERENCE.render(markdown)


# Where markdown-it.rs parses differently. None can come from a customer's words:
# every character involved is escaped before the Markdown is parsed.
DIFFERENT = {
    # CommonMark: a list may interrupt a paragraph only when it starts at 1 and is not
    # empty, so the line stays in the quote; markdown-it-py ended the quote.
    "> quoted\n3. not a list here": "<blockquote>\n<p>quoted<br />\n3. not a list here</p>\n"
                                    "</blockquote>\n",
    # A fence never closed keeps its last line break.
    "```\nunclosed": "<pre><code>unclosed\n</code></pre>\n",
    # An autolink's text as written, where markdown-it-py decoded %-escapes in it.
    "<https://example.com/%C3%A4>": '<p><a href="https://example.com/%C3%A4">'
                                    "https://example.com/%C3%A4</a></p>\n",
}


@pytest.mark.parametrize("markdown", sorted(DIFFERENT))
def test_known_differences_from_markdown_it_py(markdown: str) -> None:
    assert html(markdown) == DIFFERENT[markdown]
    assert html(markdown) != REFERENCE.render(markdown)


VALUE = st.lists(st.sampled_from([
    *"ab Zé ☺\u00a0\u3000\t\n\n\r-*_`#>+.!()[]{}<>|~&\\=:/'\"1230\x85\u2028",
        "\n\n", "\n    ", "\n> ", "\n- ", "\n1. ", "\n3) ", "\n```\n", "  \n", "https://x.test",
        "&amp;", "<b>", "\u00a0\n"]), max_size=40).map("".join)
SKELETONS = [
    "Dear {v},\n\nThank you.\n\nRegards,\n{v}",
    "> {v}\n\nafter",
    "- {v}\n- {v}\n\n1. {v}",
    "# {v}\n\n*{v}* **{v}** `x` [{v}](https://example.com)",
    "{v}\n\n{v}",
]


@settings(max_examples=300, deadline=None)
@given(VALUE, st.sampled_from(SKELETONS))
def test_whatever_a_customer_writes_the_html_is_markdown_it_pys(
        value: str, skeleton: str) -> None:
    markdown = skeleton.format(v=markdown_escape(value)).strip()
    assert html(markdown) == REFERENCE.render(markdown)


def test_raw_html_is_off() -> None:
    assert not {"html_block", "html_inline"} & set(RULES)
    out = html("<script>alert(1)</script>\n\nHi <b onclick=x>there</b> <!-- c -->")
    assert "<script>" not in out and "<b " not in out and "<!--" not in out
    assert "&lt;script&gt;" in out and "&lt;b onclick=x&gt;" in out


# ---- the text part -------------------------------------------------------------


def test_text_part_of_every_kind_of_block() -> None:
    assert text("# Title\n\nPara *em*\nline\n\n> quoted\n> > deeper\n\n- a\n  - b\n- c\n\n"
                "3. three\n4. four\n\n```\ncode  kept\n```\n\n---\n\nend") == (
        "Title\n\nPara em\nline\n\n> quoted\n>\n> > deeper\n\n- a\n  - b\n- c\n\n"
        "3. three\n4. four\n\ncode  kept\n\n--------------------\n\nend\n")


def test_text_part_links_become_footnotes_unless_the_text_is_the_address() -> None:
    out = text("See [our page](https://example.com/p) and <https://example.com> and "
               "<maria@example.org> and ![the logo](logo.png).")
    assert out == ("See our page [1] and https://example.com and maria@example.org and the\n"
                   "logo.\n\n[1] https://example.com/p\n")


def test_text_part_of_an_image_is_its_alt_text() -> None:
    # markdown-it-py gave the alt text's source, markup and all: `the *logo*`
    assert text("![the *logo* \\& `x`](logo.png)") == "the logo & x\n"


def test_text_part_numbers_a_list_from_its_start() -> None:
    # markdown-it-py had no `start` for 1 and the old text part counted from 1 for 0
    assert text("0. zero\n1. one") == "0. zero\n1. one\n"
    assert html("0. zero\n1. one").startswith('<ol start="0">')


def test_text_part_trims_no_break_spaces_at_the_ends_of_a_paragraph() -> None:
    assert text("\u00a0\nThanks!\u00a0\u00a0") == "Thanks!\n"
    assert html("\u00a0\nThanks!\u00a0\u00a0") == "<p>Thanks!</p>\n"


def test_text_part_wraps_in_list_items_and_quotes() -> None:
    words = " ".join(["word"] * 30)
    out = text(f"- {words}\n\n> {words}")
    assert all(len(line) <= 72 for line in out.splitlines())
    assert out.splitlines()[1].startswith("  word") and out.splitlines()[-1].startswith("> word")


# ---- wrapping ------------------------------------------------------------------


LINE = st.lists(st.sampled_from(["a", "bb", "word", "x" * 30, " ", "  ", "\t", "\u00a0", "\u3000",
                                "é", "-", "\x0b", "\r", "\u2028"]), min_size=1, max_size=40
                ).map("".join)


@settings(max_examples=500, deadline=None)
@given(LINE, st.integers(min_value=3, max_value=80))
def test_wrap_line_is_textwrap(line: str, width: int) -> None:
    if not line.strip():
        return  # blank lines are not wrapped
    expected = textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)
    assert [x.rstrip() for x in wrap_line(line, width)] == [x.rstrip() for x in expected]
