"""A plain VADER baseline, for the evaluation to compare against.

The whole text gets one compound score and VADER's documented thresholds: at
least +0.05 is a Smile, at most -0.05 an OforA, anything between neither. It can
never say "both", does not know topics or reps, and is always confident.
"""

from __future__ import annotations

from mailloop.classify.sentiment import VADER_NEUTRAL, vader_compound
from mailloop.model import Tags


def vader_tags(text: str, subject: str = "") -> Tags:
    score = vader_compound(text)
    return Tags(
        smile=score >= VADER_NEUTRAL,
        ofora=score <= -VADER_NEUTRAL,
        confidence=abs(score),
        evidence=(f"vader compound {score:+.3f}",),
    )
