"""Benchmark: replies per second over SMTP, through the reply ledger and bare.

    python bench/smtp.py [--count 5000] [--connections 4]

Starts aiosmtpd on 127.0.0.1 in a separate process (it only counts what it
accepts), then sends `count` replies four ways and prints messages per second:

- bare aiosmtplib: one `sendmail` after another on open connections, nothing recorded;
- the ledger: the same replies planned in a TinyDB store, then `Ledger.send_due()`
  (`sending` committed per chunk, SmtpDelivery, outcomes committed per chunk);

each with one connection and with `--connections`. The ratio shows what recording
every reply's outcome costs. This is a benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from sink import serve  # noqa: E402  (bench/, beside this script)

from mailloop.compose import reply_message_id, to_bytes  # noqa: E402
from mailloop.config import DeliveryConfig  # noqa: E402
from mailloop.delivery.smtp import SmtpDelivery  # noqa: E402
from mailloop.ledger import Ledger  # noqa: E402
from mailloop.model import Address, Outgoing  # noqa: E402
from mailloop.records import reply_doc  # noqa: E402
from mailloop.store.base import Batch  # noqa: E402
from mailloop.store.tinydb import TinyStore  # noqa: E402
from tests.servers import free_port  # noqa: E402

FROM = Address("Customer Care", "feedback@company.test")
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
MONTH = "2026-03"


def replies(count: int, run: str) -> list[Outgoing]:
    out = []
    for n in range(count):
        to = f"customer{n}@customer.test"
        answers = f"maildir:{run}-{n}"
        out.append(Outgoing(
            message_id=reply_message_id(answers, "ack_smile", to, FROM.domain),
            kind="ack_smile", template="ack_smile", locale="en", sender=FROM,
            to=(Address(f"Customer {n}", to),), subject=f"Re: Thank you ({n})",
            text="Thank you for taking the time to write to us. " * 8,
            html="<p>" + "Thank you for taking the time to write to us. " * 8 + "</p>",
            in_reply_to=f"{run}-{n}@customer.test", references=(f"{run}-{n}@customer.test",),
            answers=answers))
    return out


def bare(port: int, raws: list[tuple[str, bytes]], connections: int) -> float:
    async def worker(share: list[tuple[str, bytes]]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        for to, raw in share:
            await client.sendmail(FROM.email, [to], raw)
        await client.quit()

    async def main() -> None:
        await asyncio.gather(*(worker(raws[i::connections]) for i in range(connections)))

    start = time.perf_counter()
    asyncio.run(main())
    return len(raws) / (time.perf_counter() - start)


def ledger(port: int, outs: list[Outgoing], connections: int, folder: Path) -> float:
    store = TinyStore(folder / "mailloop.json")
    # The messages the replies answer, so replies land in segments as they do in use.
    batch = Batch()
    for out in outs:
        batch.put_message({"key": out.answers, "month": MONTH, "message_id": out.in_reply_to,
                           "content_hash": out.message_id, "status": "done"})
    store.commit(batch)
    batch = Batch()
    for out in outs:
        batch.put_reply(reply_doc(out, month=MONTH, now=NOW, customer=out.to[0].email))
    store.commit(batch)
    config = DeliveryConfig(kind="smtp", host="127.0.0.1", port=port, tls="none",
                            from_address=FROM.email, connections=connections)
    delivery = SmtpDelivery(config)
    try:
        start = time.perf_counter()
        counts = Ledger(store, delivery, config, clock=lambda: NOW).send_due()
        elapsed = time.perf_counter() - start
    finally:
        delivery.close()
        store.close()
    if counts.sent != len(outs):
        raise SystemExit(f"only {counts.sent} of {len(outs)} sent: {counts}")
    return len(outs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        rows = []
        for conns in (1, args.connections):
            outs = replies(args.count, f"bare{conns}")
            raws = [(o.to[0].email, to_bytes(o, now=NOW)) for o in outs]
            bare_rate = bare(port, raws, conns)
            with tempfile.TemporaryDirectory() as tmp:
                ledger_rate = ledger(port, replies(args.count, f"ledger{conns}"), conns,
                                     Path(tmp))
            rows.append((conns, bare_rate, ledger_rate))
    finally:
        server.terminate()
        server.join(10)
    print(f"{args.count} replies to aiosmtpd on 127.0.0.1 (messages per second)")
    print(f"{'connections':>11}  {'bare aiosmtplib':>15}  {'through the ledger':>18}  "
          f"{'ledger / bare':>13}")
    for conns, bare_rate, ledger_rate in rows:
        print(f"{conns:>11}  {bare_rate:>15.0f}  {ledger_rate:>18.0f}  "
              f"{ledger_rate / bare_rate:>13.2f}")


if __name__ == "__main__":
    main()
