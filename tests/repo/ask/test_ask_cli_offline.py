"""The real `ask` client, run as a subprocess, on everything that needs no gateway: help, version,
usage errors, configuration precedence (seen through the URL it reports), an unreachable gateway,
start-up cost (which modules each command imports), and, against loopback stub servers, the
request on the wire and the protocol's edge cases: redirects, 200s that are not the expected
body, streams cut anywhere, TLS."""

import ast
import contextlib
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import ask_process
import loopback
import pytest
import yaml
from helpers import REPO, free_port

VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


@pytest.fixture
def env(tmp_path):
    return ask_process.clean_env(tmp_path)


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    return free_port()


def test_version_matches_the_collection(env):
    result = ask_process.run(["--version"], env)
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ask {version}\n", "")


def test_help_documents_every_option_and_exit_code(env):
    result = ask_process.run(["--help"], env)
    assert result.returncode == 0
    assert result.stderr == ""
    for option in re.findall(r'^    "(-[-a-z]+)"', ask_process.ASK.read_text(), re.M):
        assert option in result.stdout, option
    codes = ("0 success", "2 usage", "3 gateway unreachable", "4 authentication", "5 unknown model", "6 timeout")
    for code in (*codes, "7 refused: a budget is spent"):
        assert code in result.stdout
    for key in (
        "ASK_BASE_URL",
        "ASK_MODEL",
        "ASK_API_KEY",
        "ASK_API_KEY_DIR",
        "ASK_API_KEY_FILE",
        "~/.config/ask/config",
    ):
        assert key in result.stdout


def test_short_help_is_the_same(env):
    assert ask_process.run(["-h"], env).stdout == ask_process.run(["--help"], env).stdout


def test_python_runs_the_file_too(env):
    result = subprocess.run(
        ["/usr/bin/python3", str(ask_process.ASK), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, ask_process.run(["--version"], env).stdout, "")


def test_a_plain_python_script_run_by_the_system_python():
    text = ask_process.ASK.read_text()
    assert text.splitlines()[0] == "#!/usr/bin/python3 -IS"
    imported = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"os", "sys", "json", "re", "socket", "ssl", "http.client", "urllib.parse", "pwd"}
    for name in ("compile(", "marshal", "exec(", ".cache"):
        assert name not in text, name


def test_nothing_is_written_to_the_home_directory(tmp_path, env):
    assert ask_process.run(["--version"], env).returncode == 0
    assert list(tmp_path.iterdir()) == []


def imported_modules(args, env, script=True):
    """Modules `ask ARGS` (or, with script=False, `python3 ARGS`) imports beyond the interpreter's
    own start-up (as ask's shebang runs it) and `os` (frozen, ~0.3 ms)."""
    command = ["/usr/bin/python3", "-IS", "-X", "importtime", *([str(ask_process.ASK)] if script else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
    baseline = subprocess.run(
        ["/usr/bin/python3", "-IS", "-X", "importtime", "-c", "import os"], capture_output=True, text=True, check=True
    )

    def names(stderr):
        return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}

    return names(result.stderr) - names(baseline.stderr)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["--temperature", "9", "hi"]])
def test_help_version_and_usage_errors_import_nothing(env, args):
    assert imported_modules(args, env) == set()


