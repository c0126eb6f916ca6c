"""A local SMTP catcher for development (`kohtaamo-smtp-catcher`): accepts every mail on
127.0.0.1:8025 (the service's default SMTP settings) and prints its headers and text."""

from __future__ import annotations

import argparse
import asyncio
import email
from email import policy
from typing import Any

from aiosmtpd.controller import Controller


class Printer:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(f"--- to {', '.join(envelope.rcpt_tos)}: {message['Subject']}", flush=True)
        if body is not None:
            print(body.get_content(), flush=True)
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    controller = Controller(Printer(), hostname=args.host, port=args.port)
    controller.start()
    print(f"SMTP catcher on {args.host}:{args.port}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
