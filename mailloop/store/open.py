"""Choose the store implementation from the settings."""

from __future__ import annotations

from mailloop.config import Settings
from mailloop.store.base import Repository
from mailloop.store.tinydb import TinyStore


def open_store(settings: Settings) -> Repository:
    return TinyStore(settings.store_path, segment_size=settings.store.segment_size)
