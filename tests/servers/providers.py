"""Loopback stand-ins for cloud providers, answering as the provider's API documentation says it does.

- `anthropic_refusing_keys()`: Anthropic's Messages API (POST /v1/messages) for a key it does not accept:
  401 with the documented error shape (https://docs.anthropic.com/en/api/errors: a JSON object with
  "type": "error" and an "error" object holding "type" and "message", the request's id in a `request-id`
  header and, in current responses, in "request_id"), here `authentication_error` / `invalid x-api-key`.
  Every request is recorded (method, path, lower-case headers, body) so a test can see what the gateway sent.

A provider that is unreachable needs no server: a loopback port nothing listens on (helpers.free_port).
The integration tests run it on loopback (tests/integration/backends), the lab's fault tests on the controller's
tailnet address (tests/testinfra/faults/test_fallbacks.py).
"""

import contextlib
import json
import secrets

from loopback import http_stub


def _anthropic_error(status, kind, message):
    """(status, headers, body) of an Anthropic API error."""
    request_id = "req_" + secrets.token_hex(12)
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    return status, {"Content-Type": "application/json", "request-id": request_id}, json.dumps(body).encode()


@contextlib.contextmanager
def anthropic_refusing_keys(host="127.0.0.1", port=0):
    """Yields (base URL, list of the requests it got). Every POST /v1/messages is refused as a wrong key is.
    On loopback at a free port unless HOST and PORT are given (the lab's gateways reach it on the controller)."""
    requests = []

    def answer(request):
        requests.append(request)
        if request.method == "POST" and request.path.split("?")[0] == "/v1/messages":
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        return _anthropic_error(404, "not_found_error", "Not found")

    with http_stub(answer, host, port) as url:
        yield url, requests
