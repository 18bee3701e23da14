"""The store: a repository interface and its implementations."""

from mailloop.store.base import Batch, Repository, StoreError
from mailloop.store.open import open_store

__all__ = ["Batch", "Repository", "StoreError", "open_store"]
