"""The one typed context every reply template is rendered with.

Templates may use exactly these fields and nothing else (the sandbox refuses
anything outside them). docs/templates.md is generated from this model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Frozen):
    name: str = Field("", description="Full name as given; may be empty.",
                      examples=["Maria García"])
    first_name: str = Field("", description="First name, or empty when none was given.",
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
    customer: Person = Field(description="The customer who wrote.")
    reps: list[Person] = Field(default_factory=list,
                               description="The reps credited with the praise, in order.")
    rep: Person | None = Field(None, description="The first credited rep, or none.")
    manager: Person | None = Field(None, description="The manager answering, where there is one.")
    words: str = Field("", description="The customer's own words (quotes removed).",
                       examples=["Jenny on your phone line was wonderful."])
    subject: str = Field("", description="The subject of the customer's message.",
                         examples=["My order"])
    conversation: str = Field("", description="The conversation reference.",
                              examples=["c1a2b3c4d5e6"])
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
    company: Company = Field(description="Company settings.")
