"""The contexts the `newsletter` and `digest` templates are rendered with: the
usual reply context plus what each report adds. `mailloop templates check`
checks those templates against these models and their samples."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mailloop.context import Company, Person, TemplateContext

CHART_MARK = "@@MAILLOOP-CHART@@"


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RankRow(_Row):
    name: str = Field(description="The rep's name (empty in team mode).")
    first_name: str = Field("", description="The rep's first name.")
    smiles: int = Field(0, description="Smiles credited this month.")
    previous: int = Field(0, description="Smiles credited the month before.")
    change: int = Field(0, description="smiles - previous.")
    rank: int = Field(0, description="1 for the most Smiles; ties share a rank.")
    thanked: int = Field(0, description="Manager thank-yous sent for this rep's Smiles.")
    customers: int = Field(0, description="Distinct customers who credited the rep.")
    quotes: list[str] = Field(default_factory=list,
                              description="The month's best quotes, redacted.")


class TopicLine(_Row):
    topic: str
    count: int
    customers: int
    trend: str


class NewsletterContext(TemplateContext):
    """What the `newsletter` template may use, beside the usual reply context."""

    month: str = Field(description="The month, YYYY-MM.")
    month_name: str = Field(description="The month for people, e.g. November 2026.")
    team_mode: bool = Field(False, description="No rep names: the team's Smiles only.")
    total: int = Field(0, description="The month's Smiles, credited or not.")
    previous_total: int = Field(0, description="The previous month's Smiles.")
    change: int = Field(0, description="total - previous_total.")
    uncredited: int = Field(0, description="Smiles that credit no rep.")
    ranking: list[RankRow] = Field(default_factory=list,
                                   description="Reps by Smiles (opted-out reps left out).")
    team_quotes: list[str] = Field(default_factory=list,
                                   description="Quotes for the team (team mode).")
    chart: str = Field(CHART_MARK, description="Put {{ chart }} on its own line where the "
                                               "chart goes.")
    top_topics: list[TopicLine] = Field(default_factory=list,
                                    description="The month's top OforA topics.")
    new_topics: list[str] = Field(default_factory=list, description="Topics new this month.")
    rising_topics: list[str] = Field(default_factory=list, description="Topics rising.")
    unmatched: int = Field(0, description="OforAs no topic rule matched.")
    fixes: list[str] = Field(default_factory=list, description="Fixes shipped this month.")
    second_chances: int = Field(0, description="Second chances sent this month.")
    champions: int = Field(0, description="Of those, customers who answered with a Smile.")
    recovery_rate: float | None = Field(None, description="champions / second_chances.")


class DigestItem(_Row):
    customer: str = Field(description="First name and initial.")
    subject: str = ""
    labels: str = Field("", description="Smile, OforA, both or neither.")
    topics: list[str] = Field(default_factory=list)
    reps: list[str] = Field(default_factory=list, description="Reps credited.")
    received: str = Field("", description="Local date and time it arrived.")
    words: str = Field("", description="A short redacted excerpt.")
    message_id: str = ""


class OverdueItem(_Row):
    conversation: str = Field(description="The conversation id (`mailloop conversation show`).")
    customer: str = Field("", description="First name and initial.")
    subject: str = ""
    topics: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list, description="Stages past their target.")
    since: str = Field("", description="Local date and time the complaint arrived.")


class DigestContext(TemplateContext):
    """What the `digest` template may use, beside the usual reply context."""

    digest_name: str
    every: str = Field(description="daily or weekly")
    period: str = Field(description="2026-11-24 or 2026-W48")
    period_name: str = Field(description="e.g. Tuesday 24 November 2026, week 48 of 2026")
    count: int = 0
    smiles: int = 0
    oforas: int = 0
    items: list[DigestItem] = Field(default_factory=list)
    overdue: list[OverdueItem] = Field(default_factory=list,
                                       description="OforA conversations past a stage target.")



REPORT_CONTEXTS: dict[str, type[TemplateContext]] = {
    "newsletter": NewsletterContext,
    "digest": DigestContext,
}


def report_samples(name: str, company: Company) -> dict[str, TemplateContext]:
    """Sample contexts for the report templates (`templates check` renders each)."""
    if name == "newsletter":
        ranking = [RankRow(name="Jenny Alvarez", first_name="Jenny", smiles=3, previous=1,
                           change=2, rank=1, thanked=1, customers=2,
                           quotes=["“Jenny was wonderful.” — Ana S."]),
                   RankRow(name="Priya Natarajan", first_name="Priya", rank=2)]
        full = NewsletterContext(
            customer=Person(), company=company, month="2026-11", month_name="November 2026",
            total=4, previous_total=2, change=2, uncredited=1, ranking=ranking,
            top_topics=[TopicLine(topic="billing", count=3, customers=3, trend="rising")],
            new_topics=[], rising_topics=["billing"], unmatched=2, fixes=["Double charges"])
        return {
            "newsletter": full,
            "newsletter team mode": full.model_copy(update={
                "team_mode": True, "ranking": [], "team_quotes": ["“Lovely team.” — Bo Q."]}),
            "newsletter empty month": NewsletterContext(
                customer=Person(), company=company, month="2026-11",
                month_name="November 2026"),
        }
    if name == "digest":
        items = [DigestItem(customer="Ana S.", subject="Charged twice", labels="OforA",
                            topics=["billing"], received="2026-11-24 10:12",
                            words="I was charged twice.", message_id="m1@example.org")]
        return {"digest": DigestContext(customer=Person(), company=company,
                                        digest_name="billing-lead", every="daily",
                                        period="2026-11-24",
                                        period_name="Tuesday 24 November 2026", count=1,
                                        oforas=1, items=items)}
    return {}
