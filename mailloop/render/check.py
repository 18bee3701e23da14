"""`mailloop templates check`: every template, every locale, every sample context.

Errors (the set is not used): a syntax error, a name or attribute not in the
template context, a render that fails on any sample (an undefined name, a
sandbox violation, the size or time budget), a template a rule names that does
not exist. Warnings (the set is used, but look): a missing locale variant, a
translation older than its source, a subject too long, an empty greeting,
leftover `{{` or `{%` in the output, HTML over 100 KB, images without `alt`,
links that are not absolute.

Each problem is reported as `FILE:LINE: error|warning: message (sample: NAME)`.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lxml.html
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

from mailloop.context import Company, TemplateContext, nested_model
from mailloop.render.samples import applies, sample_contexts
from mailloop.render.templateset import (
    Compiled,
    References,
    Rendered,
    TemplateError,
    TemplateSet,
)
from mailloop.reports.contexts import REPORT_CONTEXTS, report_samples

if TYPE_CHECKING:
    from mailloop.config import Settings

SUBJECT_WARN = 78  # characters: longer subjects are cut off in most inbox lists
HTML_WARN = 100_000  # bytes: Gmail clips messages over about 102 KB
BUILT_IN_USES = {
    "manager_notification": "managers are told about a Smile",
    "manager_thanks": "a manager's thank-you to the customer",
    "rep_recognition": "the rep hears about their Smile",
    "manager_confirmation": "the manager hears their thank-you went out",
    "manager_rejected": "a manager's reply could not be accepted",
}
_JINJA_NAMES = {"loop", "caller", "varargs", "kwargs", "self", "super", "true", "false", "none",
                "True", "False", "None"}
_ABSOLUTE = re.compile(r"^(https?://|mailto:|tel:)", re.I)
_GREETING_EMPTY = re.compile(r"(^|\s)[,!:;.]$|^\W*$")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str
    severity: str = "error"  # or "warning"
    sample: str | None = None

    def __str__(self) -> str:
        where = f" (sample: {self.sample})" if self.sample else ""
        return f"{self.file}:{self.line}: {self.severity}: {self.message}{where}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def uses(settings: Settings) -> dict[str, list[str]]:
    """template name -> what uses it (the rules, then the built-in staff flows)."""
    out: dict[str, list[str]] = {}
    for rule in settings.rules:
        if rule.acknowledge:
            out.setdefault(rule.acknowledge, []).append(f"rule when={rule.when}")
    for name, use in BUILT_IN_USES.items():
        out.setdefault(name, []).append(use)
    return out


def check_settings(settings: Settings, *, warnings: bool = True
                   ) -> tuple[TemplateSet, list[Problem]]:
    tset = TemplateSet.from_settings(settings, strict=False)
    company = Company(name=settings.company.name, website=settings.company.website,
                      signature=settings.company.signature)
    required = {r.acknowledge for r in settings.rules if r.acknowledge}
    return tset, check_set(tset, company=company, required=required, warnings=warnings)


def check_set(tset: TemplateSet, *, company: Company | None = None,
              required: Iterable[str] = (), warnings: bool = True) -> list[Problem]:
    problems: list[Problem] = [Problem(e.file, e.line, e.message) for e in tset.errors]
    for name in sorted(set(required)):
        if (name, tset.default_locale) not in tset.templates:
            problems.append(Problem(str(tset.folder / f"{name}.md"), 1,
                                    f"missing: a rule acknowledges with {name!r}"))
    for (name, locale), compiled in sorted(tset.templates.items()):
        if (name, tset.default_locale) not in tset.templates:
            problems.append(Problem(str(compiled.source.path), 1,
                                    f"no {tset.default_locale} version "
                                    f"({tset.folder / (name + '.md')}): customers in other "
                                    "languages would get no reply"))
        problems.extend(static_problems(compiled, tset.envs(locale)["markdown"]))
    if not any(p.is_error for p in problems):
        samples = sample_contexts(company)
        for (name, _), compiled in sorted(tset.templates.items()):
            # The report templates (newsletter, digest) have their own context and samples.
            own = report_samples(name, company or samples[next(iter(samples))].company)
            for sample, context in (own or samples).items():
                if not own and not applies(sample, name):
                    continue
                try:
                    rendered = tset.render_compiled(compiled, context)
                except TemplateError as exc:
                    problems.append(Problem(exc.file, exc.line, exc.message, sample=sample))
                    if "time budget" in exc.message:
                        break  # every sample would wait as long again
                    continue
                if warnings:
                    problems.extend(lint_output(compiled, rendered, sample))
    if warnings:
        problems.extend(locale_problems(tset))
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, int, str]] = set()
    out = []
    for p in problems:
        key = (p.file, p.line, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ---- static checks ----------------------------------------------------------------




def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin is list or (origin in (types.UnionType, typing.Union) and any(
        _is_list(a) for a in typing.get_args(annotation)))


def static_problems(compiled: Compiled, env: ImmutableSandboxedEnvironment) -> list[Problem]:
    """Names and attributes a template uses that the context does not have."""
    model = REPORT_CONTEXTS.get(compiled.source.name, TemplateContext)
    return [Problem(refs.file, lineno, message) for refs in compiled.references
            for lineno, message in _unknown_references(refs, env, model)]


def _unknown_references(refs: References, env: ImmutableSandboxedEnvironment,
                        context: type[TemplateContext] = TemplateContext
                        ) -> Iterator[tuple[int, str]]:
    fields = context.model_fields
    allowed = set(fields) | set(env.globals) | _JINJA_NAMES | refs.stored
    # what a name is known to hold: context fields, and loop variables over their lists
    models: dict[str, type[BaseModel]] = {}
    for name, info in fields.items():
        model = nested_model(info.annotation)
        if model is not None and not _is_list(info.annotation):
            models[name] = model
    for target, iterable in refs.loops:
        if iterable in fields and _is_list(fields[iterable].annotation):
            model = nested_model(fields[iterable].annotation)
            if model is not None and target not in fields:
                models[target] = model
    for lineno, name in refs.loaded:
        if name not in allowed:
            yield lineno, (f"'{name}' is not in the template context "
                           "(see docs/templates.md for the fields)")
    for lineno, name, attr in refs.attributes:
        if name in models:
            model = models[name]
            if attr not in model.model_fields:
                known = ", ".join(model.model_fields)
                yield lineno, f"'{name}' has no field '{attr}' (it has: {known})"


# ---- lint of the output -----------------------------------------------------------


def _source_line(compiled: Compiled, needle: str) -> int:
    for number, line in enumerate(compiled.source.path.read_text(encoding="utf-8").splitlines(),
                                  1):
        if needle and needle in line:
            return number
    return compiled.source.body_line


def lint_output(compiled: Compiled, rendered: Rendered, sample: str) -> list[Problem]:
    src = compiled.source
    file = str(src.path)
    subject_line = src.headers["subject"][0]
    problems: list[Problem] = []

    def warn(line: int, message: str, where: str = file) -> None:
        problems.append(Problem(where, line, message, "warning", sample))

    if len(rendered.subject) > SUBJECT_WARN:
        warn(subject_line, f"subject is {len(rendered.subject)} characters (over "
                           f"{SUBJECT_WARN}: inbox lists cut it off)")
    first = next((line.strip() for line in rendered.text.splitlines() if line.strip()), "")
    if _GREETING_EMPTY.search(first):
        warn(src.body_line, f"empty greeting: {first!r}")
    for part, text in (("subject", rendered.subject), ("text", rendered.text),
                       ("HTML", rendered.html)):
        for marker in ("{{", "{%"):
            if marker in text:
                warn(subject_line if part == "subject" else src.body_line,
                     f"leftover {marker!r} in the {part} part")
    size = len(rendered.html.encode())
    html_file = str(src.html_path) if src.html_path else file
    if size > HTML_WARN:
        warn(1, f"HTML part is {size // 1000} KB (over {HTML_WARN // 1000} KB: Gmail clips it)",
             html_file)
    try:
        doc = lxml.html.document_fromstring(rendered.html)
    except Exception:  # lxml raises several types for unparsable input
        return problems
    for img in doc.iter("img"):
        if not (img.get("alt") or "").strip():
            warn(_source_line(compiled, str(img.get("src", ""))),
                 f"image without alt text: {img.get('src', '')}", html_file)
    for link in doc.iter("a"):
        href = link.get("href", "")
        if href and not _ABSOLUTE.match(href):
            warn(_source_line(compiled, href), f"link is not absolute: {href!r}", html_file)
    return problems


def locale_problems(tset: TemplateSet) -> list[Problem]:
    problems = []
    default = {name: c for (name, loc), c in tset.templates.items()
               if loc == tset.default_locale}
    for locale in tset.locales()[1:]:
        for name, source in sorted(default.items()):
            variant = tset.templates.get((name, locale))
            if variant is None and name in REPORT_CONTEXTS:
                continue  # the newsletter and digests go to the team, not to customers
            if variant is None:
                used = tset.choose(name, [locale]).locale
                problems.append(Problem(str(_locale_folder(tset, locale) / f"{name}.md"), 1,
                                        f"missing locale variant: {locale} customers get the "
                                        f"{used} version", "warning"))
            elif variant.source.path.stat().st_mtime + 2 < source.source.path.stat().st_mtime:
                problems.append(Problem(str(variant.source.path), 1,
                                        f"translation older than its source "
                                        f"{source.source.path}: update it", "warning"))
    return problems


def _locale_folder(tset: TemplateSet, locale: str) -> Path:
    for (_, loc), compiled in tset.templates.items():
        if loc == locale:
            return compiled.source.path.parent
    return tset.folder / locale
