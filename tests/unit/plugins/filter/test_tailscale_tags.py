from ansible.plugins.loader import filter_loader


def test_a_host_gets_one_tag_per_role_without_the_prefix():
    tailscale_tags = filter_loader.get("tailnet.llm.tailscale_tags").j2_function
    groups = {"llm_gateways": ["akira"], "llm_model_hosts": ["akira"], "llm_clients": ["motoko"]}
    assert tailscale_tags("akira", groups) == ["llm-gateway", "llm-model-host"]
    assert tailscale_tags("motoko", groups) == ["llm-client"]
