"""What the customer actually wrote: HTML to text, quoted replies and signatures removed.

Both jobs are solved problems with well-kept libraries (inscriptis for HTML,
mail-parser-reply for quotes and signatures in the common languages and clients);
this module only adapts them and guards against their failure modes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import lxml.html
from inscriptis import get_text
from mailparser_reply import EmailReplyParser

# The languages mail-parser-reply knows "On ... wrote:" headers and signatures for.
REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs")

# Mobile clients append these; they are not part of what the customer said.
_DEVICE_FOOTER = re.compile(
    r"^\s*(sent from my \w[\w ]*|sent from (outlook|mail) for \w+|get outlook for \w+|"
    r"von meinem \w+ gesendet|envoyé de mon \w+|enviado desde mi \w+)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SIG_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)


@lru_cache(maxsize=1)
def _reply_parser() -> EmailReplyParser:
    return EmailReplyParser(languages=list(REPLY_LANGUAGES))


# Where mail clients put the quoted history in HTML: blockquotes, Gmail's and
# Thunderbird's quote containers, Outlook's reply header and everything after it.
_QUOTE_XPATH = (
    "//blockquote | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]"
    " | //*[@id='divRplyFwdMsg'] | //*[@id='appendonsend']"
    " | //*[@id='divRplyFwdMsg']/following-sibling::*"
    " | //*[@id='appendonsend']/following-sibling::*"
)


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text from HTML; with drop_quotes, without the quoted history."""
    try:
        if drop_quotes:
            html = _without_quotes(html)
        return str(get_text(html)).strip()
    except Exception:
        # Fall back to dropping tags: losing layout is better than losing the words.
        return re.sub(r"<[^>]+>", " ", html).strip()


def _without_quotes(html: str) -> str:
    tree = lxml.html.fromstring(html)
    for node in tree.xpath(_QUOTE_XPATH):
        parent = node.getparent()
        if parent is not None:
            parent.remove(node)
    return str(lxml.html.tostring(tree, encoding="unicode"))


def _is_sign_off(line: str) -> bool:
    """A closing line such as "Thanks," or "Best regards": short, and not a sentence."""
    words = line.split()
    return 0 < len(words) <= 4 and len(line.strip()) <= 40 and not re.search(r"[.?!]\s+\S", line)


def _split_sign_off(signature: str) -> tuple[str, str]:
    """The parser starts a signature at any line opening with "Thank you" or "Thanks";
    when that line is a whole sentence ("Thank you, Maria! It was Priya who helped."),
    it is still the message. Give back what precedes the first real sign-off line."""
    lines = signature.splitlines()
    for index, line in enumerate(lines):
        if _is_sign_off(line):
            return "\n".join(lines[:index]).strip(), "\n".join(lines[index:])
    return signature.strip(), ""


def visible_text(text: str) -> str:
    """The newest reply in `text`, without quoted history or signature."""
    if not text.strip():
        return ""
    cut = _SIG_DELIMITER.split(text, maxsplit=1)[0]
    try:
        replies = _reply_parser().read(cut).replies
        body = cut
        if replies:
            kept, _signature = _split_sign_off(replies[0].signatures)
            body = "\n".join(p for p in (replies[0].body, kept) if p.strip())
    except Exception:
        body = cut
    body = _DEVICE_FOOTER.sub("", body)
    body = body.strip()
    # A message that is all quote (a bare forward) still says something: keep it.
    return body if body else text.strip()
