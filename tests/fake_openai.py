"""A local OpenAI-compatible chat endpoint that injects faults, for judge and client tests.

It stands in for a remote judge (an endpoint that cannot run here). On 127.0.0.1 only.
Each request is answered, by a seeded draw, either with a valid judge reply or with one fault:
429 with Retry-After, 500, 503, a dropped connection, a reply slower than the client's timeout,
truncated JSON, JSON missing a dimension, a score out of range, or empty content.
"""
from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from delta_utils.rubric import DIMENSION_NAMES

FAULTS = ["429", "500", "503", "reset", "slow", "truncated", "missing_dim", "out_of_range", "empty"]


class FakeOpenAI:
    def __init__(self, fault_rate: float = 0.3, faults: list[str] = FAULTS, seed: int = 0, api_key: str = "sk-test",
                 slow_s: float = 3.0):
        self.fault_rate, self.faults, self.api_key, self.slow_s = fault_rate, list(faults), api_key, slow_s
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.auth_headers: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.auth_headers.append(self.headers.get("Authorization", ""))
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._send(401, {"error": {"message": "invalid api key", "type": "auth"}})
                with fake.lock:
                    fault = fake.rng.choice(fake.faults) if fake.rng.random() < fake.fault_rate else "ok"
                    fake.counts[fault] += 1
                if fault == "429":
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0.05"})
                if fault in ("500", "503"):
                    return self._send(int(fault), {"error": {"message": "server error"}})
                if fault == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "slow":
                    time.sleep(fake.slow_s)
                scores = {d: fake.rng.randint(1, 5) for d in DIMENSION_NAMES}
                content = json.dumps(scores)
                if fault == "truncated":
                    content = content[: len(content) // 2]
                elif fault == "missing_dim":
                    content = json.dumps({k: v for k, v in scores.items() if k != "step_coherence"})
                elif fault == "out_of_range":
                    content = json.dumps(scores | {"factuality": 9})
                elif fault == "empty":
                    content = ""
                msgs = body.get("messages") or []
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": sum(len(m.get("content", "")) // 4 for m in msgs),
                              "completion_tokens": len(content) // 4,
                              "total_tokens": 0}})

            def _send(self, code, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

