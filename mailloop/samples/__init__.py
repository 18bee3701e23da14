"""Sample feedback, delivered into an empty embedded inbox on first start."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mailloop.mailbox.maildir import deliver, ensure_maildir


def sample_files() -> list[tuple[str, bytes]]:
    folder = resources.files(__package__)
    return sorted((f.name, f.read_bytes()) for f in folder.iterdir() if f.name.endswith(".eml"))


def seed_inbox(inbox: Path, store_path: Path) -> int:
    """Deliver the samples when this is a first start: no store yet and an empty inbox."""
    ensure_maildir(inbox)
    if store_path.exists() or any((inbox / "new").iterdir()) or any((inbox / "cur").iterdir()):
        return 0
    for name, raw in sample_files():
        deliver(inbox, raw, name=f"sample.{name.removesuffix('.eml')}")
    return len(sample_files())
