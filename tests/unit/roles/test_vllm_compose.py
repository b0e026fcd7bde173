"""The vllm role's docker-compose.yml per accelerator profile, rendered by Ansible from the role's template.

Devices, capabilities and labels follow vLLM's and AMD's documented container settings; secrets never
reach the compose file (podman-compose would put env_file values on podman's command line).
"""

import pytest
import yaml
from helpers import render

SECRET = "hf_Th1s-value must 'never' be in the compose file $HOME"
ONE = [
    {
        "name": "akira-local",
        "host": "127.0.0.1",
        "port": 8000,
        "models": [
            {"id": "qwen2.5-7b", "alias": "akira/qwen2.5-7b", "max_model_len": 32768, "source": "Qwen/Qwen2.5-7B"}
        ],
    },
    # Served elsewhere: no container here.
    {"name": "tachikoma", "host": "tachikoma", "port": 8000, "models": [{"id": "llama3-8b", "alias": "t/llama3"}]},
]
TWO = [*ONE, {"name": "akira-small", "host": "localhost", "port": 8001, "models": [{"id": "phi-4", "alias": "a/phi"}]}]
PROFILES = ["rocm", "cuda", "cpu"]
ENTRYPOINT = [
    "/bin/sh",
    "-c",
    'set -a && . /run/secrets/vllm.env && exec "$@"',
    "vllm",
    "python3",
    "-m",
    "vllm.entrypoints.openai.api_server",
]
IMAGES = {
    "rocm": "docker.io/vllm/vllm-openai-rocm:",
    "cuda": "docker.io/vllm/vllm-openai:",
    "cpu": "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:",
}


def _case(profile, backends, **more):
    return (
        "docker-compose.yml.j2",
        {
            "vllm_accelerator": profile,
            "vllm_backends": backends,
            "vllm_env_secrets": {"HF_TOKEN": SECRET},
            "vllm_env": {"HF_HUB_OFFLINE": "1"},
            **more,
        },
    )


