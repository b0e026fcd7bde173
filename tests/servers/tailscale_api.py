# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local HTTPS server that speaks the Tailscale API v2 endpoints of the tailnet policy file, and evaluates
policies as Tailscale does, for a subset of the policy language.

Written from Tailscale's API documentation (api.md of tailscale/tailscale, "ACL in the tailnet policy file",
and the OAuth clients page), so that the tailnet.llm.tailscale_policy module runs against it unchanged:

* ``POST /api/v2/oauth/token``: OAuth 2.0 client credentials (``client_id`` and ``client_secret`` in the form or
  in HTTP Basic, ``grant_type=client_credentials``, optional ``scope``) -> ``{"access_token", "token_type":
  "Bearer", "expires_in": 3600, "scope"}``; a wrong client is 401 ``{"error": "invalid_client", ...}`` (RFC 6749).
* ``GET /api/v2/tailnet/{tailnet}/acl``: the policy file as written (HuJSON, ``application/hujson``) or parsed
  (``Accept: application/json``), with an ``ETag`` header.
* ``POST /api/v2/tailnet/{tailnet}/acl``: replaces the file; with ``If-Match`` only if it names the current
  ETag (or ``"ts-default"`` while the file is the tailnet's untouched default), else 412 ``{"message":
  "precondition failed, invalid old hash"}``; a file that does not parse or whose tests fail is refused (400)
  with ``{"message", "data"}``.
