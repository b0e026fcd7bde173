# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of the Tailscale API v2 endpoints of the tailnet policy file (standard library only).

Internal to this collection (used by the tailnet.llm.tailscale_policy module): the interfaces may change in any
release.

- authentication: an API key (HTTP Basic, the key as user name, as the API documents), or an OAuth client whose
  client id and secret are exchanged for an access token at /api/v2/oauth/token (client credentials grant),
  then sent as a Bearer token;
- GET /api/v2/tailnet/{tailnet}/acl: the policy file as written (HuJSON) and its ETag;
- POST /api/v2/tailnet/{tailnet}/acl/validate: whether a policy file parses and its tests pass (HTTP 200 either
  way; a problem is a JSON object with a non-empty `message` and optional `data`);
- POST /api/v2/tailnet/{tailnet}/acl with If-Match: replaces the policy file only if it is still the version
  that ETag names (412 otherwise).
A policy file given as text is sent as written (`Content-Type: application/hujson`, which both POSTs take), so
its comments are kept; one given as a dict is sent as JSON.
Errors are TailscaleError with one sentence naming the endpoint, the status and the API's message; no
credential is ever in one.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from urllib.parse import quote, urlencode, urlsplit

DEFAULT_BASE_URL = "https://api.tailscale.com"


class TailscaleError(Exception):
    """What went wrong talking to the API; `status` (0 without an answer) and the API's `data`."""

    def __init__(self, message, status=0, data=None):
        super().__init__(message)
        self.status = status
        self.data = data


class PreconditionFailed(TailscaleError):
    """The policy file is no longer the version that was read (HTTP 412)."""


def _message(body):
    """The API's error message: {"message": ...} (API) or {"error": ..., "error_description": ...} (OAuth)."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return body[:200].decode(errors="replace").strip(), None
    if not isinstance(parsed, dict):
        return str(parsed)[:200], None
    if "error" in parsed and "message" not in parsed:
        return ": ".join(str(parsed[k]) for k in ("error", "error_description") if parsed.get(k)), None
    return str(parsed.get("message", "")), parsed.get("data")


def _policy_body(policy):
    """(request body, its Content-Type) of a policy file: text as written (HuJSON), a dict as JSON."""
    if isinstance(policy, str):
        return policy.encode(), "application/hujson"
    return json.dumps(policy, indent=2).encode(), "application/json"


class TailscaleAPI:
    def __init__(
        self,
        tailnet="-",
        base_url=DEFAULT_BASE_URL,
        api_key=None,
        oauth_client_id=None,
        oauth_client_secret=None,
        oauth_scopes=None,
        ca_path=None,
        validate_certs=True,
        timeout=30,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise TailscaleError(f"api_base_url {base_url!r} is not an http(s) URL, e.g. {DEFAULT_BASE_URL}")
        self.base_url = base_url.rstrip("/")
        self._parts = parts
        self.tailnet = tailnet
        self._api_key = api_key
        self._client = (oauth_client_id, oauth_client_secret)
        self._scopes = oauth_scopes or []
        self._timeout = timeout
        self._context = None
        if parts.scheme == "https":
            self._context = ssl.create_default_context(cafile=ca_path)
            if not validate_certs:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        self._authorization = None

    # -- transport ----------------------------------------------------------------------
    def _request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes) of one request; TailscaleError when no answer comes."""
        kind = http.client.HTTPSConnection if self._context else http.client.HTTPConnection
        extra = {"context": self._context} if self._context else {}
        connection = kind(self._parts.hostname, self._parts.port, timeout=self._timeout, **extra)
        try:
            connection.request(method, self._parts.path.rstrip("/") + path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        except (OSError, socket.timeout, http.client.HTTPException) as e:
            raise TailscaleError(f"the Tailscale API at {self.base_url} did not answer {method} {path}: {e}") from e
        finally:
            connection.close()

    def _token(self):
        """Exchange the OAuth client's id and secret for an access token (client credentials grant)."""
        client_id, secret = self._client
        form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        status, _headers, body = self._request(
            "POST", "/api/v2/oauth/token", urlencode(form), {"Content-Type": "application/x-www-form-urlencoded"}
        )
        message, _data = _message(body)
        if status != 200:
            raise TailscaleError(
                f"the OAuth token exchange at {self.base_url}/api/v2/oauth/token refused client {client_id} "
                f"(HTTP {status}: {message}): check the OAuth client's id and secret",
                status,
            )
        token = json.loads(body).get("access_token")
        if not token:
            raise TailscaleError(f"the OAuth token exchange at {self.base_url} answered without an access_token")
        return f"Bearer {token}"

    def _auth(self):
        if self._authorization is None:
            if self._api_key:
                self._authorization = "Basic " + base64.b64encode(f"{self._api_key}:".encode()).decode()
            else:
                self._authorization = self._token()
        return self._authorization

    def _call(self, method, what, body=None, headers=None):
        path = f"/api/v2/tailnet/{quote(self.tailnet, safe='')}/{what}"
        status, response_headers, data = self._request(
            method, path, body, {"Authorization": self._auth(), **(headers or {})}
        )
        if status < 400:
            return status, response_headers, data
        message, details = _message(data)
        where = f"{method} {self.base_url}{path}"
        if status == 412:
            raise PreconditionFailed(
                f"the tailnet policy file changed after this run read it (HTTP 412 from {where}: {message}): someone "
                "edited it (admin console, another run): nothing was written; run again to merge into the new version",
                status,
            )
        hint = {
            401: "the API key or the OAuth client's token was refused: check or renew it",
            403: "the credential may not do this: an OAuth client needs the policy_file scope "
            "(policy_file:read only reads), an API key an Admin, Network admin or Owner",
            404: f"check the tailnet name ({self.tailnet!r}; '-' is the credential's own tailnet)",
        }.get(status, "")
        raise TailscaleError(
            f"{where} answered HTTP {status}: {message}" + (f"; {hint}" if hint else ""), status, details
        )

    # -- the policy file ----------------------------------------------------------------
    def get_policy(self):
        """(the policy file as written, HuJSON text; its ETag)."""
        _status, headers, body = self._call("GET", "acl", headers={"Accept": "application/hujson"})
        etag = headers.get("ETag")
        if not etag:
            raise TailscaleError(f"{self.base_url}: the policy file came without an ETag; refusing to write blind")
        return body.decode(), etag

    def validate(self, policy):
        """None when POLICY (HuJSON text, or a dict) parses and its tests pass; else (message, data) of the API's
        answer."""
        content, kind = _policy_body(policy)
        _status, _headers, body = self._call("POST", "acl/validate", content, {"Content-Type": kind})
        message, data = _message(body) if body.strip() else ("", None)
        return (message, data) if message else None

    def set_policy(self, policy, etag):
        """Replace the policy file with POLICY (HuJSON text, or a dict) if it is still the version ETAG names;
        return the new ETag."""
        quoted = etag if etag.startswith('"') else f'"{etag}"'
        content, kind = _policy_body(policy)
        _status, headers, _body = self._call(
            "POST", "acl", content, {"Content-Type": kind, "Accept": "application/json", "If-Match": quoted}
        )
        return headers.get("ETag")
