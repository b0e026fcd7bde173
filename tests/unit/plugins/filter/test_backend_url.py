import pytest
from ansible.plugins.loader import filter_loader


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("tachikoma", "http://tachikoma:8000"),
        ("::1", "http://[::1]:8000"),
        ("fd7a:115c:a1e0::12", "http://[fd7a:115c:a1e0::12]:8000"),
    ],
)
def test_url_of_a_backend(host, url):
    backend_url = filter_loader.get("tailnet.llm.backend_url").j2_function
    assert backend_url({"name": "b", "host": host, "port": 8000, "models": []}) == url