@pytest.mark.parametrize("args", [["--list-models"], ["hi"], ["--usage"]])
def test_a_request_imports_only_http_client_and_json(env, closed_port, args):
    # http.client (with email, ssl and urllib.parse, which it imports itself) and json (re) are
    # what a request needs; ask adds nothing of its own to every start.
    env["ASK_BASE_URL"] = f"http://127.0.0.1:{closed_port}"
    assert imported_modules(args, env) == imported_modules(["-c", "import http.client, json"], env, script=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--bogus", "hi"], "unknown option --bogus", id="unknown-option"),
        pytest.param(["hi", "-m"], "-m needs a value", id="missing-value"),
        pytest.param(["--no-stream=yes", "hi"], "--no-stream takes no value", id="flag-with-value"),
        pytest.param(
            ["--temperature", "hot", "hi"], "--temperature must be a number between 0 and 2", id="temperature-nan"
        ),
        pytest.param(
            ["--temperature=2.5", "hi"], "--temperature must be a number between 0 and 2", id="temperature-high"
        ),
        pytest.param(["--max-tokens", "0", "hi"], "--max-tokens must be a positive whole number", id="max-tokens-zero"),
        pytest.param(
            ["--max-tokens", "1.5", "hi"], "--max-tokens must be a positive whole number", id="max-tokens-float"
        ),
        pytest.param(["--timeout", "-1", "hi"], "--timeout must be a number of seconds above 0", id="timeout-negative"),
        pytest.param(["--list-models", "hi"], "--list-models takes no prompt", id="list-models-with-prompt"),
        pytest.param(["--usage", "hi"], "--usage takes no prompt", id="usage-with-prompt"),
        pytest.param(["--usage", "--list-models"], "--list-models and --usage go one at a time", id="usage-and-list"),
        pytest.param([], "no prompt", id="no-prompt"),
        pytest.param(["--base-url", "ftp://akira:4000", "hi"], "must look like http(s)://HOST[:PORT]", id="url-scheme"),
        pytest.param(["--base-url", "akira:4000", "hi"], "must look like http(s)://HOST[:PORT]", id="url-no-scheme"),
        pytest.param(["--base-url", "http://", "hi"], "must look like http(s)://HOST[:PORT]", id="url-no-host"),
        pytest.param(["--base-url", "http://akira:port", "hi"], "bad port", id="url-bad-port"),
    ],
)
def test_usage_errors(env, args, message):
    result = ask_process.run(args, env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert "Try 'ask --help'." in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_stdin_is_no_prompt(env):
    result = ask_process.run([], env, stdin="  \n")
    assert result.returncode == 2
    assert "no prompt" in result.stderr


def test_unreachable_gateway_names_the_url(env, closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    for args in (["--list-models"], ["hi"]):
        result = ask_process.run([*args, "--base-url", url], env)
        assert result.returncode == 3
        assert result.stdout == ""
        assert result.stderr == f"ask: cannot reach the gateway at {url}: Connection refused\n"


def write_config(home, text, mode=0o600):
    path = Path(home) / ".config" / "ask" / "config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_precedence_flag_over_env_over_config_over_default(tmp_path, closed_port):
    def reported_url(**env_extra):
        result = ask_process.run(args, ask_process.clean_env(tmp_path, **env_extra))
        assert result.returncode == 3, result.stderr
        return result.stderr.split("gateway at ")[1].split(":")[:3]

    args = ["--list-models"]
    assert reported_url() == ["http", "//localhost", "4000"]
    write_config(tmp_path, f"# the lab\nexport ASK_BASE_URL='http://127.0.0.1:{closed_port}/v1'\n")
    assert reported_url() == ["http", "//127.0.0.1", f"{closed_port}/v1"]
    assert reported_url(ASK_BASE_URL="http://127.0.0.2:1") == ["http", "//127.0.0.2", "1"]
    args = ["--list-models", "--base-url", "http://127.0.0.3:2"]
    assert reported_url(ASK_BASE_URL="http://127.0.0.2:1") == ["http", "//127.0.0.3", "2"]


def test_config_file_follows_xdg_config_home(tmp_path, closed_port):
    config_home = tmp_path / "xdg"
    (config_home / "ask").mkdir(parents=True)
    (config_home / "ask" / "config").write_text(f"ASK_BASE_URL=http://127.0.0.1:{closed_port}\n")
    result = ask_process.run(["--list-models"], ask_process.clean_env(tmp_path, XDG_CONFIG_HOME=config_home))
    assert f"http://127.0.0.1:{closed_port}" in result.stderr


@pytest.mark.parametrize("line", ["ASK_BASE_URL http://x", "ASK_BASEURL=http://x", "OPENAI_API_KEY=sk-1"])
def test_bad_config_line_is_named(tmp_path, line):
    path = write_config(tmp_path, f"ASK_MODEL=default\n{line}\n")
    result = ask_process.run(["hi"], ask_process.clean_env(tmp_path))
    assert result.returncode == 2
    assert f"{path}:2: expected KEY=VALUE" in result.stderr


def test_world_readable_key_in_config_is_warned_about_and_not_shown(tmp_path, closed_port):
    key = "sk-config-secret-123"
    write_config(tmp_path, f"ASK_BASE_URL=http://127.0.0.1:{closed_port}\nASK_API_KEY={key}\n", mode=0o644)
    result = ask_process.run(["hi"], ask_process.clean_env(tmp_path))
    assert "holds ASK_API_KEY and others can read it: chmod 600 it" in result.stderr
    assert key not in result.stderr + result.stdout
    assert result.returncode == 3


@pytest.fixture
def full_backlog():
    """A loopback port whose listen queue is full: the kernel drops new connections' SYNs, as with a
    tailnet host that is down, so connecting hangs until ask's timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    waiting = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        waiting.append(client)
    yield port
    for s in [*waiting, server]:
        s.close()


def test_a_host_that_never_accepts_is_unreachable_after_the_timeout(env, full_backlog):
    url = f"http://127.0.0.1:{full_backlog}"
    start = time.monotonic()
    result = ask_process.run(["--timeout", "0.5", "--list-models", "--base-url", url], env)
    assert 0.4 < time.monotonic() - start < 10
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == f"ask: cannot reach the gateway at {url}: no answer within 0.5 s\n"


@contextlib.contextmanager
def tcp_server(handle):
    """A loopback TCP server that accepts one connection and hands it to HANDLE(conn, ending) in a
    thread, ENDING being an Event set when the block ends. Yields the server's http:// URL."""
    ending = threading.Event()

    def serve():
        with contextlib.suppress(OSError), server.accept()[0] as conn:
            handle(conn, ending)

    with socket.create_server(("127.0.0.1", 0), backlog=4) as server:
        server.settimeout(30)
        with loopback.in_thread(serve, ending.set):
            yield f"http://127.0.0.1:{server.getsockname()[1]}"


def raw_server(reply):
    """A loopback TCP server that reads the request and sends REPLY (bytes, or None: stay silent)."""

    def handle(conn, ending):
        conn.recv(65536)
        if reply is not None:
            conn.sendall(reply)
        ending.wait(30)

    return tcp_server(handle)


@pytest.mark.parametrize(
    ("reply", "code", "message"),
    [
        pytest.param(
            None, 6, "ask: timed out: the gateway at {url} sent nothing for 0.5 s (raise --timeout)", id="silent"
        ),
        pytest.param(
            b"SSH-2.0-OpenSSH_9.2\r\n", 1, "ask: {url} did not answer with HTTP: 'SSH-2.0-OpenSSH_9.2'", id="not-http"
        ),
        pytest.param(
            b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"data": [',
            6,
            "ask: timed out: the gateway at {url} sent nothing for 0.5 s (raise --timeout)",
            id="stalls-mid-body",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\nnope",
            1,
            "ask: {url}/v1/models did not answer with JSON"
            " (HTTP 200, Content-Type application/json, body starts 'nope')",
            id="not-json",
        ),
        pytest.param(
            b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"object": 1}\n',
            1,
            "ask: {url}/v1/models did not answer with a model list"
            """ (HTTP 200, no Content-Type, body starts '{{"object": 1}}\\n')""",
            id="not-a-model-list",
        ),
    ],
)
def test_a_server_that_is_not_a_gateway(env, reply, code, message):
    with raw_server(reply) as url:
        result = ask_process.run(["--timeout", "0.5", "--list-models", "--base-url", url], env)
    assert (result.returncode, result.stdout) == (code, "")
    assert result.stderr == message.format(url=url) + "\n"


@contextlib.contextmanager
def recording_server(reply, tls=None):
    """A loopback HTTP/1.1 server (over TLS with an ssl.SSLContext) that records one request
    (request line, headers, body) and sends REPLY: what ask puts on the wire, byte for byte, and how
    it reads an answer split anywhere."""
    seen = {}

    def handle(conn, ending):
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("Content-Length", 0)):
            body += conn.recv(65536)
        seen.update(request_line=lines[0], headers=headers, body=body)
        for piece in reply:
            conn.sendall(piece)
            time.sleep(0.01)

    with tcp_server(handle) as url:
        yield url, seen


COMPLETION = b'{"object": "chat.completion", "choices": [{"message": {"role": "assistant", "content": "Paris."}}]}'
PROMPT = 'Caf\u00e9 "quoted"\ttab \U0001f600 \\ back'


def sse_chunks(*texts):
    """A chunked text/event-stream answer whose events are cut at awkward places."""
    events = b"".join(
        b"data: " + json.dumps({"choices": [{"delta": {"content": t}}]}).encode() + b"\n\n" for t in texts
    )
    events += b"data: [DONE]\n\n"
    pieces = [events[i : i + 7] for i in range(0, len(events), 7)]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    return [head] + [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces] + [b"0\r\n\r\n"]


@pytest.mark.parametrize(
    ("args", "stdin", "extra_env", "body"),
    [
        pytest.param(
            ["--no-stream", PROMPT],
            None,
            {},
            {"model": "default", "messages": [{"role": "user", "content": PROMPT}], "stream": False},
            id="defaults",
        ),
        pytest.param(
            ["--no-stream", "-s", "Be brief.", "-mlab/smollm2", "--temperature", "0.5", "--max-tokens=7", "Review"],
            "def f():\n    pass\n",
            {"ASK_MODEL": "ignored"},
            {
                "model": "lab/smollm2",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Review\n\ndef f():\n    pass"},
                ],
                "stream": False,
                "temperature": 0.5,
                "max_tokens": 7,
            },
            id="every-option-and-stdin",
        ),
        pytest.param(
            ["--no-stream"],
            "question on stdin\n",
            {"ASK_MODEL": "akira/qwen2.5-7b"},
            {
                "model": "akira/qwen2.5-7b",
                "messages": [{"role": "user", "content": "question on stdin"}],
                "stream": False,
            },
            id="stdin-only-and-env-model",
        ),
    ],
)
def test_the_request_on_the_wire(env, args, stdin, extra_env, body):
    reply = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(COMPLETION), COMPLETION]
    with recording_server(reply) as (url, seen):
        key = "sk-wire-test-0123456789"
        result = ask_process.run(
            args, {**env, **extra_env, "ASK_BASE_URL": url + "/proxy/v1/", "ASK_API_KEY": key}, stdin
        )
    assert (result.returncode, result.stdout, result.stderr) == (0, "Paris.\n", "")
    assert seen["request_line"] == "POST /proxy/v1/chat/completions HTTP/1.1"
    assert seen["headers"]["Host"] == url.split("//")[1]
    assert seen["headers"]["Authorization"] == f"Bearer {key}"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert json.loads(seen["body"]) == body


