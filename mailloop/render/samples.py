"""Sample contexts every template is rendered against by `mailloop templates check`.

They cover what production sends: Smile, OforA, both and neither, with and
without a credited rep, a customer who gave no name, a Unicode name, HTML and
CRLF in every customer field, and a very long subject.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mailloop.context import Company, Person, Problem, TemplateContext

_MARIA = Person(name="Maria García", first_name="Maria", email="maria@example.org")
_JENNY = Person(name="Jenny Alvarez", first_name="Jenny", email="jenny.alvarez@example.com")
_MARCUS = Person(name="Marcus Chen", first_name="Marcus", email="marcus.chen@example.com")
_DANA = Person(name="Dana Lee", first_name="Dana", email="dana.lee@example.com")
_HOSTILE = ("<script>alert(1)</script><b>bold</b> [link](https://evil.example) "
            "\r\nBcc: victim@example.org\r\n")
_HOSTILE_FIRST = "<b>Bo</b>\r\nBcc: victim@example.org"
_PROBLEM = Problem(slug="double-charge", title="Some customers were charged twice",
                   note="We fixed the payment retry and refunded every second charge.",
                   ref="BILL-142")
_RECEIVED = datetime(2026, 11, 24, 8, 30, tzinfo=timezone(timedelta(hours=1)))


def sample_contexts(company: Company | None = None) -> dict[str, TemplateContext]:
    """name -> context; `company` is the configured one (check uses the real settings)."""
    company = company or Company(name="Example Co.", website="https://example.com",
                                 signature="The Customer Care team")

    def ctx(**values: object) -> TemplateContext:
        base: dict[str, object] = {
            "customer": _MARIA,
            "manager": _DANA,
            "words": "Jenny on your phone line was wonderful.",
            "subject": "My order",
            "conversation": "c1a2b3c4d5e6",
            "received": _RECEIVED,
            "message": "Thank you so much for telling us!",
            "note": "Your thank-you was sent to maria@example.org.",
            "problem": _PROBLEM,
            "offer": "a month free",
            "company": company,
        }
        base.update(values)
        return TemplateContext.model_validate(base)

    return {
        "smile with rep": ctx(tags=["smile"], reps=[_JENNY], rep=_JENNY),
        "smile with two reps": ctx(tags=["smile"], reps=[_JENNY, _MARCUS], rep=_JENNY),
        "smile without rep": ctx(tags=["smile"], words="You are all wonderful."),
        "ofora": ctx(tags=["ofora"], topics=["billing"], subject="Charged twice",
                     words="I was charged twice for my order and nobody answers the phone."),
        "ofora with rep": ctx(tags=["ofora"], topics=["delivery"], reps=[_MARCUS],
                              rep=_MARCUS, words="Marcus was kind but my parcel is still lost."),
        "both": ctx(tags=["ofora", "smile"], topics=["delivery"], reps=[_JENNY], rep=_JENNY,
                    words="The parcel was late, but Jenny sorted it out in minutes."),
        "neither": ctx(tags=[], subject="Question about opening hours",
                       words="Are you open on Sundays?"),
        "no customer name": ctx(tags=["smile"], customer=Person(email="someone@example.org"),
                                reps=[_JENNY], rep=_JENNY),
        "unicode name": ctx(tags=["ofora"], topics=["app"],
                            customer=Person(name="Zoë Ŝtraße-李小龍", first_name="Zoë",
                                            email="zoe@example.org"),
                            words="Die App stürzt ab 😞"),
        "html and crlf in customer fields": ctx(
            tags=["ofora", "smile"], topics=["billing"], reps=[_JENNY], rep=_JENNY,
            customer=Person(name=_HOSTILE, first_name=_HOSTILE_FIRST, email="x@example.org"),
            words=_HOSTILE * 3, subject=_HOSTILE),
        "very long subject": ctx(tags=["ofora"], subject="Re: Fwd: " + "my order " * 60),
        NO_MANAGER: ctx(tags=["smile"], manager=None, message=""),
    }


NO_MANAGER = "no manager"  # acknowledgements only: staff replies always have a manager


def applies(sample: str, template: str) -> bool:
    return sample != NO_MANAGER or template.startswith("ack_")

