"""A STAND-IN for a medical LLM judge: a tiny HTTP server that speaks OpenAI chat completions.

It is not a language model. It exists so that the judge backend's tests exercise the real wire
protocol (``POST /v1/chat/completions``) in a real separate process, on a free local port,
without a GPU. Production points ``judge_url`` at a real OpenAI-compatible server instead, e.g. a
vLLM serving BioMistral-7B.

The ``model`` field of each request picks the behaviour, so one process serves every test:

- ``standin-correct``: answers YES when the candidate equals the reference after lower-casing and
  dropping punctuation, or the pair is in a short synonym table; NO otherwise.
- ``standin-slow``: sleeps ``SLOW_SECONDS`` before answering (the client's timeout fires first).
- ``standin-500``: always HTTP 500.
- ``standin-flaky``: HTTP 503 on its first request for each distinct message, then as ``correct``.
- ``standin-garbage``: a well-formed completion whose content is not a verdict.
- ``standin-malformed``: HTTP 200 with a body that is not JSON.

``GET /stats`` returns how many requests each model name received.

Run: ``python tests/scorers/judge_standin.py PORT``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 3.0
SYNONYMS = {
    frozenset({"cardiomegaly", "enlarged heart"}),
    frozenset({"pneumothorax", "collapsed lung"}),
    frozenset({"pleural effusion", "fluid around the lungs"}),
}
_PAIR = re.compile(r"Reference answer: (.*)\nCandidate answer: (.*)\n")
_NON_WORD = re.compile(r"[^0-9a-z]+")

_counts: Counter[str] = Counter()
_seen: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _simple(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def _verdict(user_message: str) -> str:
    m = _PAIR.search(user_message)
    if m is None:
        return "NO"
    ref, ans = _simple(m.group(1)), _simple(m.group(2))
    return "YES" if ref == ans or frozenset({ref, ans}) in SYNONYMS else "NO"


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            with _lock:
                self._send(200, json.dumps(dict(_counts)).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path != "/v1/chat/completions":
            self._send(404, b'{"error": "not found"}')
            return
        try:
            req = json.loads(raw)
            model = str(req["model"])
            user = str(req["messages"][-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            self._send(400, b'{"error": "bad request"}')
            return
        with _lock:
            _counts[model] += 1
            first_time = (model, user) not in _seen
            _seen.add((model, user))
        if model == "standin-slow":
            time.sleep(SLOW_SECONDS)
        if model == "standin-500":
            self._send(500, b'{"error": "internal error"}')
        elif model == "standin-flaky" and first_time:
            self._send(503, b'{"error": "overloaded"}')
        elif model == "standin-garbage":
            self._send(200, json.dumps(_completion(model, "Well, it depends on the clinical context.")).encode())
        elif model == "standin-malformed":
            self._send(200, b"<html>not json</html>", "text/html")
        else:
            self._send(200, json.dumps(_completion(model, _verdict(user))).encode())


def main(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"judge stand-in listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
