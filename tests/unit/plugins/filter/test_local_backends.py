import pytest
from ansible.plugins.loader import filter_loader


@pytest.fixture(scope="module")
def local_backends():
    return filter_loader.get("tailnet.llm.local_backends").j2_function


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("akira", False),
        ("100.64.10.2", False),
        ("fd7a:115c:a1e0::12", False),
        ("127.0.0.2", False),
    ],
)
def test_a_backend_is_local_by_its_host(local_backends, host, local):
    backend = {"name": "b", "host": host, "port": 8000, "models": []}
    assert local_backends([backend]) == ([backend] if local else [])


def test_keeps_the_order(local_backends):
    backends = [{"name": n, "host": h} for n, h in [("a", "localhost"), ("b", "tachikoma"), ("c", "127.0.0.1")]]
    assert [b["name"] for b in local_backends(backends)] == ["a", "c"]
