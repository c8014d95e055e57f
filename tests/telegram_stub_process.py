"""The Bot API stand-in (`tests.telegram_stub`) in a process of its own, for the tests that
measure time against its limits.

In the test's own process the stand-in shares the event loop and the heap with the whole
suite: a full garbage collection of a suite-sized heap, or another test's leftover task,
stalls it, and the requests that queued meanwhile are then counted as arriving together,
a burst no sender made (in CI the 10,000-person digest saw hundreds of 429s so, alone it
saw none). Telegram measures on its own clock; so does this process, which holds nothing
but the stand-in.

    python -m tests.telegram_stub_process --global-per-second 100 --per-chat-per-second 1

prints `port N` once it listens, serves the Bot API there and `GET /stub/summary` (what the
test reads back: the messages kept, the chat of each sendMessage call, the calls answered
429), and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.telegram_stub import TelegramStub

SUMMARY_PATH = "/stub/summary"


@dataclass(frozen=True)
class StubSummary:
    messages: int
    chats: list[int]
    """The chat of every `sendMessage` call answered, refused ones included, in order."""
    throttled: int


def summary_of(stub: TelegramStub, *, with_chats: bool) -> dict[str, Any]:
    chats = [int(call.params["chat_id"]) for call in stub.sent()] if with_chats else []
    return {"messages": len(stub.messages), "chats": chats, "throttled": len(stub.throttled)}


async def serve(args: argparse.Namespace) -> None:
    stub = TelegramStub(
        global_per_second=args.global_per_second, per_chat_per_second=args.per_chat_per_second
    )

    async def summary(request: web.Request) -> web.Response:
        with_chats = request.query.get("chats") == "1"
        return web.json_response(summary_of(stub, with_chats=with_chats))

    stub.extra_routes.append(("GET", SUMMARY_PATH, summary))
    await stub.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    print(f"port {stub.port}", flush=True)
    await stopped.wait()
    await stub.stop()


class StubProcess:
    """The stand-in as a child process: `base_url` for the bot, `summary()` to read it."""

    def __init__(self, *, global_per_second: float, per_chat_per_second: float) -> None:
        self.arguments = [
            "--global-per-second",
            str(global_per_second),
            "--per-chat-per-second",
            str(per_chat_per_second),
        ]
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until it listens (blocking: call it in a thread)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.telegram_stub_process", *self.arguments],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first.startswith("port "):
            self.process.kill()
            raise AssertionError(f"the Bot API stand-in did not start: {first!r}")
        self.port = int(first.split()[1])

    async def summary(self, *, with_chats: bool = False) -> StubSummary:
        """The counts so far; `with_chats`: the chats too (`chats` is empty otherwise)."""
        query = {"chats": "1" if with_chats else "0"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base_url + SUMMARY_PATH, params=query) as response,
        ):
            response.raise_for_status()
            body = await response.json()
        return StubSummary(int(body["messages"]), list(body["chats"]), int(body["throttled"]))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--global-per-second", type=float, required=True)
    parser.add_argument("--per-chat-per-second", type=float, required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