CASES = {
    **{f"{profile}-one": _case(profile, ONE) for profile in PROFILES},
    **{f"{profile}-two": _case(profile, TWO) for profile in PROFILES},
    # a monitoring host reads this host: its GPU exporter runs beside vLLM (the fleet's port)
    "rocm-exporter": _case("rocm", ONE, vllm_gpu_exporter_port=5000),
    "cuda-exporter": _case("cuda", ONE, vllm_gpu_exporter_port=9400),
    "cpu-exporter": _case("cpu", ONE, vllm_gpu_exporter_port=9400),
    "cpu-lab": _case(
        "cpu",
        ONE,
        vllm_image="localhost/tailnet-llm/vllm-cpu:lab",
        vllm_extra_args=["--dtype", "bfloat16", "--enforce-eager"],
        vllm_shm_size="1g",
        vllm_base_dir="/srv/vllm",
        vllm_cache_dir="/srv/cache",
    ),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render("vllm", CASES, tmp_path_factory.mktemp("compose"))


def _services(rendered, case):
    return yaml.safe_load(rendered[case])["services"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("count", ["one", "two"])
def test_one_service_per_local_backend(rendered, profile, count):
    services = _services(rendered, f"{profile}-{count}")
    expected = {"akira-local": 8000} if count == "one" else {"akira-local": 8000, "akira-small": 8001}
    assert sorted(services) == sorted(expected)
    for name, port in expected.items():
        service = services[name]
        assert service["container_name"] == f"vllm-{name}"
        assert service["network_mode"] == "host"
        assert service["image"].startswith(IMAGES[profile])
        assert service["shm_size"] == "16g"
        command = service["command"]
        assert command[command.index("--port") + 1] == str(port)
        assert command[command.index("--host") + 1] == "127.0.0.1"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("count", ["one", "two"])
def test_secrets_come_from_the_mounted_env_file(rendered, profile, count):
    text = rendered[f"{profile}-{count}"]
    assert SECRET not in text
    assert "hf_Th1s" not in text
    for service in _services(rendered, f"{profile}-{count}").values():
        assert "env_file" not in service
        assert "environment" not in service
        assert service["entrypoint"] == ENTRYPOINT
        # Shared labels (z): every container reads the same cache and env file.
        assert service["volumes"] == [
            "/flux/apps/vllm/cache:/root/.cache/huggingface:z",
            "/flux/apps/vllm/.env:/run/secrets/vllm.env:ro,z",
        ]


@pytest.mark.parametrize("count", ["one", "two"])
def test_rocm_profile(rendered, count):
    for service in _services(rendered, f"rocm-{count}").values():
        assert service["devices"] == ["/dev/kfd", "/dev/dri"]
        assert service["group_add"] == ["video"]
        assert service["cap_add"] == ["SYS_PTRACE"]
        assert service["security_opt"] == ["seccomp=unconfined"]
        assert "ipc" not in service  # podman-compose ignores it: shm_size sizes /dev/shm instead
        assert service["command"][-2:] == ["--gpu-memory-utilization", "0.9"]


@pytest.mark.parametrize("count", ["one", "two"])
def test_cuda_profile(rendered, count):
    for service in _services(rendered, f"cuda-{count}").values():
        assert service["devices"] == ["nvidia.com/gpu=all"]
        for key in ("group_add", "cap_add", "security_opt"):
            assert key not in service
        assert service["command"][-2:] == ["--gpu-memory-utilization", "0.9"]


@pytest.mark.parametrize("count", ["one", "two"])
def test_cpu_profile(rendered, count):
    for service in _services(rendered, f"cpu-{count}").values():
        for key in ("devices", "group_add", "cap_add", "security_opt"):
            assert key not in service
        assert "--gpu-memory-utilization" not in service["command"]


def test_command_is_the_model_and_the_arguments(rendered):
    services = _services(rendered, "rocm-two")
    assert services["akira-local"]["command"] == [
        "--model",
        "Qwen/Qwen2.5-7B",
        "--served-model-name",
        "qwen2.5-7b",
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--tensor-parallel-size",
        "1",
        "--max-model-len",
        "32768",
        "--gpu-memory-utilization",
        "0.9",
    ]
    # No source: the id is what vLLM loads; no max_model_len: vLLM's own.
    assert services["akira-small"]["command"][:4] == ["--model", "phi-4", "--served-model-name", "phi-4"]
    assert "--max-model-len" not in services["akira-small"]["command"]


def test_lab_settings(rendered):
    service = _services(rendered, "cpu-lab")["akira-local"]
    assert service["image"] == "localhost/tailnet-llm/vllm-cpu:lab"
    assert service["shm_size"] == "1g"
    assert service["command"][-3:] == ["--dtype", "bfloat16", "--enforce-eager"]
    assert service["volumes"] == [
        "/srv/cache:/root/.cache/huggingface:z",
        "/srv/vllm/.env:/run/secrets/vllm.env:ro,z",
    ]
    assert rendered["cpu-lab"].startswith("#")  # ansible_managed header


@pytest.mark.parametrize("profile", PROFILES)
def test_no_gpu_exporter_without_a_monitoring_host(rendered, profile):
    assert "gpu-exporter" not in _services(rendered, f"{profile}-one")


def test_the_rocm_exporter_is_amds_with_the_gpus(rendered):
    exporter = _services(rendered, "rocm-exporter")["gpu-exporter"]
    assert exporter["image"] == "docker.io/rocm/device-metrics-exporter:v1.2.1"
    assert exporter["network_mode"] == "host"
    assert exporter["restart"] == "always"
    assert exporter["devices"] == ["/dev/kfd", "/dev/dri"]
    assert exporter["group_add"] == ["video"]
    assert "command" not in exporter  # its default port, 5000


def test_the_cuda_exporter_is_dcgm_at_the_fleets_port(rendered):
    exporter = _services(rendered, "cuda-exporter")["gpu-exporter"]
    assert exporter["image"] == "nvcr.io/nvidia/k8s/dcgm-exporter:4.4.2-4.7.1-ubuntu22.04"
    assert exporter["devices"] == ["nvidia.com/gpu=all"]
    assert exporter["cap_add"] == ["SYS_ADMIN"]
    assert exporter["command"] == ["-a", ":9400"]


def test_a_cpu_host_runs_no_gpu_exporter(rendered):
    assert sorted(_services(rendered, "cpu-exporter")) == ["akira-local"]
