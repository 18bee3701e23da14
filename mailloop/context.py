"""The one typed context every reply template is rendered with.

Templates may use exactly these fields and nothing else: `mailloop templates
check` rejects any other name or attribute, and the sandbox refuses anything
outside them at render time. docs/templates.md is generated from this model
(`mailloop templates docs`), so the documentation cannot drift from it.
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Frozen):
    name: str = Field("", description="Full name as given; may be empty.",
                      examples=["Maria García"])
    first_name: str = Field("", description="First name, or empty when none was given: "
                            "greet with a fallback, `{% if customer.first_name %}Dear "
                            "{{ customer.first_name }},{% else %}Hello,{% endif %}`.",
                            examples=["Maria"])
    email: str = Field("", description="Email address.", examples=["maria@example.org"])


class Company(_Frozen):
    name: str = Field(description="Company name from [company] name.", examples=["Example Co."])
    website: str = Field("", description="Company website from [company] website.",
                         examples=["https://example.com"])
    signature: str = Field(description="Sign-off from [company] signature.",
                           examples=["The Customer Care team"])


class Problem(_Frozen):
    slug: str = Field(description="The problem's short name.", examples=["double-charge"])
    title: str = Field("", description="Its title from `problem open --title`.",
                       examples=["Some customers were charged twice"])
    note: str = Field("", description="What we are doing (problem notify --note), or "
                        "what changed (problem fixed --note).",
                        examples=["We have refunded every double charge."])
    ref: str = Field("", description="The tracker reference of the fix, if given.",
                     examples=["BILL-142"])


class TemplateContext(_Frozen):
    customer: Person = Field(description="The customer who wrote.",
                             examples=[{"name": "Maria García", "first_name": "Maria",
                                        "email": "maria@example.org"}])
    reps: list[Person] = Field(default_factory=list,
                               description="The reps credited with the praise, in order.",
                               examples=[[{"name": "Jenny Alvarez", "first_name": "Jenny",
                                           "email": "jenny.alvarez@example.com"}]])
    rep: Person | None = Field(None, description="The first credited rep, or none: test it "
                               "with `{% if rep %}`.",
                               examples=[{"name": "Jenny Alvarez", "first_name": "Jenny",
                                          "email": "jenny.alvarez@example.com"}])
    manager: Person | None = Field(None, description="The manager answering, where there is "
                                   "one (manager_* and rep_recognition replies).",
                                   examples=[{"name": "Dana Lee", "first_name": "Dana",
                                              "email": "dana.lee@example.com"}])
    words: str = Field("", description="The customer's own words (quotes and signature "
                       "removed).", examples=["Jenny on your phone line was wonderful."])
    subject: str = Field("", description="The subject of the customer's message; may be long "
                         "(use `|truncate(60)` in a Subject line).", examples=["My order"])
    conversation: str = Field("", description="The conversation reference.",
                              examples=["c1a2b3c4d5e6"])
    received: datetime | None = Field(None, description="When the customer's message arrived, "
                                      "in the configured time zone; format it with "
                                      "`|date` or `|datetime`.",
                                      examples=["2026-11-24T08:30:00+01:00"])
    tags: list[str] = Field(default_factory=list, description="Tags: smile, ofora.",
                            examples=[["smile"]])
    topics: list[str] = Field(default_factory=list, description="Topics matched.",
                              examples=[["billing"]])
    message: str = Field("", description="A staff member's own words, for replies they write.",
                         examples=["Thank you so much for telling us!"])
    note: str = Field("", description="A note from mailloop to staff: why a reply was "
                      "refused, or what was sent.",
                      examples=["Your thank-you was sent to maria@example.org."])
    problem: Problem | None = Field(None, description="The known problem a problem_update "
                                    "or second_chance is about.")
    offer: str = Field("", description="The offer a second chance makes (followup --offer).",
                       examples=["20% off your next order"])
    company: Company = Field(description="Company settings.",
                             examples=[{"name": "Example Co.", "website": "https://example.com",
                                        "signature": "The Customer Care team"}])

    def template_values(self) -> dict[str, Any]:
        """The values a template sees: plain dicts, lists, strings and datetimes
        (never the model objects and their methods)."""
        return self.model_dump(mode="python")


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's type: `Person`, `Person | None`, `list[Person]`;
    None for plain values. What `templates check` and the generated docs walk."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = nested_model(arg)
        if found is not None:
            return found
    return None
