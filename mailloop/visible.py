"""What the customer actually wrote: HTML to text, quoted replies and signatures removed.

Both jobs are mostly solved by well-kept libraries (inscriptis for HTML, mail-parser-reply
for the reply headers of the common clients in ten languages); this module adapts them
and adds what they miss, each rule grounded in how clients format replies: ">" quotes
wherever the person wrote, localised separators and attributions, device footers, and
closings at the end only. docs/quotes.md has the rules and their measured accuracy.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache

import lxml.html
from inscriptis import get_text
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.version import VERSION as mailparser_reply_version

# The languages mail-parser-reply knows "On ... wrote:" headers and signatures for.
REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs")

# Mobile clients append these; they are not part of what the person said. Outlook's
# apps link the store ("Get Outlook for iOS<https://aka.ms/...>", localised with the
# link inside the phrase), Samsung names the device ("Envoyé depuis mon appareil Galaxy").
_DEVICE_FOOTER = re.compile(
    r"^\s*(sent from my \w[\w ]*|sent from (outlook|mail) for \w+|"
    r"(get|obtenir|obtener|scarica) outlook (for|pour|para|per) \w+|outlook für \w+|"
    r"von meine[mr] [\w ]{1,40} gesendet|envoyé (de|depuis) mon [\w ]{1,40}|"
    r"enviado desde mi [\w ]{1,40})\s*(<[^>\s]+>)?( herunterladen)?\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SIG_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)

# Separators that start the previous message: "-----Original Message-----" in any
# language ("-----Ursprüngliche Nachricht-----", "-------- Message d'origine --------"
# on Samsung phones), and the rule of underscores Outlook puts above its From:/Von: block.
_SEPARATOR = re.compile(r"^\s*(-{5,}[^-\n]{3,40}-{5,}|_{20,})\s*$", re.MULTILINE)

# An attribution line introducing a quote, in the languages the parser knows: it names
# who wrote and when ("Am 25.11.26 um 10:00 schrieb X:", "X <x@y> schrieb am Mi., ...:",
# "El mié, ... (<x@y>) escribió:") and ends with a colon.
_WROTE = re.compile(
    r"\b(wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|skrev|napisał|napsal)\b",
    re.IGNORECASE,
)
# Gmail's web client wraps its text at 78 columns, so the attribution often spans two
# lines; a line this long before it was probably wrapped.
_WRAPPED = 50

# Closing phrases, besides the parser's own per-language lists.
_CLOSINGS = (
    "cheers", "best wishes", "warm(est)? regards", "regards", "many thanks", "thanks( again)?",
    "thank you", "yours( sincerely| truly)?", "sincerely", "take care", "best",
    "(mit )?(freundlichen|herzlichen|besten|lieben|vielen) grüßen", "(freundliche|herzliche|viele"
    "|liebe|beste) grüße", "gruß", "grüße", "lg", "mfg", "(vielen )?dank",
    "(bien )?cordialement", "bien à (vous|toi)", "(bien )?amicalement", "(merci )?beaucoup",
    "merci", "bonne (journée|soirée)", "salutations( distinguées)?",
    "(un )?(cordial )?saludos?( cordiales)?", "un abrazo", "atentamente", "(muchas )?gracias",
    "cordialmente",
)
# Lines that may follow a closing: a name, a title, a company, a phone number.
_MAX_SIGNATURE_LINES = 4
_MAX_SIGNATURE_LINE = 60


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


def _quote_free(lines: list[str]) -> list[str]:
    """Drop ">"-quoted lines and the attribution introducing each quoted block.

    Quoting with ">" is how every plain-text client marks the history, wherever the
    person wrote: above it, below it (Thunderbird's default) or between its lines.
    What is left is theirs, except the "On ..., X wrote:" line above each block.
    """
    out: list[str] = []
    for line in lines:
        if not line.lstrip().startswith(">"):
            out.append(line)
            continue
        if out and not out[-1].lstrip().startswith(">"):
            _drop_attribution(out)
        out.append(">")  # a marker, so a block is seen as one; removed below
    return [line for line in out if line != ">"]


def _drop_attribution(out: list[str]) -> None:
    """Remove the attribution (one line, or two when wrapped) ending `out`, if any."""
    end = len(out)
    while end and not out[end - 1].strip():
        end -= 1
    if not end or not _is_attribution(out[end - 1]):
        if end >= 2 and len(out[end - 2]) >= _WRAPPED and _is_attribution(
                f"{out[end - 2]} {out[end - 1]}"):
            del out[end - 2:]
        return
    start = end - 1
    if start and len(out[start - 1]) >= _WRAPPED and not out[start - 1].rstrip().endswith(
            (".", "!", "?", ":")):
        start -= 1  # "On Wed, 25 Nov 2026 at 10:00, Customer Care <" / "feedback@x> wrote:"
    del out[start:]


def _is_attribution(line: str) -> bool:
    """Names who wrote and when: a "wrote" verb, an address or a date, a final colon."""
    line = line.strip()
    return (line.endswith(":") and len(line) <= 300 and bool(_WROTE.search(line))
            and bool(re.search(r"@|\d", line)))


def _cut_history(lines: list[str]) -> list[str]:
    """Everything before the first separator or stray attribution line."""
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line) or _is_attribution(line):
            return lines[:index]
    return lines


@lru_cache(maxsize=1)
def _closing() -> re.Pattern[str]:
    """A whole line that is a closing, optionally signed on the same line: "Best regards,",
    "Thanks, Maria", "Viele Grüße, Anna" (the name group is set when signed)."""
    phrases = list(_CLOSINGS)
    for language in REPLY_LANGUAGES:
        for phrase in MAIL_LANGUAGES.get(language, {}).get("signatures", []):
            phrases.append(phrase.removesuffix(","))
    name = r"(?-i:[A-ZÀ-ÖØ-Þ])[\w'’-]*"
    signed = rf"(?P<name>\s*{name}(?:\s+{name})?\s*[.!]?)?"
    return re.compile(rf"(?:{'|'.join(phrases)})\s*[,.!]?{signed}", re.IGNORECASE)


def _without_sign_off(text: str) -> str:
    """Drop a closing ("Kind regards,", "Viele Grüße", "Un saludo,") and the name, title
    and phone lines under it, when they end the message.

    Only a whole line that is a closing counts, and only with at most a few short lines
    after it (at least one, the name, unless it is signed on the same line): "Thank you,
    Maria! It was Priya who helped." opens many replies and is the message, not its
    signature (the parser's own detector cuts there).
    """
    lines = text.rstrip().splitlines()
    for index, line in enumerate(lines):
        closing = _closing().fullmatch(line.strip()) if index else None
        if closing is None:
            continue
        after = [rest for rest in lines[index + 1:] if rest.strip()]
        before = [kept for kept in lines[:index] if kept.strip()]
        signed = closing.group("name") is not None
        if (before and (signed or after) and len(after) <= _MAX_SIGNATURE_LINES
                and all(len(rest) <= _MAX_SIGNATURE_LINE for rest in after)):
            return "\n".join(lines[:index])
    return text


# Every reply header mail-parser-reply 1.36 knows in REPLY_LANGUAGES has a colon, at the end
# of a line ("On ... wrote:", "Am ... schrieb ...:") or after the first word of a line,
# which may follow quote marks, stars and spaces ("From:", "> Von:", "*De :*"), or it is
# "-----Original Message-----"; the parser also splits before a row of 32 underscores or
# hyphens. In text with none of these (and no carriage return) it finds nothing and
# returns the text with each line stripped. Another version of the parser is always asked.
_MAY_HAVE_REPLY_HEADER = re.compile(
    r"^[\s>*]*(?:[^\W\d_]+ ?)?:|:\s*$|-----|[_-]{32}|\r", re.MULTILINE)
_PARSER_VERSION_READ = mailparser_reply_version == "1.36"


def _parser_reply(text: str) -> str:
    """The text above the first reply header the parser knows ("On ... wrote:", the
    From:/Von:/De : block) in its languages; its signature rules are not used."""
    if _PARSER_VERSION_READ and not _MAY_HAVE_REPLY_HEADER.search(text):
        # What the parser would return, without its cost (mostly its search for
        # signatures and disclaimers, which full_body does not use).
        return "\n".join(line.strip() for line in text.split("\n")).strip()
    replies = _reply_parser().read(text).replies
    return str(replies[0].full_body) if replies else text


def visible_text(text: str) -> str:
    """The newest reply in `text`, without quoted history or signature."""
    if not text.strip():
        return ""
    lines = [line.rstrip() for line in text.splitlines()]
    lines = _SIG_DELIMITER.split("\n".join(lines), maxsplit=1)[0].splitlines()
    lines = _cut_history(_quote_free(lines))
    body = "\n".join(lines)
    with contextlib.suppress(Exception):  # a parser failure is no reason to lose the message
        body = _parser_reply(body)
    body = _DEVICE_FOOTER.sub("", body)
    body = _without_sign_off(body).strip()
    # A message that is all quote (a bare forward) still says something: keep it.
    return body if body else text.strip()
