"""Two months of feedback with a known truth, delivered as real email files into a
Maildir inbox and run through the whole loop (tests/test_reports.py and
bench/newsletter_picture.py build their stores from it).

Times are local to ZONE; three messages sit on month edges. Maildir messages are
dated by their delivery time (the file's mtime), never by their Date header.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from mailloop.config import Settings, load_settings
from mailloop.mailbox.maildir import deliver
from tests.helpers import email_bytes, run_once

ROOT = Path(__file__).resolve().parent.parent
ZONE = "America/New_York"
MANAGER = "Dana Lee <dana.lee@example.com>"


@dataclass(frozen=True)
class Mail:
    mid: str
    when: str  # local time in ZONE, "YYYY-MM-DD HH:MM"
    sender: str
    subject: str
    body: str


SMILES_OCT = [
    Mail("o-sofia-1", "2026-10-05 10:00", "Carla Mendes <carla@example.org>", "Thanks",
         "Sofia Romano went above and beyond to help me with my account. Brilliant service, "
         "thank you so much."),
    Mail("o-jenny", "2026-10-10 11:00", "Dev Patel <dev@example.net>", "Great help",
         "Jenny Alvarez on your phone line was wonderful. She sorted out my order in minutes, "
         "thank you!"),
    Mail("o-priya", "2026-10-20 15:00", "Eli Novak <eli@example.com>", "Chat",
         "Priya Natarajan was amazing on the chat, thanks so much!"),
    Mail("o-team", "2026-10-22 09:30", "Fay Okafor <fay@example.org>", "Well done",
         "Your team was brilliant, thank you all so much for the quick help!"),
    # 23:30 on the last day of October in New York is already November in UTC.
    Mail("o-sofia-2", "2026-10-31 23:30", "Gus Larsen <gus@example.org>", "Late night help",
         "Sofia Romano stayed on the line until my problem was solved. Wonderful, thank you!"),
]
SMILES_NOV = [
    # 00:10 on the first of November: November, though UTC says the same.
    Mail("n-jenny-1", "2026-11-01 00:10", "Ana Souza <ana.souza@example.org>", "Thank you",
         "Jenny Alvarez was so kind to me on the phone, call me on +1 (555) 201-3344 any "
         "time. Thank you, Jenny!"),
    Mail("n-jenny-2", "2026-11-10 12:00", "Bea Fischer <bea@example.de>", "Star",
         "Jen was so patient with me yesterday, a real star. Thanks!"),
    Mail("n-sofia", "2026-11-12 14:00", "Hal Berg <hal@example.com>", "Thanks Sofia",
         "Sofia Romano fixed my account settings in no time. Fantastic, thank you."),
    Mail("n-marcus", "2026-11-15 16:00", "Ivy Chan <ivy@example.net>", "Marcus",
         "Marcus Chen was fantastic, so helpful and kind. Thank you!"),
    Mail("n-team-1", "2026-11-18 10:00", "Jon Reyes <jon@example.org>", "Great team",
         "Your whole team was wonderful this month, thank you all!"),
    Mail("n-team-2", "2026-11-20 10:00", "Kim Ito <kim@example.org>", "Lovely call",
         "The gentleman I spoke to was lovely and patient, thank you so much for the help!"),
    # 23:50 on the last day of November in New York: December 1st in UTC.
    Mail("n-jenny-3", "2026-11-30 23:50", "Ana Souza <ana.souza@example.org>",
         "Thank you again",
         "Jenny Alvarez helped me again tonight, write to me at ana.souza@example.org if she "
         "needs anything. She is a gem, thank you!"),
]
OFORAS_OCT = [
    Mail("o-bill", "2026-10-12 09:00", "Lia Moretti <lia@example.org>", "Invoice",
         "My invoice is wrong and I am very frustrated. Please fix the bill."),
    Mail("o-del-1", "2026-10-14 13:00", "Max Weber <max@example.de>", "Late",
         "The parcel arrived late and the box was damaged. Very disappointing delivery."),
    Mail("o-del-2", "2026-10-20 17:00", "Nia Brown <nia@example.com>", "Where is it",
         "My package never arrived and the courier will not answer. Really unhappy."),
    Mail("o-gift", "2026-10-25 12:00", "Oto Kaya <oto@example.org>", "Voucher",
         "I am unhappy: my gift card balance expired without warning. Terrible."),
]
OFORAS_NOV = [
    Mail("n-bill-1", "2026-11-02 08:00", "Pia Lund <pia@example.se>", "Charged twice",
         "I was charged twice for my order and nobody has answered. Please refund me, this "
         "is unacceptable."),
    Mail("n-bill-2", "2026-11-09 08:00", "Quin Hale <quin@example.com>", "Refund",
         "Still no refund after three weeks. Very disappointed."),
    Mail("n-bill-3", "2026-11-16 08:00", "Rui Costa <rui@example.pt>", "Wrong invoice",
         "The invoice shows the wrong amount again, this is frustrating."),
    Mail("n-del-1", "2026-11-05 11:00", "Sam Ortiz <sam@example.com>", "Damaged",
         "The delivery was two weeks late and the box was crushed. Not good enough."),
    Mail("n-del-2", "2026-11-21 11:00", "Tea Kovac <tea@example.hr>", "Lost",
         "My parcel is lost and nobody can tell me where it is. Very disappointing."),
    Mail("n-app-1", "2026-11-07 19:00", "Uma Das <uma@example.in>", "Crash",
         "The app keeps crashing when I open it. Really annoying."),
    Mail("n-app-2", "2026-11-19 19:00", "Vic Moss <vic@example.com>", "Cannot log in",
         "The app crashes every time I try to log in. So frustrating."),
    Mail("n-dark-1", "2026-11-03 21:00", "Wes Kim <wes@example.org>", "Too bright",
         "There is no dark mode on the website and it hurts my eyes at night. Very "
         "disappointing, please add a dark mode."),
    Mail("n-dark-2", "2026-11-11 21:00", "Xia Lin <xia@example.cn>", "Dark mode",
         "The website still has no dark mode, the white screen is painful at night. I am "
         "unhappy about it."),
    Mail("n-dark-3", "2026-11-24 21:00", "Yan Roth <yan@example.de>", "Night",
         "Please give the website a dark mode. Browsing at night is awful and my eyes hurt."),
    Mail("n-export-1", "2026-11-04 10:00", "Zoe Hart <zoe@example.com>", "Export",
         "I can't export my order history to a spreadsheet. This is frustrating, please add "
         "an export of the order history."),
    Mail("n-export-2", "2026-11-13 10:00", "Abe Stone <abe@example.org>", "Spreadsheet",
         "Why is there no way to export the order history as a spreadsheet? Very annoying."),
    Mail("n-export-3", "2026-11-23 10:00", "Bo Quinn <bo@example.net>", "History",
         "Exporting my order history to a spreadsheet is impossible and I am disappointed."),
]
NEITHER = [
    Mail("n-question", "2026-11-06 09:00", "Cy Ford <cy@example.com>", "Opening hours",
         "What time do you open on Sunday?"),
]
ALL = [*SMILES_OCT, *SMILES_NOV, *OFORAS_OCT, *OFORAS_NOV, *NEITHER]

# What the managers do: thank one Smile, and credit an unnamed one to Marcus.
THANKS = [
    # (the Smile, when the manager answers, the manager's words)
    ("n-jenny-3", "2026-12-02 09:00", "Ana, thank you so much for writing again!"),
    ("n-team-2", "2026-11-26 09:00", "#rep Marcus\n\nKim, thank you, that was Marcus."),
]


def message_id(mid: str) -> str:
    return f"{mid}@customers.example"


def stamp(local: str) -> float:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(ZONE)).timestamp()


def write_config(folder: Path, *, extra: str = "") -> Path:
    """config.example.toml with the corpus's zone, a secret and newsletter readers."""
    config = folder / "mailloop.toml"
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('timezone = "UTC"', f'timezone = "{ZONE}"\nsecret = "reports-secret"')
    text = text.replace("[newsletter]\nto = []", '[newsletter]\nto = ["team@example.com"]')
    config.write_text(text + extra, encoding="utf-8")
    if not (folder / "templates").exists():
        shutil.copytree(ROOT / "templates", folder / "templates")
    return config


