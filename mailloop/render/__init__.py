"""render: a reply template and a context -> subject, text and HTML.

- templateset: the template format, the compiled set, the two parts from one source
- sandbox: the environment templates run in (sandbox, budgets, locale filters)
- markdown: Markdown -> the HTML and the text part, in one walk over one tree
- text: the layout of the text/plain part (wrapping, quotes, footnotes)
- layout: the HTML part inside `_layout.html`, with the CSS inlined
- check: sample contexts and `mailloop templates check`
- live: the reloading set the daemon renders with
"""

from mailloop.render.sandbox import MAX_OUTPUT, markdown_escape
from mailloop.render.templateset import (
    LAYOUT,
    MAX_SUBJECT,
    Compiled,
    Rendered,
    TemplateError,
    TemplateSet,
    TemplateSource,
    discover,
    one_line,
    read_source,
)

__all__ = [
    "LAYOUT",
    "MAX_OUTPUT",
    "MAX_SUBJECT",
    "Compiled",
    "Rendered",
    "TemplateError",
    "TemplateSet",
    "TemplateSource",
    "discover",
    "markdown_escape",
    "one_line",
    "read_source",
]
