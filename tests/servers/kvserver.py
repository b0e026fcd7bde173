# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local HTTPS server that speaks Azure Key Vault's secrets REST API and the Entra ID (AAD) token API.

It lets the real `azure-identity` and `azure-keyvault-secrets` clients run against this machine:

* AAD (what MSAL talks to, with ``authority_host=https://127.0.0.1:PORT``):
  ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and ``POST /{tenant}/oauth2/v2.0/token``
  (client credentials with a client secret, or a client assertion signed by a registered
  certificate or a federated token). Access tokens are HS256 JWTs carrying tid, appid, aud and exp.
* Key Vault: ``GET /secrets/{name}[/{version}]``, ``PUT /secrets/{name}``, ``DELETE /secrets/{name}``,
  ``GET /secrets/{name}/versions``, all requiring ``api-version``. A request without a valid bearer token
  gets 401 with the challenge header; a principal without access gets 403; a missing secret 404, with the
  error bodies the real service sends.

``delay`` makes it answer every request after that many seconds (a round trip to Azure); ``log`` records
every request (for tests that count challenge round trips and token requests). Run it as a script for a
server in its own process (the benchmark does): it prints one JSON line with its URL and CA file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import ipaddress
import json
import secrets as pysecrets
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

API_VERSIONS = {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}
VAULT_RESOURCE = "https://vault.azure.net"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(subject, public_key, issuer, signing_key, lifetime, extensions=()):
    """A certificate valid from five minutes ago for `lifetime`; extensions: (extension, critical) pairs."""
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def make_tls_files(directory, dns_names=()):
    """Write a CA and a server certificate for 127.0.0.1/localhost (+ dns_names); return (ca, cert, key)."""
    directory = Path(directory)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("tailnet.llm test Key Vault CA")
    ca = _certificate(
        ca_name,
        ca_key.public_key(),
        ca_name,
        ca_key,
        dt.timedelta(days=2),
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.KeyUsage(True, False, False, False, False, True, True, False, False), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    names += [x509.DNSName(name) for name in dns_names]
    cert = _certificate(
        _name("localhost"),
        key.public_key(),
        ca_name,
        ca_key,
        dt.timedelta(days=1),
        [
            (x509.SubjectAlternativeName(names), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return tuple(str(p) for p in paths)


def make_client_certificate(path, common_name="tailnet.llm test app"):
    """Write an RSA key and its self-signed certificate to `path` (what a certificate credential reads).

    Returns the certificate's PEM, to register with add_principal(certificate_pem=...).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _name(common_name)
    cert = _certificate(name, key.public_key(), name, key, dt.timedelta(hours=1))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    Path(path).write_bytes(_pem_key(key) + cert_pem)
    return cert_pem


@dataclass
class Principal:
    """An app registration: a client id with a secret, a certificate, or a federated token."""

    client_id: str
    secret: str | None = None
    certificate_pem: bytes | None = None  # public certificate of a certificate credential
    federated_token: str | None = None
    can_read: bool = True  # has 'get' on secrets (RBAC Key Vault Secrets User)


@dataclass
class SecretVersion:
    version: str
    value: str
    created: int
    enabled: bool = True
    content_type: str | None = None


@dataclass
class Request:
    method: str
    path: str
    query: dict
    authorized: bool  # carried a bearer token the vault accepted
    status: int
    kind: str  # "token", "openid", "vault"


@dataclass
class State:
    tenant: str
    secrets: dict = field(default_factory=dict)  # name -> [SecretVersion, ...] (latest last)
    principals: dict = field(default_factory=dict)  # client_id -> Principal
    delay: float = 0.0
    log: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HTTPSServer:
    """A local HTTPS server in a thread of this process, with its own CA (ca_file, for the client to trust):
    a context manager, or start()/stop(). The stand-ins for vendors' APIs extend it (Key Vault here, Tailscale's
    in tailscale_api.py); HANDLER answers the requests, and reaches the server object as self.server.owner."""

    name = "https-server"

    def __init__(self, handler, tls_dir=None, port=0, dns_names=()):
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.name}-") if tls_dir is None else None
        self.ca_file, cert_file, key_file = make_tls_files(tls_dir or self._tmp.name, dns_names)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._httpd = _HTTPServer(("127.0.0.1", port), handler, context, self)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(5)
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class KeyVaultServer(HTTPSServer):
    """The Key Vault and Entra ID server, running in a thread of this process."""

    name = "kvserver"

    def __init__(self, tls_dir=None, tenant=None, port=0, dns_names=()):
        self.state = State(tenant=tenant or str(uuid.uuid4()))
        self._signing_key = pysecrets.token_bytes(32)
        super().__init__(_Handler, tls_dir, port, dns_names)

    # -- control (tests) ------------------------------------------------------------------
    def lookup_options(self, principal):
        """The tailnet.llm.azure_keyvault lookup's options (as azure_keyvault_* variables) that reach this server as
        PRINCIPAL, whose client secret the lookup reads from AZURE_CLIENT_SECRET; no retries."""
        return {
            "azure_keyvault_url": self.url,
            "azure_keyvault_auth": "service_principal",
            "azure_keyvault_tenant_id": self.tenant,
            "azure_keyvault_client_id": principal.client_id,
            "azure_keyvault_authority_host": self.url,
            "azure_keyvault_disable_instance_discovery": True,
            "azure_keyvault_verify_challenge_resource": False,
            "azure_keyvault_retries": 0,
        }

    @property
    def tenant(self):
        return self.state.tenant

    @property
    def delay(self):
        return self.state.delay

    @delay.setter
    def delay(self, seconds):
        self.state.delay = seconds

    def add_principal(self, client_id=None, secret=None, certificate_pem=None, federated_token=None, can_read=True):
        principal = Principal(client_id or str(uuid.uuid4()), secret, certificate_pem, federated_token, can_read)
        with self.state.lock:
            self.state.principals[principal.client_id] = principal
        return principal

    def set_secret(self, name, value, enabled=True, content_type=None):
        """Add a new version of a secret; return its version id."""
        version = SecretVersion(uuid.uuid4().hex, value, int(time.time()), enabled, content_type)
        with self.state.lock:
            self.state.secrets.setdefault(name, []).append(version)
        return version.version

    def delete_secret(self, name):
        with self.state.lock:
            self.state.secrets.pop(name, None)

    def requests(self, kind=None):
        with self.state.lock:
            return [r for r in self.state.log if kind is None or r.kind == kind]

    def clear_log(self):
        with self.state.lock:
            self.state.log.clear()

    # -- tokens ---------------------------------------------------------------------------
    def issue_token(self, principal, audience=VAULT_RESOURCE, lifetime=3600):
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant}/",
            "tid": self.tenant,
            "appid": principal.client_id,
            "oid": principal.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "xms_cc": ["CP1"],
        }
        return jwt.encode(claims, self._signing_key, algorithm="HS256")

    def token_principal(self, token):
        try:
            claims = jwt.decode(token, self._signing_key, algorithms=["HS256"], audience=VAULT_RESOURCE)
        except jwt.PyJWTError:
            return None
        if claims.get("tid") != self.tenant:
            return None
        return self.state.principals.get(claims.get("appid"))


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, context, owner):
        self.context = context
        self.owner = owner
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's own thread, not in the accepting one.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.RequestHandlerClass(tls, client_address, self)

    def handle_error(self, request, client_address):
        # A client that hangs up (a timeout test) is not an error of the server.
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, format, *args):  # quiet
        pass

    @property
    def kv(self) -> KeyVaultServer:
        return self.server.owner

    # -- plumbing -------------------------------------------------------------------------
    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body=None, headers=None, kind="vault", authorized=False):
        state = self.kv.state
        if state.delay:
            time.sleep(state.delay)
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-keyvault-service-version", "1.9.1234.1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Logged before the answer leaves, so a client that has its answer finds the request in the log.
        url = urlsplit(self.path)
        with state.lock:
            state.log.append(Request(self.command, url.path, parse_qs(url.query), authorized, status, kind))
        # Headers and body in one write, as a real server does (two small writes meet delayed ACKs).
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def _error(self, status, code, message, inner=None, **kw):
        error = {"code": code, "message": message}
        if inner:
            error["innererror"] = {"code": inner}
        self._send(status, {"error": error}, **kw)

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    def do_DELETE(self):
        self._route()

    def _route(self):
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if parts and parts[0] == "secrets":
            return self._vault(parts[1:], query)
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self._openid(parts[0])
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"] and self.command == "POST":
            return self._token(parts[0])
        self._body()
        self._error(404, "NotFound", f"No route for {self.command} {url.path}", kind="other")

    # -- Entra ID -------------------------------------------------------------------------
    def _authority(self, tenant):
        return f"https://{self.headers.get('Host')}/{tenant}"

    def _openid(self, tenant):
        base = self._authority(tenant)
        if tenant != self.kv.tenant:
            return self._send(
                400,
                {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."},
                kind="openid",
            )
        self._send(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "tenant_region_scope": "EU",
            },
            kind="openid",
        )

    def _token(self, tenant):
        form = {k: v[-1] for k, v in parse_qs(self._body().decode()).items()}

        def fail(status, error, description):
            self._send(
                status,
                {
                    "error": error,
                    "error_description": description,
                    "error_codes": [int(description[6:].split(":")[0])] if description.startswith("AADSTS") else [],
                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                    "trace_id": str(uuid.uuid4()),
                    "correlation_id": str(uuid.uuid4()),
                },
                kind="token",
            )

        if tenant != self.kv.tenant:
            return fail(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return fail(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        principal = self.kv.state.principals.get(client_id)
        if principal is None:
            return fail(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if not self._client_authenticated(principal, form):
            return fail(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                f"being sent in the request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{client_id}'.",
            )
        scope = form.get("scope", "")
        if scope.split()[0:1] != [VAULT_RESOURCE + "/.default"]:
            return fail(400, "invalid_scope", f"AADSTS70011: The provided value for scope {scope} is not valid.")
        self._send(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.kv.issue_token(principal),
            },
            kind="token",
        )

    def _client_authenticated(self, principal, form):
        if "client_secret" in form:
            return principal.secret is not None and pysecrets.compare_digest(form["client_secret"], principal.secret)
        if form.get("client_assertion_type") != JWT_BEARER or "client_assertion" not in form:
            return False
        assertion = form["client_assertion"]
        if principal.federated_token is not None:
            return pysecrets.compare_digest(assertion, principal.federated_token)
        if principal.certificate_pem is None:
            return False
        public_key = x509.load_pem_x509_certificate(principal.certificate_pem).public_key()
        try:
            claims = jwt.decode(
                assertion, public_key, algorithms=["RS256", "PS256", "ES256"], options={"verify_aud": False}
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == principal.client_id and claims.get("sub") == principal.client_id

    # -- Key Vault ------------------------------------------------------------------------
    def _challenge(self):
        return {
            "WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{self.kv.tenant}", '
            f'resource="{VAULT_RESOURCE}"'
        }

    def _vault(self, parts, query):
        body = self._body()
        api_version = query.get("api-version")
        if not api_version:
            return self._error(
                400,
                "BadParameter",
                "The request URI contains an invalid API version parameter: api-version is missing.",
            )
        if api_version not in API_VERSIONS:
            return self._error(
                400,
                "BadParameter",
                f"The specified version ({api_version}) is not recognized. "
                "Consider using the latest supported version (2025-07-01).",
            )
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._error(
                401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", headers=self._challenge()
            )
        principal = self.kv.token_principal(auth[len("Bearer ") :])
        if principal is None:
            return self._error(
                401,
                "Unauthorized",
                f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{self.kv.tenant}/.",
                headers=self._challenge(),
            )
        if not principal.can_read:
            action = {"GET": "getSecret", "PUT": "setSecret", "DELETE": "deleteSecret"}.get(self.command, "?")
            return self._error(
                403,
                "Forbidden",
                f"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments "
                f"or role definitions were changed recently, please observe propagation time.\r\nCaller: "
                f"appid={principal.client_id};oid={principal.client_id};iss=https://sts.windows.net/"
                f"{self.kv.tenant}/\r\nAction: 'Microsoft.KeyVault/vaults/secrets/{action}/action'\r\n"
                f"Resource: '/subscriptions/0000/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv/"
                f"secrets/{parts[0] if parts else ''}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\n"
                f"DecisionReason: null \r\nVault: kv;location=westeurope\r\n",
                inner="ForbiddenByRbac",
                authorized=True,
            )
        self._secrets_api(parts, body, authorized=True)

    def _bundle(self, name, version):
        host = self.headers.get("Host")
        bundle = {
            "value": version.value,
            "id": f"https://{host}/secrets/{name}/{version.version}",
            "attributes": {
                "enabled": version.enabled,
                "created": version.created,
                "updated": version.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": {},
        }
        if version.content_type:
            bundle["contentType"] = version.content_type
        return bundle

    def _secrets_api(self, parts, body, authorized):
        state = self.kv.state
        if not parts or len(parts) > 2:
            return self._error(400, "BadParameter", "Invalid secret path.", authorized=authorized)
        name = parts[0]
        if self.command == "PUT" and len(parts) == 1:
            value = json.loads(body or b"{}").get("value")
            if not isinstance(value, str):
                return self._error(400, "BadParameter", "Property 'value' is required.", authorized=authorized)
            self.kv.set_secret(name, value)
            with state.lock:
                latest = state.secrets[name][-1]
            return self._send(200, self._bundle(name, latest), authorized=authorized)
        if self.command == "DELETE" and len(parts) == 1:
            with state.lock:
                versions = state.secrets.pop(name, None)
            if versions is None:
                return self._not_found(name, authorized)
            deleted = self._bundle(name, versions[-1])
            del deleted["value"]
            return self._send(200, deleted, authorized=authorized)
        if self.command != "GET":
            return self._error(405, "MethodNotAllowed", "Method not allowed.", authorized=authorized)
        with state.lock:
            versions = list(state.secrets.get(name, []))
        if len(parts) == 2 and parts[1] == "versions":
            items = [{k: v for k, v in self._bundle(name, ver).items() if k != "value"} for ver in versions]
            return self._send(200, {"value": items, "nextLink": None}, authorized=authorized)
        if not versions:
            return self._not_found(name, authorized)
        if len(parts) == 2 and parts[1]:
            matches = [v for v in versions if v.version == parts[1].lower()]
            if not matches:
                return self._not_found(f"{name}/{parts[1]}", authorized)
            version = matches[0]
        else:
            version = versions[-1]
        if not version.enabled:
            return self._error(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                inner="SecretDisabled",
                authorized=authorized,
            )
        self._send(200, self._bundle(name, version), authorized=authorized)

    def _not_found(self, what, authorized):
        self._error(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {what} was not found in this key vault. If you "
            "recently deleted this secret you may be able to recover it using the correct recovery "
            "command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?"
            "linkid=2125182",
            authorized=authorized,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--tls-dir", required=True, help="where to write ca.pem, server.pem and server.key")
    parser.add_argument("--dns-name", action="append", default=[], help="extra name in the certificate")
    parser.add_argument("--secrets", default="", help="JSON file: {name: value} to load")
    parser.add_argument("--principals", default="", help="JSON file: [{client_id, secret, can_read}]")
    parser.add_argument("--tenant", default=None)
    args = parser.parse_args(argv)
    server = KeyVaultServer(args.tls_dir, tenant=args.tenant, port=args.port, dns_names=args.dns_name)
    server.delay = args.delay
    if args.secrets:
        for name, value in json.loads(Path(args.secrets).read_text()).items():
            server.set_secret(name, value)
    if args.principals:
        for principal in json.loads(Path(args.principals).read_text()):
            server.add_principal(**principal)
    server.start()
    print(
        json.dumps({"url": server.url, "port": server.port, "ca_file": server.ca_file, "tenant": server.tenant}),
        flush=True,
    )
    try:
        sys.stdin.read()  # runs until its parent closes stdin (or dies)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