def deliver_at(settings: Settings, raw: bytes, name: str, local: str) -> None:
    path = deliver(settings.inbox_path, raw, name=name)
    os.utime(path, (stamp(local), stamp(local)))


def fill(folder: Path) -> Settings:
    """Run the corpus and the managers' answers through the loop; the settings used."""
    settings = load_settings(write_config(folder))
    for mail in ALL:
        deliver_at(settings, email_bytes(sender=mail.sender, subject=mail.subject,
                                         body=mail.body, message_id=message_id(mail.mid)),
                   mail.mid, mail.when)
    run_once(settings)
    notes = _notifications(settings)
    for smile, when, words in THANKS:
        note = notes[message_id(smile)]
        quoted = "\n".join("> " + line for line in _body(note).splitlines())
        raw = email_bytes(sender=MANAGER, to=note["Reply-To"].addresses[0].addr_spec,
                          subject="Re: " + str(note["Subject"]),
                          message_id=f"thanks-{smile}@example.com",
                          body=f"{words}\n\nOn Monday, Customer Care wrote:\n{quoted}\n",
                          headers={"In-Reply-To": str(note["Message-ID"])})
        deliver_at(settings, raw, f"thanks-{smile}", when)
    run_once(settings)
    return settings


def _body(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _notifications(settings: Settings) -> dict[str, email.message.EmailMessage]:
    """Each Smile's notification to the manager (it quotes the Smile), by Message-ID."""
    found: dict[str, email.message.EmailMessage] = {}
    bodies = {message_id(m.mid): " ".join(m.body.split()[:6]) for m in ALL}
    for path in (settings.outbox_path / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(msg.get("X-Mailloop-Template", "")).startswith("manager_notification"):
            text = " ".join(_body(msg).split())  # type: ignore[arg-type]
            for mid, start in bodies.items():
                if start in text:
                    found[mid] = msg  # type: ignore[assignment]
    return found
