"""Sync reports to 1 000 tenants through the one Telegram sender, at Telegram's real limits.

    uv run python bench/bench_telegram.py [--tenants 1000] [--time-scale 1]

Each tenant's chat gets what a report is: an HTML text and a PNG chart with a caption. The
Telegram sandbox enforces 30 messages/s per bot and 1/s per chat (time-scaled when asked) and
answers 429 beyond them. Printed: messages sent, the 429s the sandbox answered (target 0), wall
time against the least the 30 messages/s limit allows (target within 10 %), and sends per second.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from resources.telegram_sender import BOT_PER_SECOND, TelegramSender  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from sandbox.telegram.control import TelegramControl  # noqa: E402

TOKEN = "7000009:AAH" + "b" * 32


def small_png(width: int = 320, height: int = 180) -> bytes:
    """A striped RGB PNG (a few kB), made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def report_text(i: int) -> str:
    lines = [
        f"<b>Синхронизация: продавец {i}</b>",
        "Товаров: 1 240 · Остатки: 48 511 шт · Заказы за 7 дн.: 3 902",
    ]
    lines += [f"{n}. <code>ART-{i}-{n}</code> · Коледино — <b>{n + 1},5 дн.</b>" for n in range(1, 11)]
    return "\n".join(lines)


async def run(tenants: int, scale: float, server: SandboxServer) -> tuple[float, dict[str, int], int]:
    base = server.urls["telegram"]
    request = HTTPXRequest(connection_pool_size=128, read_timeout=30, write_timeout=30, pool_timeout=60)
    bot = Bot(TOKEN, base_url=base + "/bot", base_file_url=base + "/file/bot", request=request)
    png = small_png()
    failed = 0
    async with TelegramSender(bot, time_scale=scale) as sender:

        async def report(i: int) -> int:
            text = await sender.send_message(10_000 + i, report_text(i))
            photo = await sender.send_photo(10_000 + i, png, f"Остатки по складам · продавец {i}")
            return int(not text.sent) + int(not photo.sent)

        started = time.monotonic()
        failed = sum(await asyncio.gather(*(report(i) for i in range(tenants))))
        elapsed = time.monotonic() - started
        return elapsed, dict(sender.counts), failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    with SandboxServer(time_scale=args.time_scale) as server:
        control = TelegramControl(server.control_url, TOKEN)
        control.add_chats([{"id": 10_000 + i, "type": "private"} for i in range(args.tenants)])
        elapsed, counts, failed = asyncio.run(run(args.tenants, args.time_scale, server))
        log = requests.get(server.control_url + "/requests?service=telegram", timeout=60).json()
    sends = [e for e in log if e["path"] in ("/sendMessage", "/sendPhoto")]
    throttled = sum(1 for e in sends if e["status"] == 429)
    messages = 2 * args.tenants
    # The bot may send 30 a second: n messages need at least (n − 1) / 30 s after the first.
    floor = (messages - 1) / (BOT_PER_SECOND * args.time_scale)
    print(
        f"tenants: {args.tenants}  messages: {messages} (a text and a photo each)  "
        f"time scale: {args.time_scale}"
    )
    print(f"sent: {counts['sent']}  failed or deferred: {failed}  requests: {len(sends)}")
    print(f"429 answers: {throttled}  (sender saw retry_after {counts['retry_after']} times; target 0)")
    print(
        f"wall time: {elapsed:.1f} s  minimum at 30 msg/s: {floor:.1f} s  "
        f"over the minimum: {100 * (elapsed / floor - 1):+.1f} %  (target within 10 %)"
    )
    print(f"throughput: {messages / elapsed:.1f} messages/s")


if __name__ == "__main__":
    main()
