"""What the pure steps need besides the message: built once, shared by every message."""

from __future__ import annotations

from dataclasses import dataclass

from mailloop.classify import Classifier
from mailloop.config import Settings
from mailloop.render.live import Renderer


@dataclass(frozen=True)
class Tools:
    """What the steps need besides the message: built once, shared by every message."""

    settings: Settings
    classifier: Classifier
    templates: Renderer
    secret: bytes