* ``POST /api/v2/tailnet/{tailnet}/acl/validate``: a JSON object is a candidate file: HTTP 200 with ``{}`` when it
  parses and its tests pass, else ``{"message": "test(s) failed", "data": [{"user", "errors": ["address
  \\"X:PORT\\": want: Accept, got: Drop"]}]}``; a JSON array is tests run against the current file.
* Authentication: an API key as the Basic user name (or Bearer), or an OAuth access token as Bearer. No or a bad
  credential is 401, a token without the scope (``policy_file``, or ``policy_file:read`` for reads) 403, both
  with ``{"message"}``; another tailnet than the credential's (``-`` is its own) 404.

Policy evaluation (``evaluate``), the subset the collection uses: ``tagOwners``, ``groups``, ``hosts``,
``grants`` (``src``, ``dst``, ``ip``: ``*``, ``PORT``, ``PROTO:PORT``, ``PROTO:LOW-HIGH``, ``PROTO:*``),
``acls`` (``action: accept``, ``src``/``users``, ``dst``/``ports`` as ``TARGET:PORTS``, ``proto``),
``autoApprovers`` (approvers checked), ``tests`` (``src``/``user``, ``proto``, ``accept``/``allow``, ``deny``).
Sources and destinations: ``*``, users (``name@domain``), ``group:``, ``tag:`` (a device with that tag),
``autogroup:member``, ``autogroup:admin``, ``autogroup:tagged``, host aliases, IP addresses and CIDRs. Deny by
default: a connection is accepted when one rule matches its source, destination, protocol and port. A tag used
anywhere must be in ``tagOwners``, a group in ``groups`` (``tag not found: "tag:x"``, as Tailscale words it); a test
without ``proto`` checks TCP. Messages of other parse errors are this server's own wording.

``on_read`` (a callable) runs after every policy read, before the answer leaves: a test makes an "admin console
edit" there. ``requests`` records every request (method, path, status).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import ipaddress
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from kvserver import HTTPSServer

# A new tailnet's policy file: everyone reaches everything (Tailscale's default, in its shape).
DEFAULT_POLICY = """// Example/default ACLs for unrestricted connections.
{
  // Declare static groups of users. Use autogroups for all users or users with a specific role.
  // "groups": {
  //   "group:example": ["alice@example.com", "bob@example.com"],
  // },

  // Define access control lists for users, groups, autogroups, tags,
  // Tailscale IP addresses, and subnet ranges.
  "acls": [
    // Allow all connections.
    {"action": "accept", "src": ["*"], "dst": ["*:*"]},
  ],

  // Define users and devices that can use Tailscale SSH.
  "ssh": [
    {
      "action": "check",
      "src":    ["autogroup:member"],
      "dst":    ["autogroup:self"],
      "users":  ["autogroup:nonroot", "root"],
    },
  ],
}
"""
SECTIONS = {
    "acls", "grants", "groups", "hosts", "tagOwners", "autoApprovers", "tests", "ssh", "sshTests", "nodeAttrs",
    "postures", "defaultSrcPosture", "ipsets", "derpMap", "disableIPv4", "randomizeClientPort", "oneCGNATRoute",
}  # fmt: skip
AUTOGROUPS = {"autogroup:member", "autogroup:admin", "autogroup:tagged", "autogroup:self", "autogroup:nonroot"}
PROTOCOLS = {"tcp", "udp", "icmp"}
READ_SCOPES, WRITE_SCOPES = {"policy_file", "policy_file:read", "all", "all:read"}, {"policy_file", "all"}


class PolicyError(ValueError):
    """A policy file Tailscale would refuse: message, and data (per test source) when tests failed."""

    def __init__(self, message, data=None):
        super().__init__(message)
        self.data = data


# -- HuJSON -----------------------------------------------------------------------------------
def parse_hujson(text):
    """Parse HuJSON (JSON with // and /* */ comments and trailing commas) into Python values."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise PolicyError("hujson: unterminated block comment")
            i = end + 2
        else:
            out.append(text[i])
            i += 1
    standard = "".join(out)
    # Trailing commas: a comma followed only by whitespace before a closing bracket.
    cleaned, k = [], 0
    while k < len(standard):
        ch = standard[k]
        if ch == '"':
            j = k + 1
            while j < len(standard) and standard[j] != '"':
                j += 2 if standard[j] == "\\" else 1
            cleaned.append(standard[k : j + 1])
            k = j + 1
            continue
        if ch == ",":
            rest = standard[k + 1 :].lstrip()
            if rest[:1] in ("]", "}"):
                k += 1
                continue
        cleaned.append(ch)
        k += 1
    try:
        return json.loads("".join(cleaned))
    except ValueError as e:
        raise PolicyError(f"hujson: {e}") from e


# -- policy evaluation ------------------------------------------------------------------------
def _port_range(text):
    if text == "*":
        return 0, 65535
    low, _, high = text.partition("-")
    low, high = int(low), int(high or low)
    if not 0 <= low <= high <= 65535:
        raise ValueError(text)
    return low, high


def _grant_ip(spec):
    """(protocols, low, high) of one entry of a grant's `ip`."""
    if spec == "*":
        return PROTOCOLS, 0, 65535
    proto, sep, ports = spec.partition(":")
    if not sep:
        if spec in PROTOCOLS:
            return {spec}, 0, 65535
        return {"tcp", "udp"}, *_port_range(spec)
    if proto not in PROTOCOLS:
        raise ValueError(spec)
    return {proto}, *_port_range(ports)


def _acl_dst(entry):
    """(target, [(low, high)]) of an ACL destination TARGET:PORTS."""
    target, _, ports = entry.rpartition(":")
    if not target:
        raise ValueError(entry)
    return target, [_port_range(p) for p in ports.split(",")]


@functools.lru_cache(maxsize=4096)
def _address(value):
    """The network (or /32, /128 address) VALUE names, or None for a name."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


class Policy:
    """A parsed policy file and the questions Tailscale answers about it."""

    def __init__(self, document, admins=()):
        if not isinstance(document, dict):
            raise PolicyError("policy file must be a JSON object")
        unknown = sorted(set(document) - SECTIONS)
        if unknown:
            raise PolicyError(f'unknown field "{unknown[0]}"')
        self.doc = document
        self.admins = set(admins)
        self.tags = set(document.get("tagOwners") or {})
        self.groups = {name: set(members) for name, members in (document.get("groups") or {}).items()}
        self.hosts = {name: _address(value) for name, value in (document.get("hosts") or {}).items()}
        self.rules = list(self._rules())

    # -- names ------------------------------------------------------------------------------
    def check_name(self, name, where):
        if name == "*" or "@" in name or _address(name) is not None or name in self.hosts:
            return
        if name.startswith("tag:") and name not in self.tags:
            raise PolicyError(f'{where}tag not found: "{name}"')
        if name.startswith("group:") and name not in self.groups:
            raise PolicyError(f'{where}group not found: "{name}"')
        if name.startswith("autogroup:") and name not in AUTOGROUPS:
            raise PolicyError(f'{where}autogroup not found: "{name}"')
        if not name.startswith(("tag:", "group:", "autogroup:")):
            raise PolicyError(f'{where}host not found: "{name}"')

    def _rules(self):
        """(sources, [(target, protocols, low, high)]) of every grant and accept ACL, names checked."""
        for grant in self.doc.get("grants") or []:
            for name in grant.get("src") or []:
                self.check_name(name, "src=")
            try:
                ips = [_grant_ip(spec) for spec in grant.get("ip") or ["*"]]
            except ValueError as e:
                raise PolicyError(f'grant: invalid ip "{e}"') from e
            targets = []
            for name in grant.get("dst") or []:
                self.check_name(name, "dst=")
                targets += [(name, protos, low, high) for protos, low, high in ips]
            yield list(grant.get("src") or []), targets
        for acl in self.doc.get("acls") or []:
            if acl.get("action") != "accept":
                raise PolicyError(f'acl: action "{acl.get("action")}" is not "accept"')
            sources = acl.get("src") or acl.get("users") or []
            for name in sources:
                self.check_name(name, "src=")
            proto = acl.get("proto")
            if proto is not None and proto not in PROTOCOLS:
                raise PolicyError(f'acl: unknown proto "{proto}"')
            protos = {proto} if proto else PROTOCOLS
            targets = []
            for entry in acl.get("dst") or acl.get("ports") or []:
                try:
                    target, ranges = _acl_dst(entry)
                except ValueError as e:
                    raise PolicyError(f'dst="{entry}": want TARGET:PORTS') from e
                self.check_name(target, "dst=")
                targets += [(target, protos, low, high) for low, high in ranges]
            yield list(sources), targets

    # -- matching ----------------------------------------------------------------------------
    def _identities(self, src):
        """What a rule's source may name to match traffic from SRC."""
        names = {"*", src}
        if src.startswith("tag:"):
            names.add("autogroup:tagged")
        elif "@" in src:
            names |= {"autogroup:member"} | {g for g, members in self.groups.items() if src in members}
            if src in self.admins:
                names.add("autogroup:admin")
        elif src.startswith(("group:", "autogroup:admin")):
            names.add("autogroup:member")
        return names

    def _source_matches(self, rule_source, src, identities):
        if rule_source in identities:
            return True
        if rule_source.startswith(("tag:", "group:", "autogroup:")):
            return False
        network = self.hosts.get(rule_source) or _address(rule_source)
        address = self.hosts.get(src) or _address(src)
        return network is not None and address is not None and address.subnet_of(network)

    def _target_matches(self, rule_target, target):
        if rule_target in ("*", target) or (rule_target == "autogroup:tagged" and target.startswith("tag:")):
            return True
        if rule_target.startswith(("tag:", "group:", "autogroup:")):
            return False
        network = self.hosts.get(rule_target) or _address(rule_target)
        address = self.hosts.get(target) or _address(target)
        return network is not None and address is not None and address.subnet_of(network)

    def evaluate(self, src, destination, proto="tcp"):
        """ "Accept" or "Drop": what Tailscale does with a connection from SRC to TARGET:PORT over PROTO."""
        target, _, port = destination.rpartition(":")
        port = int(port)
        identities = self._identities(src)
        for sources, targets in self.rules:
            if not any(self._source_matches(s, src, identities) for s in sources):
                continue
            for rule_target, protos, low, high in targets:
                if proto in protos and low <= port <= high and self._target_matches(rule_target, target):
                    return "Accept"
        return "Drop"

    # -- validation --------------------------------------------------------------------------
    def check(self, tests=None):
        """Raise PolicyError unless the file is consistent and every test (its own, or TESTS) passes."""
        for name, owners in (self.doc.get("tagOwners") or {}).items():
            if not name.startswith("tag:"):
                raise PolicyError(f'tagOwners: "{name}" is not a tag')
            for owner in owners:
                self.check_name(owner, f"tagOwners[{name}]: ")
        approvers = self.doc.get("autoApprovers") or {}
        for route, names in (approvers.get("routes") or {}).items():
            if _address(route) is None:
                raise PolicyError(f'autoApprovers: route "{route}" is not a network')
            for name in names:
                self.check_name(name, "autoApprovers: ")
        for name in approvers.get("exitNode") or []:
            self.check_name(name, "autoApprovers: ")
        failures = {}
        for test in (self.doc.get("tests") or []) if tests is None else tests:
            src = test.get("src") or test.get("user")
            if not src:
                raise PolicyError("test: no src")
            self.check_name(src, "test: src=")
            proto = test.get("proto", "tcp")
            if proto not in PROTOCOLS:
                raise PolicyError(f'test: unknown proto "{proto}"')
            for want, key in (("Accept", "accept"), ("Accept", "allow"), ("Drop", "deny")):
                for destination in test.get(key) or []:
                    self.check_name(destination.rpartition(":")[0], "test: ")
                    got = self.evaluate(src, destination, proto)
                    if got != want:
                        failures.setdefault(src, []).append(f'address "{destination}": want: {want}, got: {got}')
        if failures:
            raise PolicyError("test(s) failed", [{"user": user, "errors": errors} for user, errors in failures.items()])


# -- the server --------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    status: int


@dataclass
class State:
    tailnet: str
    text: str = DEFAULT_POLICY
    is_default: bool = True
    api_keys: set = field(default_factory=set)
    oauth_clients: dict = field(default_factory=dict)  # client id -> (secret, scopes)
    tokens: dict = field(default_factory=dict)  # access token -> (scopes, expiry)
    admins: set = field(default_factory=set)
    log: list = field(default_factory=list)
    on_read: object = None
    lock: threading.RLock = field(default_factory=threading.RLock)


class TailscaleAPIServer(HTTPSServer):
    """The server, in a thread of this process: a context manager, or start()/stop()."""

    name = "tailscale-api"

    def __init__(self, tailnet="example.com", tls_dir=None):
        self.state = State(tailnet=tailnet)
        super().__init__(_Handler, tls_dir)

    # -- control (tests) -----------------------------------------------------------------------
    def add_api_key(self):
        key = f"tskey-api-k{secrets.token_hex(6)}CNTRL-{secrets.token_urlsafe(24)}"
        self.state.api_keys.add(key)
        return key

    def add_oauth_client(self, scopes=("policy_file",)):
        client_id = f"k{secrets.token_hex(6)}CNTRL"
        secret = f"tskey-client-{client_id}-{secrets.token_urlsafe(24)}"
        self.state.oauth_clients[client_id] = (secret, set(scopes))
        return client_id, secret

    def set_policy(self, text):
        """Replace the file as an edit in the admin console does."""
        with self.state.lock:
            self.state.text, self.state.is_default = text, False

    @property
    def policy_text(self):
        return self.state.text

    @property
    def policy(self):
        return parse_hujson(self.state.text)

    @property
    def etag(self):
        return '"' + hashlib.sha256(self.state.text.encode()).hexdigest() + '"'

    def requests(self, method=None):
        with self.state.lock:
            return [r for r in self.state.log if method is None or r.method == method]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet
        pass

    @property
    def state(self) -> State:
        return self.server.owner.state

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        with self.state.lock:
            self.state.log.append(Request(self.command, urlsplit(self.path).path, status))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def _route(self):
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.split("/") if p]
        body = self._body()
        if parts == ["api", "v2", "oauth", "token"] and self.command == "POST":
            return self._token(body)
        if len(parts) >= 5 and parts[:3] == ["api", "v2", "tailnet"] and parts[4] == "acl":
            scopes = self._authenticate()
            if scopes is None:
                return None
            if parts[3] not in ("-", self.state.tailnet):
                return self._send(404, {"message": "tailnet not found"})
            what = (self.command, tuple(parts[5:]))
            if what == ("GET", ()):
                return self._allowed(scopes, READ_SCOPES) and self._get_policy()
            if what == ("POST", ()):
                return self._allowed(scopes, WRITE_SCOPES) and self._set_policy(body)
            if what == ("POST", ("validate",)):
                return self._allowed(scopes, READ_SCOPES) and self._validate(body)
        return self._send(404, {"message": "not found"})

    # -- authentication -----------------------------------------------------------------------
    def _token(self, body):
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            form.setdefault("client_id", user)
            form.setdefault("client_secret", password)
        if form.get("grant_type") != "client_credentials":
            return self._send(400, {"error": "unsupported_grant_type", "error_description": "want client_credentials"})
        client = self.state.oauth_clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client[0], form.get("client_secret", "")):
            return self._send(401, {"error": "invalid_client", "error_description": "invalid client id or secret"})
        scopes = set(form["scope"].split()) if form.get("scope") else client[1]
        if not scopes <= client[1]:
            return self._send(400, {"error": "invalid_scope", "error_description": "scope exceeds the client's"})
        token = f"tskey-api-{secrets.token_urlsafe(32)}"
        with self.state.lock:
            self.state.tokens[token] = (scopes, time.time() + 3600)
        self._send(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": " ".join(sorted(scopes))}
        )

    def _authenticate(self):
        """The credential's scopes (an API key has all), or None after answering 401."""
        auth = self.headers.get("Authorization", "")
        credential = ""
        if auth.startswith("Basic "):
            credential = base64.b64decode(auth[6:]).decode(errors="replace").partition(":")[0]
        elif auth.startswith("Bearer "):
            credential = auth[7:]
        if credential in self.state.api_keys:
            return {"all"}
        scopes, expiry = self.state.tokens.get(credential, (None, 0))
        if scopes is not None and expiry > time.time():
            return scopes
        self._send(401, {"message": "API token invalid"})
        return None

    def _allowed(self, scopes, needed):
        if scopes & needed:
            return True
        self._send(403, {"message": "calling actor does not have enough permissions to perform this function"})
        return False

    # -- the policy file ----------------------------------------------------------------------
    def _get_policy(self):
        with self.state.lock:
            text, etag = self.state.text, self.server.owner.etag
            if self.state.on_read is not None:
                self.state.on_read()
        if self.headers.get("Accept") == "application/json":
            return self._send(200, parse_hujson(text), headers={"ETag": etag})
        self._send(200, text.encode(), "application/hujson", {"ETag": etag})

    def _checked(self, body, tests=None):
        """The parsed candidate, or None after answering with what is wrong (status 400)."""
        try:
            document = parse_hujson(body.decode())
            Policy(document, self.state.admins).check(tests)
        except PolicyError as e:
            self._send(400, {"message": str(e), "data": e.data} if e.data else {"message": str(e)})
            return None
        return document

    def _set_policy(self, body):
        with self.state.lock:
            match = self.headers.get("If-Match")
            current = self.server.owner.etag
            if match is not None and match != current and not (match == '"ts-default"' and self.state.is_default):
                return self._send(412, {"message": "precondition failed, invalid old hash"})
            document = self._checked(body)
            if document is None:
                return None
            self.state.text, self.state.is_default = body.decode(), False
            etag = self.server.owner.etag
        if self.headers.get("Accept") == "application/json":
            return self._send(200, document, headers={"ETag": etag})
        return self._send(200, body, "application/hujson", {"ETag": etag})

    def _validate(self, body):
        try:
            candidate = parse_hujson(body.decode())
            if isinstance(candidate, list):  # tests against the current file
                Policy(parse_hujson(self.state.text), self.state.admins).check(candidate)
            else:
                Policy(candidate, self.state.admins).check()
        except PolicyError as e:
            return self._send(200, {"message": str(e), "data": e.data} if e.data else {"message": str(e)})
        self._send(200, {})
