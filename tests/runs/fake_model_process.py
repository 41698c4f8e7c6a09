"""A stand-in for the embedded model server process (``python -m casework.llm.local --json``).

Prints ``{"base_url": ...}`` on its first stdout line like the real one, answers every chat call
with a question to the customer (streamed when asked for), writes a line per request to stderr
(its "log"), and after ``--die-after`` answers exits with ``--exit-code`` as if it had crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for llm.fake_server

from llm.fake_server import FakeServer, chat_json, sse_chunks  # noqa: E402

QUESTION = "Could you tell me your email address, please?"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--die-after", type=int, default=0, help="exit after this many answers (0: never)")
    ap.add_argument("--exit-code", type=int, default=7)
    args = ap.parse_args()
    answered = 0
    lock = threading.Lock()

    def respond(body: dict) -> dict:
        nonlocal answered
        with lock:
            answered += 1
            count = answered
        print(f"request {count}", file=sys.stderr, flush=True)
        if args.die_after and count > args.die_after:
            print("fatal: simulated crash", file=sys.stderr, flush=True)
            os._exit(args.exit_code)
        if body.get("stream"):
            return {"sse": sse_chunks([QUESTION]), "done": True}
        return {"json": chat_json(QUESTION)}

    server = FakeServer(responder=respond).start()
    print(json.dumps({"base_url": server.base_url}), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
