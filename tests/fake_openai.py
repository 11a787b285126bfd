"""A local OpenAI-compatible endpoint that injects faults, for judge and client tests.

It stands in for a remote judge (an endpoint that cannot run here), on 127.0.0.1 only. Each chat
request is answered, by a seeded draw, with a valid judge reply or with one fault: 429 with
Retry-After, 500, 503, a dropped connection, a reply slower than the client's timeout, truncated
JSON, JSON missing a dimension, a score out of range, or empty content. It also speaks the Batch
API (file upload, batch create/retrieve, output download); batch lines get the content faults.
"""
from __future__ import annotations

import contextlib
import email.parser
import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from delta_utils.data.rubric import DIMENSION_NAMES

TRANSPORT_FAULTS = ["429", "500", "503", "reset", "slow"]
CONTENT_FAULTS = ["truncated", "missing_dim", "out_of_range", "empty"]
FAULTS = TRANSPORT_FAULTS + CONTENT_FAULTS


class FakeOpenAI:
    def __init__(self, fault_rate: float = 0.3, faults: list[str] = FAULTS, seed: int = 0, api_key: str = "sk-test",
                 slow_s: float = 3.0, batch_polls_until_done: int = 2, deterministic: bool = False,
                 delay_s: float = 0.0, reasoning: str | None = None, slots: int | None = None):
        self.fault_rate, self.faults, self.api_key, self.slow_s = fault_rate, list(faults), api_key, slow_s
        # deterministic: the reply depends on the request alone (not on arrival order), as for kill tests that
        # compare an interrupted run with an uninterrupted one; delay_s: latency of every chat reply
        self.deterministic, self.delay_s = deterministic, delay_s
        # reasoning: sent beside the content as `reasoning_content` (DeepSeek's API, vLLM's reasoning parsers);
        # slots: requests processed at once, the rest wait in a queue (a server's batch), delay_s each
        self.reasoning = reasoning
        self.slots = threading.Semaphore(slots) if slots else None
        self.timeouts: list[float] = []  # the client's timeout per request, from its X-Stainless-Read-Timeout header
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_polls_until_done = batch_polls_until_done
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the fault model
    def draw(self, allowed: list[str], body: dict | None = None) -> tuple[str, dict]:
        if self.deterministic and body is not None:
            rng = random.Random(json.dumps(body, sort_keys=True))
            with self.lock:
                self.counts["ok"] += 1
            return "ok", {d: rng.randint(1, 5) for d in DIMENSION_NAMES}
        with self.lock:
            faults = [f for f in self.faults if f in allowed]
            fault = self.rng.choice(faults) if faults and self.rng.random() < self.fault_rate else "ok"
            self.counts[fault] += 1
            scores = {d: self.rng.randint(1, 5) for d in DIMENSION_NAMES}
        return fault, scores

    @staticmethod
    def completion(body: dict, fault: str, scores: dict) -> dict:
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
        if msgs and msgs[-1].get("role") == "assistant" and body.get("logprobs"):
            return FakeOpenAI.continuation(body, fault, scores)
        message = {"role": "assistant", "content": content}
        if body.get("_reasoning"):
            message["reasoning_content"] = body["_reasoning"]
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": {"prompt_tokens": sum(len(m.get("content", "")) // 4 for m in msgs),
                          "completion_tokens": max(1, len(content) // 4), "total_tokens": 0}}

    @staticmethod
    def continuation(body: dict, fault: str, scores: dict) -> dict:
        """A one-token continuation of a trailing assistant message (chained scoring), with the score tokens'
        log-probabilities; a content fault gives a token that is no score, and no score among the alternatives."""
        prefix = body["messages"][-1]["content"]
        score = scores["factuality"]
        if fault in CONTENT_FAULTS:
            token, alts = "}", [["}", -0.1], ["\n", -2.5]]
        else:
            token = str(score)
            alts = [[str(s), -0.2 if s == score else -2.0 - abs(s - score)] for s in range(1, 6)]
        logprobs = {"content": [{"token": token, "logprob": alts[0][1], "bytes": None,
                                 "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in alts]}]}
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "length", "logprobs": logprobs,
                             "message": {"role": "assistant", "content": prefix + token}}],
                "usage": {"prompt_tokens": sum(len(m.get("content", "")) // 4 for m in body["messages"]),
                          "completion_tokens": 1, "total_tokens": 0}}

    # -- Batch API
    def upload(self, content_type: str, raw: bytes) -> dict:
        msg = email.parser.BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        data = next(p.get_payload(decode=True) for p in msg.get_payload()
                    if p.get_param("name", header="content-disposition") == "file")
        fid = f"file-{len(self.files)}"
        self.files[fid] = data
        return {"id": fid, "object": "file", "bytes": len(data), "created_at": 0, "filename": "requests.jsonl",
                "purpose": "batch", "status": "processed"}

    def create_batch(self, body: dict) -> dict:
        bid = f"batch_{len(self.batches)}"
        self.batches[bid] = {"input": body["input_file_id"], "polls": 0, "output": None}
        return self.batch_view(bid, poll=False)

    def submitted_ids(self) -> Counter:
        """custom_id -> how many times it was submitted, over the input files of every batch created."""
        return Counter(json.loads(x)["custom_id"] for b in self.batches.values()
                       for x in self.files[b["input"]].decode().splitlines() if x.strip())

    def batch_view(self, bid: str, poll: bool = True) -> dict:
        b = self.batches[bid]
        if poll:
            b["polls"] += 1
        lines = [json.loads(x) for x in self.files[b["input"]].decode().splitlines() if x.strip()]
        done = b["polls"] >= self.batch_polls_until_done
        if done and b["output"] is None:
            out = []
            for line in lines:
                fault, scores = self.draw(CONTENT_FAULTS + ["500"])
                resp = ({"status_code": 500, "body": {"error": {"message": "server error"}}} if fault == "500"
                        else {"status_code": 200, "body": self.completion(line["body"], fault, scores)})
                out.append(json.dumps({"id": f"r{len(out)}", "custom_id": line["custom_id"], "response": resp}))
            fid = f"file-{len(self.files)}"
            self.files[fid] = ("\n".join(out) + "\n").encode()
            b["output"] = fid
        return {"id": bid, "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
                "input_file_id": b["input"], "created_at": 0, "status": "completed" if done else "in_progress",
                "output_file_id": b["output"],
                "request_counts": {"total": len(lines), "completed": len(lines) if done else 0, "failed": 0}}


def _handler(fake: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._send(401, {"error": {"message": "invalid api key", "type": "auth"}})
                return False
            return True

        def do_GET(self):
            if not self._authorized():
                return
            parts = self.path.split("?")[0].strip("/").split("/")  # v1/batches/ID | v1/files/ID/content
            if parts[1] == "batches":
                return self._send(200, fake.batch_view(parts[2]))
            data = fake.files[parts[2]]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self._authorized():
                return
            if self.path.endswith("/files"):
                return self._send(200, fake.upload(self.headers.get("Content-Type", ""), raw))
            body = json.loads(raw or b"{}")
            if self.path.endswith("/batches"):
                return self._send(200, fake.create_batch(body))
            fault, scores = fake.draw(FAULTS, body)
            with contextlib.suppress(TypeError, ValueError):
                fake.timeouts.append(float(self.headers.get("X-Stainless-Read-Timeout")))
            if fake.reasoning:
                body["_reasoning"] = fake.reasoning
            with fake.slots or contextlib.nullcontext():
                time.sleep(fake.delay_s)
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
            self._send(200, fake.completion(body, fault, scores))

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

    return Handler
