#!/usr/bin/env python3
"""A benchmark backend: an OpenAI-compatible server that answers at once, so that what a gateway adds shows.

Not a test double of anything this collection ships: it stands in for a model server (vLLM, llama.cpp)
whose own time would hide the gateway's. It answers

- POST /v1/chat/completions with a valid `chat.completion` (one choice, the text "hello", usage counted
  as 1 token per message and max_tokens capped at 1), whatever the request asks for (no streaming);
- GET /v1/models with the one model id it serves.

Python standard library only: ThreadingHTTPServer, HTTP/1.1 with keep-alive (one thread per connection,
as a gateway's connection pool expects), Nagle off and every response written in one send, so that no
delayed-ACK stall (40 ms) sits in the numbers. Listens on 127.0.0.1 only.

    python3 tests/servers/fast_openai.py --port 8000 --model smollm2-135m
"""

import argparse
import http.server
import json
import time
import uuid


def completion(model):
    """A minimal but complete OpenAI chat.completion, as vLLM returns it for a short answer."""
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello", "tool_calls": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def handler(model):
    """The request handler class serving MODEL."""
    models = {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": int(time.time()), "owned_by": "fast-openai"}],
    }
    models_body = json.dumps(models).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the connection stays open between requests
        disable_nagle_algorithm = True  # TCP_NODELAY on every accepted connection

        def log_message(self, *args):
            pass  # no per-request logging: it would cost more than the answer

        def reply(self, status, body):
            """Status line, headers and body in one write (one segment on loopback)."""
            reason = self.responses.get(status, ("",))[0]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            self.wfile.write(head.encode() + body)

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self.reply(200, models_body)
            elif self.path.rstrip("/") == "/health":
                self.reply(200, b"{}")
            else:
                self.reply(404, b'{"error": {"message": "not found"}}')

        def do_POST(self):
            # Read the whole body so that the next request on this connection starts at its own first byte.
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self.reply(404, b'{"error": {"message": "not found"}}')
                return
            try:
                requested = json.loads(body).get("model") or model
            except (ValueError, AttributeError):
                self.reply(400, b'{"error": {"message": "the body is not a JSON object"}}')
                return
            self.reply(200, json.dumps(completion(requested)).encode())

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--model", default="smollm2-135m", help="the model id /v1/models lists")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.model))
    server.daemon_threads = True  # a connection left open by a client does not keep the server alive
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