def test_no_key_no_authorization_header(env):
    reply = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(COMPLETION), COMPLETION]
    with recording_server(reply) as (url, seen):
        result = ask_process.run(["--list-models", "--json"], {**env, "ASK_BASE_URL": url})
    assert result.returncode == 0
    assert result.stdout == COMPLETION.decode() + "\n"  # --json: the body exactly as sent
    assert seen["request_line"] == "GET /v1/models HTTP/1.1"
    assert "Authorization" not in seen["headers"]


def test_streamed_answer_cut_anywhere(env):
    texts = ["Hel", "lo, w\u00f6", "rld \U0001f600", "!"]
    with recording_server(sse_chunks(*texts)) as (url, seen):
        result = ask_process.run(["hi"], {**env, "ASK_BASE_URL": url})
    assert (result.returncode, result.stdout, result.stderr) == (0, "".join(texts) + "\n", "")
    assert json.loads(seen["body"])["stream"] is True


def test_an_error_mid_stream_is_reported(env):
    error = b'data: {"error": {"message": "backend went away"}}\n\n'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n"
    first = b'data: {"choices": [{"delta": {"content": "Par"}}]}\n\n'
    with recording_server([head % (len(first) + len(error)), first, error]) as (url, _):
        result = ask_process.run(["hi"], {**env, "ASK_BASE_URL": url})
    assert (result.returncode, result.stdout) == (1, "Par")
    assert result.stderr == "ask: the gateway failed mid-answer: backend went away\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1: (cert path, server context)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_https(env, certificate, host):
    cert, context = certificate
    models = b'{"data": [{"id": "a"}, {"id": "b/c"}]}'
    reply = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(models), models)]
    with recording_server(reply, tls=context) as (url, seen):
        url = url.replace("http://127.0.0.1", f"https://{host}")
        result = ask_process.run(["--list-models"], {**env, "ASK_BASE_URL": url, "SSL_CERT_FILE": str(cert)})
    assert (result.returncode, result.stdout, result.stderr) == (0, "a\nb/c\n", "")
    assert seen["request_line"] == "GET /v1/models HTTP/1.1"


