"""The rich rules the firewalld role adds: one per source range and port, in firewalld's normalized form."""

import pytest
from ansible_collections.tailnet.llm.plugins.filter.firewalld_rich_rules import FilterModule

rich_rules = FilterModule().filters()["firewalld_rich_rules"]


def test_tailnet_ranges_and_the_gateway_port():
    assert rich_rules(["100.64.0.0/10", "fd7a:115c:a1e0::/48"], ["4000/tcp"]) == [
        'rule family="ipv4" source address="100.64.0.0/10" port port="4000" protocol="tcp" accept',
        'rule family="ipv6" source address="fd7a:115c:a1e0::/48" port port="4000" protocol="tcp" accept',
    ]


@pytest.mark.parametrize(
    ("source", "family"), [("100.64.10.7", "ipv4"), ("fd7a:115c:a1e0:10::5", "ipv6"), ("10.0.0.0/8", "ipv4")]
)
def test_family_follows_the_source(source, family):
    (rule,) = rich_rules([source], ["8000-8010/udp"])
    assert rule == f'rule family="{family}" source address="{source}" port port="8000-8010" protocol="udp" accept'


def test_every_source_gets_every_port():
    rules = rich_rules(["100.64.0.0/10", "fd7a:115c:a1e0::/48"], ["4000/tcp", "8000/tcp"])
    assert len(rules) == 4
    assert len(set(rules)) == 4
