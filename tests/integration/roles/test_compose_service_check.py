"""compose_service's check after a change (roles/compose_service/tasks/check.yml): a failing strict probe rolls the
change back, a failing probe with strict: false is reported and the change stays.

The check runs for real against a throw-away systemd test host (the lab's host image) and a real service there: a
small HTTP server under systemd that answers, for each model, the status its config file gives (read at start).
The play writes a new config with a backup, restarts the service and imports check.yml, as compose_service does.
"""

import json
import subprocess

import pytest
from helpers import REPO, podman_exec, run_on_test_host, systemd_host

HOST = "probed-host"
PORT = 8999
CONFIG = "/etc/probed/answers.json"
KEY = "sk-probe-key-never-shown-4e1f"
# The service: GET /health answers 200; a chat completion answers the status the config gives its model (read at
# start, so that only a restart on the previous file brings the previous answers back), with the error a provider
# gives, and 401 without the key of its env.
SERVER = f"""
import http.server, json, os
answers = json.load(open({CONFIG!r}))
key = open("/etc/probed/key").read().strip()
class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self._answer(200, {{"status": "ok"}})
    def do_POST(self):
        model = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["model"]
        if self.headers.get("Authorization") != "Bearer " + key:
            return self._answer(401, {{"error": {{"message": "no key"}}}})
        status = answers.get(model, 404)
        if status == 200:
            return self._answer(200, {{"choices": [{{"message": {{"content": "OK"}}}}]}})
        self._answer(status, {{"error": {{"message": model + ": the provider is down (Connection error.)"}}}})
http.server.HTTPServer(("127.0.0.1", {PORT}), Handler).serve_forever()
"""
UNIT = """[Unit]
Description=Probe test service
[Service]
ExecStart=/usr/bin/python3 /usr/local/bin/probed.py
"""
# The play: the change (a new config, with a backup of the previous one), the restart, then compose_service's check.
PLAY = [
    {
        "name": "A change checked by compose_service",
        "hosts": "all",
        "gather_facts": False,
        "vars": {
            "compose_service_name": "probed",
            "compose_service_health_urls": [f"http://127.0.0.1:{PORT}/health"],
            "compose_service_start_timeout": 15,
            "compose_service_env": {"PROBED_KEY": KEY},
            "__compose_service_env_written": {"changed": False},
            "__compose_service_unit": {"changed": False},
            "__compose_service_changed": True,
        },
        "tasks": [
            {
                "name": "Write the new config",
                "ansible.builtin.copy": {
                    "content": "{{ probed_answers | to_json }}",
                    "dest": CONFIG,
                    "backup": True,
                    "mode": "0644",
                },
                "loop": [CONFIG],
                "register": "__compose_service_files",
            },
            {"name": "Restart", "ansible.builtin.systemd_service": {"name": "probed", "state": "restarted"}},
            {"name": "Check", "ansible.builtin.import_tasks": str(REPO / "roles/compose_service/tasks/check.yml")},
        ],
    }
]
BEFORE = {"local": 200, "cloud": 200}


def _probe(name, strict=None):
    probe = {
        "name": name,
        "url": f"http://127.0.0.1:{PORT}/v1/chat/completions",
        "body": {"model": name, "max_tokens": 1, "messages": [{"role": "user", "content": "Say OK."}]},
        "key_env": "PROBED_KEY",
    }
    return probe if strict is None else {**probe, "strict": strict}


@pytest.fixture(scope="module")
def service_host(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("probed")
    (workdir / "probed.py").write_text(SERVER)
    (workdir / "probed.service").write_text(UNIT)
    with systemd_host("tnllm-probes") as name:
        podman_exec(name, "mkdir", "-p", "/etc/probed")
        for src, dest in (("probed.py", "/usr/local/bin/probed.py"), ("probed.service", "/etc/systemd/system/")):
            subprocess.run(["podman", "cp", str(workdir / src), f"{name}:{dest}"], check=True, capture_output=True)
        podman_exec(name, "sh", "-c", f"umask 077 && echo {KEY} > /etc/probed/key && systemctl daemon-reload")
        yield name


@pytest.fixture
def host(service_host):
    """The test host with the service running on the previous config, BEFORE."""
    podman_exec(service_host, "sh", "-c", f"echo '{json.dumps(BEFORE)}' > {CONFIG} && systemctl restart probed")
    return service_host


def _deploy(host, tmp_path, answers, probes):
    playbook = tmp_path / "play.json"
    playbook.write_text(json.dumps(PLAY))
    hostvars = {"probed_answers": answers, "compose_service_probes": probes}
    rc, output, _ = run_on_test_host(playbook, HOST, host, hostvars, tmp_path, timeout=300)
    assert KEY not in output
    return rc, " ".join(output.split())  # the callback wraps long messages


def _answers(host):
    """What the running service answers for each model now."""
    script = (
        "import json, urllib.request, urllib.error\n"
        f"key = open('/etc/probed/key').read().strip()\n"
        "for model in ('local', 'cloud'):\n"
        f"    r = urllib.request.Request('http://127.0.0.1:{PORT}/v1/chat/completions', "
        "json.dumps({'model': model}).encode(), {'Authorization': 'Bearer ' + key})\n"
        "    try:\n"
        "        print(model, urllib.request.urlopen(r).status)\n"
        "    except urllib.error.HTTPError as e:\n"
        "        print(model, e.code)\n"
    )
    out = podman_exec(host, "python3", "-c", script).stdout
    return {model: int(status) for model, status in (line.split() for line in out.splitlines())}


def _leftover_backups(host):
    return podman_exec(host, "sh", "-c", f"ls {CONFIG}.* 2>/dev/null", check=False).stdout.split()


def test_a_failing_lenient_probe_is_reported_and_the_change_stays(host, tmp_path):
    after = {"local": 200, "cloud": 500}
    rc, output = _deploy(host, tmp_path, after, [_probe("local"), _probe("cloud", strict=False)])
    assert rc == 0, output[-4000:]
    assert f"host {HOST}: probed: cloud answered 500: cloud: the provider is down (Connection error.)" in output
    assert "Rolled back" not in output
    assert json.loads(podman_exec(host, "cat", CONFIG).stdout) == after
    assert _answers(host) == after
    assert _leftover_backups(host) == []


@pytest.mark.parametrize(
    ("after", "probes", "failing"),
    [
        # The service's own model: a probe is strict unless it says otherwise.
        pytest.param({"local": 500, "cloud": 500}, [_probe("local"), _probe("cloud", strict=False)], "local", id="own"),
        # A model of another provider that the operator marked strict.
        pytest.param(
            {"local": 200, "cloud": 500}, [_probe("local"), _probe("cloud", strict=True)], "cloud", id="marked"
        ),
    ],
)
def test_a_failing_strict_probe_rolls_the_change_back(host, tmp_path, after, probes, failing):
    rc, output = _deploy(host, tmp_path, after, probes)
    assert rc != 0, output[-4000:]
    assert (
        f"host {HOST}: probed failed after the change: {failing} answered 500: {failing}: the provider is down"
        in output
    ), output[-4000:]
    assert f"Rolled back: the previous {CONFIG} are back and probed was restarted on them." in output
    assert json.loads(podman_exec(host, "cat", CONFIG).stdout) == BEFORE
    assert _answers(host) == BEFORE
    assert _leftover_backups(host) == []
