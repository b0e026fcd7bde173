"""The real `ask` client, run as a subprocess, on everything that needs no gateway: help, version,
usage errors, configuration precedence (seen through the URL it reports), an unreachable gateway,
and start-up cost (which modules each command imports)."""

import contextlib
import functools
import json
import marshal
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "servers"))
import ask_process

REPO = ask_process.REPO
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


@pytest.fixture
def env(tmp_path):
    return ask_process.clean_env(tmp_path)


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    for code in ("0 success", "2 usage", "3 gateway unreachable", "4 authentication", "5 unknown model", "6 timeout"):
        assert code in result.stdout
    for key in ("ASK_BASE_URL", "ASK_MODEL", "ASK_API_KEY", "ASK_API_KEY_FILE", "~/.config/ask/config"):
        assert key in result.stdout


def test_short_help_is_the_same(env):
    assert ask_process.run(["-h"], env).stdout == ask_process.run(["--help"], env).stdout


def loader():
    """The code sh hands to `/usr/bin/python3 -IS -c` (the lines between the shebang and the docstring)."""
    text = ask_process.ASK.read_text()
    return text.split('"exec" "/usr/bin/python3" "-IS" "-c" """', 1)[1].split('""" "$0" "$@"', 1)[0]


def test_sh_runs_the_system_python_in_isolated_mode_through_the_loader():
    lines = ask_process.ASK.read_text().splitlines()
    assert lines[0] == "#!/bin/sh"
    assert lines[2] == '"exec" "/usr/bin/python3" "-IS" "-c" """'
    assert "$" not in loader()
    assert "`" not in loader()
    assert "\\" not in loader()  # nothing sh would expand inside the double quotes


def test_python_runs_the_file_too(env):
    result = subprocess.run(
        ["/usr/bin/python3", str(ask_process.ASK), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, ask_process.run(["--version"], env).stdout, "")


def cache_files(home):
    return sorted((Path(home) / ".cache" / "ask").iterdir())


def test_compiled_code_is_cached_privately_and_reused(tmp_path, env):
    assert ask_process.run(["--version"], env).returncode == 0
    (cache,) = cache_files(tmp_path)
    assert cache.parent.stat().st_mode & 0o777 == 0o700
    assert cache.stat().st_mode & 0o777 == 0o600
    before = cache.stat()
    assert ask_process.run(["--version"], env).returncode == 0
    assert cache_files(tmp_path) == [cache]
    assert (cache.stat().st_ino, cache.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # The cached code is what runs: put another program in its place.
    cache.write_bytes(marshal.dumps(compile("print('from the cache')", "x", "exec")))
    assert ask_process.run(["--version"], env).stdout == "from the cache\n"


@pytest.mark.parametrize(
    ("content", "mode"),
    [
        pytest.param(marshal.dumps(compile("print('from the cache')", "x", "exec")), 0o666, id="writable-by-others"),
        pytest.param(marshal.dumps(compile("print('from the cache')", "x", "exec")), 0o620, id="writable-by-group"),
        pytest.param(b"\xe3garbage", 0o600, id="corrupt"),
        pytest.param(b"", 0o600, id="empty"),
    ],
)
def test_an_untrusted_or_broken_cache_is_replaced(tmp_path, env, content, mode):
    ask_process.run(["--version"], env)
    (cache,) = cache_files(tmp_path)
    cache.write_bytes(content)
    cache.chmod(mode)
    result = ask_process.run(["--version"], env)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ask {VERSION}\n", "")
    assert cache.stat().st_mode & 0o777 == 0o600
    assert marshal.loads(cache.read_bytes()).co_filename == str(ask_process.ASK)


def test_no_writable_cache_still_works(tmp_path, env):
    (tmp_path / "not-a-dir").write_text("")
    result = ask_process.run(["--version"], {**env, "XDG_CACHE_HOME": str(tmp_path / "not-a-dir")})
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ask {VERSION}\n", "")


def test_a_changed_file_is_compiled_again(tmp_path, env):
    copy = tmp_path / "ask"
    copy.write_bytes(ask_process.ASK.read_bytes())
    copy.chmod(0o755)
    run = functools.partial(subprocess.run, capture_output=True, text=True, env=env, check=True)
    assert run([str(copy), "--version"]).stdout == f"ask {VERSION}\n"
    copy.write_text(copy.read_text().replace(f'__version__ = "{VERSION}"', '__version__ = "9.9.9"'))
    assert run([str(copy), "--version"]).stdout == "ask 9.9.9\n"
    assert len(cache_files(tmp_path)) == 2


def imported_modules(args, env):
    """Modules `ask ARGS` (through its loader) imports beyond the interpreter's own start-up and
    `os` (frozen, ~0.3 ms)."""
    command = ["/usr/bin/python3", "-IS", "-X", "importtime", "-c", loader(), str(ask_process.ASK), *args]
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


def test_a_request_imports_only_the_builtin_socket_module(env, closed_port):
    # socket.py (enum, selectors), json (re), http.client (email) and the idna codec each cost
    # milliseconds at every start; _socket is built into the interpreter.
    env["ASK_BASE_URL"] = f"http://127.0.0.1:{closed_port}"
    assert imported_modules(["--list-models"], env) == {"_socket"}
    assert imported_modules(["hi"], env) == {"_socket", "_json"}


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
def raw_server(reply):
    """A loopback TCP server that reads the request and sends REPLY (bytes, or None: stay silent)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(30)
    stop = threading.Event()

    def serve():
        with contextlib.suppress(OSError), server.accept()[0] as conn:
            conn.recv(65536)
            if reply is not None:
                conn.sendall(reply)
            stop.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        thread.join(timeout=35)


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
            "ask: {url}/v1/models did not answer with JSON",
            id="not-json",
        ),
        pytest.param(
            b'HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"object": 1}\n',
            1,
            "ask: {url}/v1/models did not answer with a model list",
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
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(30)
    seen = {}

    def serve():
        with contextlib.suppress(OSError), server.accept()[0] as conn:
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

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    finally:
        thread.join(timeout=35)
        server.close()


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
