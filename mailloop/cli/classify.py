"""`mailloop classify FILE...`: what the classifier makes of raw email files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mailloop.cli.common import ConfigOption, settings_or_exit


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)


def classify(
    files: Annotated[list[Path], typer.Argument(help="Raw email files (.eml).", exists=True,
                                                dir_okay=False, readable=True)],
    config: ConfigOption = None,
) -> None:
    """Parse each file and print one JSON object per line: tags, reps, topics, confidence."""
    from mailloop.classify import Classifier
    from mailloop.parse import parse

    settings = settings_or_exit(config)
    classifier = Classifier.from_settings(settings)
    for file in files:
        raw = file.read_bytes()
        msg = parse(raw, key=f"file:{file}", received_at=datetime.fromtimestamp(
            file.stat().st_mtime, UTC))
        tags = classifier.classify(msg.text, subject=msg.subject)
        print(json.dumps({
            "file": str(file),
            "tags": tags.labels,
            "reps": list(tags.credited_reps),
            "topics": list(tags.topics),
            "confidence": round(tags.confidence, 3),
        }, ensure_ascii=False), flush=True)
