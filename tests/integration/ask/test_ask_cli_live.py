"""The real `ask` client against the real LiteLLM proxy (and llama.cpp behind it) on loopback:
every flag, stdin, streaming, each error path and its exit code, and redirects to either."""

import json
import os
import pwd
import signal
import subprocess
import time

import loopback
import pytest
from ask_process import ASK, clean_env, run

QUESTION = "What is the capital of France?"


def ask_json(args, env, stdin=None):
    result = run(["--json", *args], env, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def prompt_tokens(args, env, stdin=None):
    return ask_json(["--max-tokens", "1", *args], env, stdin)["usage"]["prompt_tokens"]


# --- listing models ---------------------------------------------------------------------------


def test_list_models(ask_env, ask_gateway):
    result = run(["--list-models"], ask_env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == list(ask_gateway.models)


def test_list_models_json(ask_env, ask_gateway):
    result = run(["--list-models", "--json"], ask_env)
    assert result.returncode == 0
    assert [m["id"] for m in json.loads(result.stdout)["data"]] == list(ask_gateway.models)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_v1(ask_env, ask_gateway, suffix):
    result = run(["--list-models", "--base-url", ask_gateway.url + suffix], ask_env)
    assert result.stdout.splitlines() == list(ask_gateway.models)


# --- asking ------------------------------------------------------------------------------------


def test_question_streams_only_the_answer_to_stdout(ask_env):
    result = run(["--max-tokens", "24", QUESTION], ask_env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip()
    assert result.stdout.endswith("\n")
    assert "data:" not in result.stdout


def read_chunks(args, env):
    """Run ask and note when each piece of its stdout arrives: [(seconds, bytes)], exit code."""
    start = time.monotonic()
    proc = subprocess.Popen([str(ASK), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
    chunks = []
    while data := os.read(proc.stdout.fileno(), 65536):
        chunks.append((time.monotonic() - start, data))
    proc.stdout.close()
    return chunks, proc.wait(timeout=60)


def test_streaming_writes_tokens_as_they_arrive(ask_env):
    chunks, code = read_chunks(["--temperature", "0", "--max-tokens", "64", "Tell me a story about a cat."], ask_env)
    assert code == 0
    assert len(chunks) >= 5
    assert chunks[-1][0] - chunks[0][0] > 0.05  # the first words came well before the last ones


def test_no_stream_writes_the_answer_at_once(ask_env):
    chunks, code = read_chunks(["--no-stream", "--max-tokens", "64", "Tell me a story about a cat."], ask_env)
    assert code == 0
    assert len(chunks) == 1


def test_stream_and_no_stream_give_the_same_answer_at_temperature_0(ask_env):
    args = ["--temperature", "0", "--max-tokens", "24", QUESTION]
    streamed = run(args, ask_env)
    waited = run(["--no-stream", *args], ask_env)
    again = run(args, ask_env)
    assert streamed.returncode == waited.returncode == 0
    assert streamed.stdout == waited.stdout == again.stdout


def test_model_flag_and_env(ask_env):
    chosen = ask_json(["-m", "lab/smollm2", "--max-tokens", "4", QUESTION], ask_env)
    assert chosen["model"] == "lab/smollm2"
    assert ask_json(["--max-tokens", "4", QUESTION], {**ask_env, "ASK_MODEL": "lab/smollm2"})["model"] == "lab/smollm2"
    assert ask_json(["--max-tokens", "4", QUESTION], ask_env)["model"] == "default"
    assert ask_json(["--model=default", "--max-tokens", "4", QUESTION], ask_env)["model"] == "default"


def test_max_tokens_limits_the_answer(ask_env):
    answer = ask_json(["--max-tokens", "3", "Write a long essay about the sea."], ask_env)
    assert answer["usage"]["completion_tokens"] <= 3
    assert answer["choices"][0]["finish_reason"] == "length"


def test_json_prints_the_raw_chat_completion(ask_env):
    answer = ask_json(["--max-tokens", "8", QUESTION], ask_env)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"]


def test_system_prompt_is_sent(ask_env):
    # (SmolLM2's chat template puts in a default system prompt when there is none: compare two.)
    short = prompt_tokens(["-s", "Be brief.", QUESTION], ask_env)
    long = prompt_tokens(
        ["--system", "You are a helpful coding assistant who answers in French, politely.", QUESTION], ask_env
    )
    assert long > short + 5


def test_stdin_alone_is_the_question(ask_env):
    result = run([], ask_env, stdin=QUESTION + "\n")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip()
    assert prompt_tokens([], ask_env, stdin=QUESTION) == prompt_tokens([QUESTION], ask_env)


def test_stdin_is_context_for_the_prompt(ask_env):
    code = "def add(a, b):\n    return a - b\n"
    instruction = "Review this code for bugs"
    both = prompt_tokens([instruction], ask_env, stdin=code)
    assert both > prompt_tokens([instruction], ask_env) + 5
    assert both > prompt_tokens([], ask_env, stdin=code) + 3
    result = run(["--max-tokens", "16", instruction], ask_env, stdin=code)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip()


def test_llama_cpp_directly_without_a_key(ask_gateway, tmp_path):
    env = clean_env(tmp_path, ASK_BASE_URL=ask_gateway.backend_url + "/v1")
    result = run(["-m", "smollm2", "--max-tokens", "8", QUESTION], env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip()


# --- the API key -------------------------------------------------------------------------------


def test_key_from_the_config_file(ask_gateway, tmp_path):
    config = tmp_path / ".config" / "ask" / "config"
    config.parent.mkdir(parents=True)
    config.write_text(f"ASK_BASE_URL={ask_gateway.url}\nASK_API_KEY={ask_gateway.api_key}\n")
    config.chmod(0o600)
    result = run(["--list-models"], clean_env(tmp_path))
    assert (result.returncode, result.stderr) == (0, "")


def test_key_from_a_key_file(ask_gateway, tmp_path):
    key_file = tmp_path / "api_key"
    key_file.write_text(ask_gateway.api_key + "\n")
    env = clean_env(tmp_path, ASK_BASE_URL=ask_gateway.url, ASK_API_KEY_FILE=key_file)
    assert run(["--list-models"], env).returncode == 0


def _key_dir(tmp_path, key):
    """ASK_API_KEY_DIR holding KEY for the user running the tests (None: no file for them)."""
    directory = tmp_path / "keys"
    directory.mkdir()
    if key is not None:
        (directory / pwd.getpwuid(os.getuid()).pw_name).write_text(key + "\n")
    return directory


@pytest.mark.parametrize(
    ("personal", "shared", "works"),
    [
        pytest.param("right", "wrong", True, id="the-personal-key-comes-first"),
        pytest.param("wrong", "right", False, id="a-wrong-personal-key-is-not-replaced"),
        pytest.param(None, "right", True, id="no-personal-key-the-shared-one"),
    ],
)
def test_key_from_the_personal_key_directory(ask_gateway, tmp_path, personal, shared, works):
    keys = {"right": ask_gateway.api_key, "wrong": "sk-wrong-key-0123456789", None: None}
    shared_file = tmp_path / "api_key"
    shared_file.write_text(keys[shared] + "\n")
    env = clean_env(
        tmp_path,
        ASK_BASE_URL=ask_gateway.url,
        ASK_API_KEY_DIR=_key_dir(tmp_path, keys[personal]),
        ASK_API_KEY_FILE=shared_file,
    )
    assert run(["--list-models"], env).returncode == (0 if works else 4)


def test_an_unreadable_personal_key_is_named(ask_gateway, tmp_path):
    mine = _key_dir(tmp_path, None) / pwd.getpwuid(os.getuid()).pw_name
    mine.mkdir()  # reading it fails as a file without permission does (the tests run as root, who reads any file)
    result = run(["--list-models"], clean_env(tmp_path, ASK_BASE_URL=ask_gateway.url, ASK_API_KEY_DIR=mine.parent))
    assert result.returncode == 4
    assert result.stderr.endswith(f"cannot read your key in ASK_API_KEY_DIR, {mine}: Is a directory\n")


@pytest.mark.parametrize(
    ("settings", "hint"),
    [
        pytest.param({}, "set ASK_API_KEY (or ASK_API_KEY_FILE)", id="no-key"),
        pytest.param({"ASK_API_KEY": "sk-wrong-key-0123456789"}, "ASK_API_KEY was refused: check it", id="wrong-key"),
        pytest.param(
            {"ASK_API_KEY_FILE": "/nonexistent/api_key"},
            "cannot read ASK_API_KEY_FILE /nonexistent/api_key: No such file or directory",
            id="missing-key-file",
        ),
    ],
)
@pytest.mark.parametrize("args", [["--list-models"], [QUESTION]], ids=["list", "ask"])
def test_auth_refused(ask_gateway, tmp_path, settings, hint, args):
    result = run(args, clean_env(tmp_path, ASK_BASE_URL=ask_gateway.url, **settings))
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.startswith(f"ask: the gateway at {ask_gateway.url} refused the request (HTTP 4")
    assert result.stderr.endswith(f"{hint}\n")
    assert "sk-" not in result.stderr


# --- other errors ------------------------------------------------------------------------------


def test_unknown_model_lists_the_available_ones(ask_env, ask_gateway):
    result = run(["-m", "akira/nope", QUESTION], ask_env)
    assert result.returncode == 5
    assert result.stdout == ""
    assert result.stderr == f"ask: unknown model 'akira/nope'. Available models: {', '.join(ask_gateway.models)}\n"


def test_gateway_error_is_reported_in_one_line(ask_env, ask_gateway):
    result = run(["-m", "lab/offline", QUESTION], ask_env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"ask: the gateway at {ask_gateway.url} answered HTTP 5")
    assert result.stderr.count("\n") == 1
    assert ask_gateway.api_key not in result.stderr


def test_timeout(ask_env, ask_gateway):
    start = time.monotonic()
    result = run(
        ["--no-stream", "--timeout", "0.2", "--max-tokens", "300", "Write a long essay about the sea."], ask_env
    )
    assert time.monotonic() - start < 10
    assert result.returncode == 6
    assert result.stdout == ""
    assert result.stderr == (
        f"ask: timed out: the gateway at {ask_gateway.url} sent nothing for 0.2 s (raise --timeout)\n"
    )


def test_ctrl_c_exits_130_without_a_traceback(ask_env):
    """Ctrl-C mid-answer, as in a terminal: SIGINT at its default action in `ask` (a command started in the
    background by a shell without job control, as CI may start the tests, inherits SIGINT ignored, and Python then
    leaves it ignored)."""
    args = ["--temperature", "0", "--max-tokens", "400", "Write a long essay about the sea."]
    proc = subprocess.Popen(
        [str(ASK), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ask_env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert os.read(proc.stdout.fileno(), 1)  # the answer has started
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.decode() == "\nask: interrupted\n"


def test_closed_pipe_exits_quietly(ask_env):
    script = (
        f'{ASK} --max-tokens 200 "Write a long essay about the sea." | head -c 1 >/dev/null; echo "${{PIPESTATUS[0]}}"'
    )
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=ask_env, timeout=60, check=False
    )
    assert result.stdout == "141\n"
    assert result.stderr == ""


# --- redirects to the real servers -------------------------------------------------------------


def redirector(status, to):
    """A loopback server on another port that answers every request with STATUS and a Location of
    TO plus the request's path: a gateway that moved. A context manager that yields its URL."""
    return loopback.http_stub(lambda request: (status, {"Location": to + request.path}, b""))


@pytest.mark.parametrize(
    ("status", "args"),
    [
        (301, ["--list-models"]),
        (307, ["-m", "smollm2", "--max-tokens", "8", QUESTION]),
        (308, ["-m", "smollm2", "--no-stream", "--max-tokens", "8", QUESTION]),
    ],
)
def test_a_redirect_to_llama_cpp_is_followed(ask_gateway, tmp_path, status, args):
    with redirector(status, ask_gateway.backend_url) as url:
        result = run(args, clean_env(tmp_path, ASK_BASE_URL=url))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip()


@pytest.mark.parametrize("args", [["--list-models"], [QUESTION]], ids=["list", "ask"])
def test_the_key_does_not_follow_a_redirect_to_another_port(ask_gateway, tmp_path, args):
    # The redirector listens on another port than the gateway: another origin, so the key stays
    # home and LiteLLM refuses the request.
    status = 302 if args == ["--list-models"] else 307
    with redirector(status, ask_gateway.url) as url:
        result = run(args, clean_env(tmp_path, ASK_BASE_URL=url, ASK_API_KEY=ask_gateway.api_key))
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr == (
        f"ask: the gateway at {url} refused the request (HTTP 401): "
        f"ASK_API_KEY is not sent to {ask_gateway.url}, where the gateway redirected\n"
    )


def test_a_question_redirected_with_302_is_not_sent_as_a_get(ask_gateway, ask_env):
    with redirector(302, ask_gateway.url) as url:
        result = run([QUESTION], {**ask_env, "ASK_BASE_URL": url})
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"ask: {url}/v1/chat/completions answered HTTP 302 redirecting to {ask_gateway.url}/v1/chat/completions: "
    )
    assert ask_gateway.api_key not in result.stderr