def test_https_with_an_untrusted_certificate(env, certificate):
    with recording_server([], tls=certificate[1]) as (url, _):
        url = url.replace("http://", "https://")
        result = ask_process.run(["--list-models"], {**env, "ASK_BASE_URL": url})
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr.startswith(f"ask: cannot reach the gateway at {url}: TLS failed: ")
    assert "certificate" in result.stderr


# --- redirects ---------------------------------------------------------------------------------

MODELS = b'{"object": "list", "data": [{"id": "a"}, {"id": "b/c"}]}'
KEY = "sk-redirect-test-0123456789"


@contextlib.contextmanager
def stub_gateway(routes, host="127.0.0.1"):
    """A loopback HTTP/1.1 server that answers each request path from ROUTES (path -> (status,
    headers, body), looked up when the request comes, so a test can fill it in once it knows the
    URL) and records every request: yields (its URL, [loopback.Request(method, path, headers,
    body)]), header names in lower case."""
    seen = []

    def answer(request):
        seen.append(request)
        return routes.get(request.path, (404, {}, b'{"error": "no such path"}'))

    with loopback.http_stub(answer, host) as url:
        yield url, seen


def keyed(env, url):
    return {**env, "ASK_BASE_URL": url, "ASK_API_KEY": KEY}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_listing_follows_a_redirect_like_curl(env, status):
    routes = {
        "/v1/models": (status, {"Location": "/moved/v1/models"}, b""),
        "/moved/v1/models": (200, {"Content-Type": "application/json"}, MODELS),
    }
    with stub_gateway(routes) as (url, seen):
        result = ask_process.run(["--list-models"], keyed(env, url))
    assert (result.returncode, result.stdout, result.stderr) == (0, "a\nb/c\n", "")
    assert [(r.method, r.path) for r in seen] == [("GET", "/v1/models"), ("GET", "/moved/v1/models")]
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {KEY}"] * 2  # the same host and port


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("args", [["--no-stream", "hi"], ["hi"]], ids=["no-stream", "stream"])
def test_a_question_follows_307_and_308_with_its_method_and_body(env, status, args):
    answer = COMPLETION if "--no-stream" in args else b"".join(sse_events("Paris."))
    routes = {"/v1/chat/completions": (status, {"Location": "/new/v1/chat/completions?x=1"}, b"")}
    with stub_gateway(routes) as (url, seen):
        routes["/new/v1/chat/completions?x=1"] = (200, {}, answer)
        result = ask_process.run(args, keyed(env, url))
    assert (result.returncode, result.stdout, result.stderr) == (0, "Paris.\n", "")
    assert [(r.method, r.path) for r in seen] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/new/v1/chat/completions?x=1"),
    ]
    assert seen[0].body == seen[1].body
    assert json.loads(seen[1].body)["messages"] == [{"role": "user", "content": "hi"}]
    assert seen[1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("status", [301, 302, 303])
@pytest.mark.parametrize("args", [["--no-stream", "hi"], ["hi"]], ids=["no-stream", "stream"])
def test_a_question_is_not_turned_into_a_get(env, status, args):
    # curl -L would GET the new address; a question is a POST, so ask says where it was sent instead.
    routes = {
        "/v1/chat/completions": (status, {"Location": "/elsewhere/v1/chat/completions"}, b""),
        "/elsewhere/v1/chat/completions": (200, {}, COMPLETION),
    }
    with stub_gateway(routes) as (url, seen):
        result = ask_process.run(args, keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"ask: {url}/v1/chat/completions answered HTTP {status} redirecting to /elsewhere/v1/chat/completions: "
        "a question is not sent again as a GET (curl -L would): point ASK_BASE_URL (or --base-url) at the "
        "gateway's address\n"
    )
    assert [r.path for r in seen] == ["/v1/chat/completions"]


@pytest.mark.parametrize("other_host", ["127.0.0.2", "127.0.0.1"], ids=["other-host", "other-port"])
@pytest.mark.parametrize(
    ("args", "path", "status", "answer"),
    [
        pytest.param(["--list-models"], "/v1/models", 302, MODELS, id="list"),
        pytest.param(["--no-stream", "hi"], "/v1/chat/completions", 307, COMPLETION, id="ask"),
    ],
)
def test_the_key_does_not_follow_a_redirect_to_another_host(env, other_host, args, path, status, answer):
    routes, other_routes = {}, {path: (200, {}, answer)}
    with stub_gateway(other_routes, host=other_host) as (other_url, other_seen), stub_gateway(routes) as (url, seen):
        routes[path] = (status, {"Location": other_url + path}, b"")
        result = ask_process.run(args, keyed(env, url))
    assert (result.returncode, result.stderr) == (0, "")
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert [r.path for r in other_seen] == [path]
    assert "authorization" not in other_seen[0].headers


def test_a_key_refused_after_a_redirect_to_another_host_says_why(env):
    other_routes = {"/v1/models": (401, {}, b'{"error": {"message": "Authentication Error, no key"}}')}
    routes = {}
    with stub_gateway(other_routes, host="127.0.0.2") as (other_url, _), stub_gateway(routes) as (url, _):
        routes["/v1/models"] = (301, {"Location": other_url + "/v1/models"}, b"")
        result = ask_process.run(["--list-models"], keyed(env, url))
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr == (
        f"ask: the gateway at {url} refused the request (HTTP 401): "
        f"ASK_API_KEY is not sent to {other_url}, where the gateway redirected\n"
    )


def test_redirects_are_bounded(env):
    routes = {"/v1/models": (302, {"Location": "/v1/models"}, b"")}
    with stub_gateway(routes) as (url, seen):
        result = ask_process.run(["--list-models"], keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"ask: {url}/v1/models answered HTTP 302 redirecting to {url}/v1/models: more than 5 redirects, not following\n"
    )
    assert len(seen) == 6  # the request and 5 redirects followed


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        pytest.param(
            300,
            {"Location": "/v2/models"},
            "answered HTTP 300 redirecting to /v2/models: not an answer, and not a redirect ask follows",
            id="300",
        ),
        pytest.param(
            304,
            {},
            "answered HTTP 304 without a Location header: not an answer, and not a redirect ask follows",
            id="304",
        ),
        pytest.param(302, {}, "answered HTTP 302 (a redirect) without a Location header", id="302-no-location"),
        pytest.param(
            301,
            {"Location": "ftp://files.example/models"},
            "answered HTTP 301 redirecting to ftp://files.example/models, which is not an http(s)://HOST URL",
            id="301-to-ftp",
        ),
        pytest.param(
            308,
            {"Location": "http://127.0.0.1:notaport/v1/models"},
            "answered HTTP 308 redirecting to http://127.0.0.1:notaport/v1/models, which is not a valid URL",
            id="308-bad-url",
        ),
    ],
)
def test_a_redirect_that_is_not_followed_is_an_error(env, status, headers, message):
    with stub_gateway({"/v1/models": (status, headers, b"")}) as (url, seen):
        result = ask_process.run(["--list-models"], keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ask: {url}/v1/models {message}\n"
    assert len(seen) == 1


# --- a 200 that is not what was asked for --------------------------------------------------------

HTML = b"<!doctype html><html><body><h1>Sign in to the guest Wi-Fi</h1></body></html>"


def sse_events(*texts, done=True, finish=False):
    """The events of a streamed chat completion of TEXTS (one chunk each)."""
    events = [
        b"data: " + json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": {"content": t}}]}).encode()
        for t in texts
    ]
    if finish:
        events.append(b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}')
    if done:
        events.append(b"data: [DONE]")
    return [event + b"\n\n" for event in events]


QUESTIONS = {
    "list": ["--list-models"],
    "list-json": ["--list-models", "--json"],
    "no-stream": ["--no-stream", "hi"],
    "json": ["--json", "hi"],
    "stream": ["hi"],
}
BAD_BODIES = {
    "html": ("text/html; charset=utf-8", HTML),
    "empty": ("application/json", b""),
    "not-json": ("application/json", b"Internal Server Error"),
    "json-array": ("application/json", b"[1, 2, 3]"),
    "json-string": ("application/json", b'"ok"'),
}


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("bad", BAD_BODIES)
def test_a_200_that_is_not_the_expected_body_is_an_error_that_says_what_came_back(env, question, bad):
    content_type, body = BAD_BODIES[bad]
    answer = (200, {"Content-Type": content_type}, body)
    with stub_gateway({"/v1/models": answer, "/v1/chat/completions": answer}) as (url, _):
        result = ask_process.run(QUESTIONS[question], keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1
    assert f"HTTP 200, Content-Type {content_type}, " in result.stderr
    assert (f"body starts {body[:20].decode()!r}"[:-1] if body else "empty body") in result.stderr
    assert KEY not in result.stderr


@pytest.mark.parametrize(
    ("question", "body", "message"),
    [
        pytest.param("list", COMPLETION, "ask: {url}/v1/models did not answer with a model list", id="list"),
        pytest.param("no-stream", MODELS, "ask: {url} sent an answer that is not a chat completion", id="no-stream"),
        pytest.param(
            "stream",
            COMPLETION,  # a server that ignores "stream": true
            "ask: {url} answered the question with a line that is not an event, not an event stream of a chat "
            "completion",
            id="stream-not-streamed",
        ),
        pytest.param(
            "stream",
            b"".join(sse_events()),
            "ask: {url} answered the question with no answer, not an event stream of a chat completion",
            id="stream-done-only",
        ),
        pytest.param(
            "stream",
            b'data: {"object": "list", "data": []}\n\ndata: [DONE]\n\n',
            "ask: {url} answered the question with an event that is not a chat completion chunk, not an event "
            "stream of a chat completion",
            id="stream-other-events",
        ),
    ],
)
def test_a_200_of_other_json_is_an_error(env, question, body, message):
    answer = (200, {"Content-Type": "application/json"}, body)
    with stub_gateway({"/v1/models": answer, "/v1/chat/completions": answer}) as (url, _):
        result = ask_process.run(QUESTIONS[question], keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(message.format(url=url) + " (HTTP 200, Content-Type application/json, body starts ")


@pytest.mark.parametrize("question", ["list", "no-stream"])
def test_a_200_with_an_error_object_is_the_gateways_error(env, question):
    error = b'{"error": {"message": "Budget exceeded for this key", "type": "budget_exceeded"}}'
    answer = (200, {"Content-Type": "application/json"}, error)
    with stub_gateway({"/v1/models": answer, "/v1/chat/completions": answer}) as (url, _):
        result = ask_process.run(QUESTIONS[question], keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ask: the gateway at {url} answered HTTP 200 with an error: Budget exceeded for this key\n"


@pytest.mark.parametrize("question", ["list", "no-stream", "stream"])
def test_what_came_back_never_shows_the_key(env, question):
    # The key straddles the point where the excerpt is cut, and comes again later.
    body = b"x" * 90 + f"<p>Bearer {KEY}</p>".encode() * 3
    answer = (200, {"Content-Type": "text/html"}, body)
    with stub_gateway({"/v1/models": answer, "/v1/chat/completions": answer}) as (url, _):
        result = ask_process.run(QUESTIONS[question], keyed(env, url))
    assert result.returncode == 1
    assert "body starts 'xxx" in result.stderr
    assert KEY[:6] not in result.stderr + result.stdout


# --- streams cut anywhere ----------------------------------------------------------------------


def framed(body, framing, length=None):
    """An HTTP 200 event-stream reply carrying BODY: until the connection closes, with a
    Content-Length (LENGTH, when the body is cut short), or chunked (7 bytes a chunk; without the
    last chunk when cut)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    if framing == "close":
        return [head + b"\r\n", body]
    if framing == "length":
        return [head + b"Content-Length: %d\r\n\r\n" % (length or len(body)), body]
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    return [head + b"Transfer-Encoding: chunked\r\n\r\n"] + [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]


@pytest.mark.parametrize("framing", ["close", "length", "chunked"])
def test_a_stream_cut_anywhere_is_an_error(env, framing):
    events = sse_events("Hel", "lo")
    full = b"".join(events)  # ends "data: [DONE]\n\n": cut before its first newline, the stream is not over
    first, second = len(events[0]), len(events[0]) + len(events[1])
    cuts = sorted({1, 6, first - 3, first - 1, first, second - 2, second, len(full) - 5, len(full) - 2})
    for cut in cuts:
        with recording_server(framed(full[:cut], framing, length=len(full))) as (url, _):
            result = ask_process.run(["hi"], keyed(env, url))
        assert (result.returncode, result.stderr) == (1, f"ask: {url} closed the connection mid-answer\n"), cut
        assert "Hello".startswith(result.stdout), cut


@pytest.mark.parametrize("framing", ["close", "length", "chunked"])
def test_a_stream_ends_with_done_or_a_finish_reason(env, framing):
    for events in (sse_events("Hel", "lo"), sse_events("Hel", "lo", done=False, finish=True)):
        reply = framed(b"".join(events), framing)
        if framing == "chunked":
            reply.append(b"0\r\n\r\n")
        with recording_server(reply) as (url, _):
            result = ask_process.run(["hi"], keyed(env, url))
        assert (result.returncode, result.stdout, result.stderr) == (0, "Hello\n", "")


# --- budgets ------------------------------------------------------------------------------------


def budget_error(message, kind="budget_exceeded"):
    error = {"error": {"message": message, "type": kind, "param": None, "code": "422"}}
    return (422, {"Content-Type": "application/json"}, json.dumps(error).encode())


@pytest.mark.parametrize("question", ["stream", "no-stream", "json"])
@pytest.mark.parametrize(
    ("message", "line"),
    [
        pytest.param(
            "ExceededBudget: User=motoko over budget. Spend=6.0, Budget=5.0",
            "the budget of client motoko is spent (6.00 USD of 5.00 USD); `ask --usage` shows when it resets",
            id="client",
        ),
        pytest.param(
            "ExceededBudget: End User=motoko/alice over budget. Spend=4.25, Budget=3.0",
            "the budget of user motoko/alice is spent (4.25 USD of 3.00 USD); `ask --usage` shows when it resets",
            id="user",
        ),
        pytest.param(
            "Budget has been exceeded! Team=research Current cost: 6.0, Max budget: 5.0",
            "the budget of team research is spent (6.00 USD of 5.00 USD); `ask --usage` shows when it resets",
            id="team",
        ),
        pytest.param(
            f"Budget exceeded\n for key {KEY}",
            "a budget is spent (Budget exceeded for key ***)",
            id="unknown-wording",
        ),
    ],
)
def test_a_refusal_for_budget_is_exit_code_7_and_one_line(env, question, message, line):
    answer = budget_error(message)
    with stub_gateway({"/v1/chat/completions": answer}) as (url, _):
        result = ask_process.run(QUESTIONS[question], keyed(env, url))
    assert (result.returncode, result.stdout) == (7, "")
    assert result.stderr == f"ask: the gateway at {url} refused the request: {line}\n"


def test_a_422_of_another_kind_is_no_refusal_for_budget(env):
    answer = budget_error("[{'type': 'missing', 'loc': ('body', 'messages')}]", kind="invalid_request_error")
    with stub_gateway({"/v1/chat/completions": answer}) as (url, _):
        result = ask_process.run(QUESTIONS["no-stream"], keyed(env, url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"ask: the gateway at {url} answered HTTP 422: ")


def json_answer(value, status=200):
    return (status, {"Content-Type": "application/json"}, json.dumps(value).encode())


USER_INFO = {
    "user_id": "motoko",
    "user_info": {"user_id": "motoko", "spend": 6.5, "max_budget": 5.0, "budget_duration": "30d",
                  "budget_reset_at": "2027-01-01T00:00:00Z"},
}  # fmt: skip
CUSTOMER_INFO = {
    "user_id": "motoko/alice",
    "spend": 1.25,
    "litellm_budget_table": {"max_budget": None, "budget_duration": None, "budget_reset_at": None},
}
TEAM_INFO = {
    "team_id": "research",
    "team_info": {"spend": 2, "max_budget": 20, "budget_duration": None, "budget_reset_at": None},
}
NOT_FOUND = json_answer({"error": {"message": "none", "type": "not_found", "code": "404"}}, 404)


@pytest.mark.parametrize(
    ("routes", "lines"),
    [
        pytest.param(
            {"/user/info": json_answer(USER_INFO), "/customer/info": NOT_FOUND, "/team/info": NOT_FOUND},
            ["client motoko: 6.50 USD spent of 5.00 USD per 30d, 0.00 USD left, resets 2027-01-01 00:00 UTC"],
            id="client",
        ),
        pytest.param(
            {
                "/user/info": json_answer(USER_INFO),
                "/customer/info": json_answer(CUSTOMER_INFO),
                "/team/info": json_answer(TEAM_INFO),
            },
            [
                "client motoko: 6.50 USD spent of 5.00 USD per 30d, 0.00 USD left, resets 2027-01-01 00:00 UTC",
                "user motoko/alice: 1.25 USD spent, no budget",
                "team research: 2.00 USD spent of 20.00 USD (never reset), 18.00 USD left",
            ],
            id="user-of-a-team",
        ),
    ],
)
def test_usage_shows_each_budget_in_a_line(env, routes, lines):
    with stub_gateway(routes) as (url, seen):
        result = ask_process.run(["--usage"], keyed(env, url))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == lines
    assert [(r.method, r.path) for r in seen] == [
        ("GET", "/user/info"),
        ("GET", "/customer/info"),
        ("GET", "/team/info"),
    ]
    assert {r.headers["authorization"] for r in seen} == {f"Bearer {KEY}"}


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        pytest.param(
            json_answer({"error": {"message": "Database not connected. Connect a database", "type": "x"}}, 500),
            1,
            "ask: the gateway at {url} keeps no spend (it has no database)",
            id="no-database",
        ),
        pytest.param(
            json_answer({"error": {"message": "Authentication Error: invalid API key", "type": "auth_error"}}, 401),
            4,
            "ask: the gateway at {url} refused the request (HTTP 401): ASK_API_KEY was refused: check it",
            id="key-refused",
        ),
        pytest.param(
            json_answer({"user_id": "motoko"}),
            1,
            "ask: {url}/user/info did not answer with its numbers (HTTP 200, Content-Type application/json, body "
            """starts '{{"user_id": "motoko"}}')""",
            id="not-the-numbers",
        ),
    ],
)
def test_usage_errors_say_why(env, answer, code, message):
    with stub_gateway({"/user/info": answer}) as (url, _):
        result = ask_process.run(["--usage"], keyed(env, url))
    assert (result.returncode, result.stdout) == (code, "")
    assert result.stderr == message.format(url=url) + "\n"
