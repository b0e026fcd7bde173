#!/usr/bin/python
# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: tailscale_policy
short_description: Merge the collection's part into a tailnet's policy file through the Tailscale API
description:
  - Reads the tailnet policy file and its ETag (C(GET /api/v2/tailnet/{tailnet}/acl)), merges O(policy) (the
    collection's part, from the P(tailnet.llm.tailscale_policy#filter) filter) into it, and when the result differs,
    validates it (C(POST .../acl/validate), which checks that it parses and that every test of the file passes,
    the part's own and the operator's) and only then writes it (C(POST .../acl)) with C(If-Match) set to the ETag
    read in the same run.
  - An edit made in the admin console (or by another run) between the read and the write is never overwritten;
    the API answers 412 and the module fails saying so, having written nothing. Run it again to merge into the
    new version.
  - The file is edited, never rewritten. The collection's entries are the ones between two marker comments,
    C(// BEGIN tailnet.llm managed) and C(// END tailnet.llm managed), in each section it writes (C(tagOwners),
    C(grants), C(tests), C(autoApprovers.routes), C(autoApprovers.exitNode)); the module replaces what is between
    them, creates the section or the block at the end of its container when missing, and leaves every other byte
    as it was (comments, blank lines, trailing commas, indentation, the operator's entries and their order).
  - Markers rather than destinations say whose an entry is, because they are visible in the file and survive
    the operator's edits (moving a block, adding entries around it); an operator's own rule or test towards the
    collection's tags stays the operator's. Entries written inside a block are replaced on the next run.
  - Two exceptions, both keeping what the file means. A C(tagOwners) key or an C(autoApprovers.routes) key that
    is also the collection's cannot be there twice. For a tag, the block's entry replaces the operator's
    (listed in RV(removed) when it said something else). For a route, the operator's entry stays and the
    collection's approvers go in a block inside its list. An array entry outside a block that equals one of the
    block's (a file written before the markers existed, or a copy) moves into the block.
  - A marker anywhere else, or a block without its pair, fails the run naming the line, before anything is sent.
  - "A new tailnet starts with Tailscale's default policy, whose rule C({\"action\": \"accept\", \"src\": [\"*\"],
    \"dst\": [\"*:*\"]}) lets everyone reach everything: the collection's tests (what its rules deny) fail with it.
    The module then fails naming that rule (its section, index, line and text) and saying how to narrow it:
    replace it with rules for what the operator's own devices need, or delete it and let the collection's rules
    stand alone. Nothing is written. See C(docs/tailnet-policy.md) in the collection."
  - When the file already holds the part, only the read is sent (C(changed=false)); in check mode, the read and
    the validation.
version_added: 0.1.0
options:
  policy:
    description: The collection's part of the policy file (C(tagOwners), C(grants), C(autoApprovers), C(tests)).
    type: dict
    required: true
  tailnet:
    description: The tailnet, as the API names it; C(-) is the credential's own tailnet.
    type: str
    default: "-"
  api_base_url:
    description: The Tailscale API's URL.
    type: str
    default: https://api.tailscale.com
  api_key:
    description:
      - An API access token (C(tskey-api-...)). Give it or O(oauth_client_id) and O(oauth_client_secret).
      - For instance from Azure Key Vault through the P(tailnet.llm.azure_keyvault#lookup) lookup.
    type: str
  oauth_client_id:
    description: The id of an OAuth client with the C(policy_file) scope.
    type: str
  oauth_client_secret:
    description: >-
      That OAuth client's secret (C(tskey-client-...)), exchanged for an access token at C(/api/v2/oauth/token).
    type: str
  oauth_scopes:
    description: Scopes to ask the access token for (the client's own when empty).
    type: list
    elements: str
    default: []
  ca_path:
    description: A CA bundle to verify the API's certificate with, instead of the system's.
    type: path
  validate_certs:
    description: Whether to verify the API's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each answer of the API.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Reads and validates; writes nothing.
  diff_mode:
    support: full
    description: The policy file's text before and after, as Tailscale stores it (comments included).
author:
  - tailnet.llm maintainers (@tailnet-llm)
"""

EXAMPLES = r"""
- name: Apply the collection's part of the tailnet policy
  tailnet.llm.tailscale_policy:
    policy: >-
      {{ groups | tailnet.llm.tailscale_policy(hostvars, tag_owners=['autogroup:admin'], operators=['group:ops']) }}
    tailnet: example.com
    oauth_client_id: k123456CNTRL
    oauth_client_secret: "{{ lookup('tailnet.llm.azure_keyvault', 'tailscale-oauth-client-secret') }}"
"""

RETURN = r"""
etag:
  description: The ETag of the policy file the tailnet has now (the one read when nothing was written).
  returned: always
  type: str
policy:
  description: The policy file with the collection's part merged in, parsed (what was written, or would be in check
    mode).
  returned: always
  type: dict
removed:
  description: >-
    Entries that left the file, per section (C(grants), C(tagOwners), C(autoApprovers.exitNode), ...): the
    collection's that the part no longer has, and an operator's C(tagOwners) entry of one of the collection's tags
    that said something else.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.hujson import loads  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.tailscale_api import (  # noqa: E402
    TailscaleAPI,
    TailscaleError,
)
from ansible_collections.tailnet.llm.plugins.module_utils.tailscale_policy_merge import (  # noqa: E402
    allow_all_rules,
    merge_text,
)

ARGUMENT_SPEC = {
    "policy": {"type": "dict", "required": True},
    "tailnet": {"type": "str", "default": "-"},
    "api_base_url": {"type": "str", "default": "https://api.tailscale.com"},
    "api_key": {"type": "str", "no_log": True},
    "oauth_client_id": {"type": "str"},
    "oauth_client_secret": {"type": "str", "no_log": True},
    "oauth_scopes": {"type": "list", "elements": "str", "default": []},
    "ca_path": {"type": "path"},
    "validate_certs": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 30},
}
# What the operator may keep of a new tailnet's allow-all rule: every user reaches their own devices.
NARROW_EXAMPLE = '{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}'


def refusal(tailnet, message, data, text):
    """The error when Tailscale refuses the merged file TEXT: its message and failed tests, and, when a rule
    lets everyone reach everything (a new tailnet's default), that rule and how to narrow it."""
    failures = "; ".join(f"{d.get('user')}: {', '.join(d.get('errors') or [])}" for d in data or [])
    said = f"Tailscale refuses the merged policy file of tailnet {tailnet!r}: {message}"
    said += (f" ({failures})" if failures else "") + ". Nothing was written."
    if not failures:
        return said
    rules = allow_all_rules(text)
    if not rules:
        return said + " A rule the operator wrote lets more through than these tests allow: narrow it."
    named = "; ".join(f"{where} at line {line}: {rule}" for where, line, rule in rules)
    return (
        f"{said} The policy file has a rule that lets everyone reach everything, so the collection's deny tests "
        f"fail: {named}. A new tailnet starts with it (Tailscale's default policy). Narrow it: replace it with "
        f"rules for what your own devices need (for instance {NARROW_EXAMPLE}, each user to their own devices), or "
        "delete it and let the collection's rules stand alone; then run again. See docs/tailnet-policy.md of the "
        "tailnet.llm collection."
    )


def apply(api, part, check_mode):
    """Read, merge, validate, write if different. Returns the module's result; raises TailscaleError."""
    text, etag = api.get_policy()
    try:
        edited, removed = merge_text(text, part)
        policy = loads(edited)
    except ValueError as e:
        raise TailscaleError(f"the policy file of tailnet {api.tailnet!r} cannot be merged: {e}") from e
    # Compared as text: the file is edited in place, so an unchanged part leaves it byte for byte.
    result = {"changed": edited != text, "etag": etag, "policy": policy, "removed": removed}
    if not result["changed"]:
        return result
    header = f"tailnet {api.tailnet} policy file"
    result["diff"] = {"before": text, "after": edited, "before_header": header, "after_header": header}
    problem = api.validate(edited)
    if problem:
        message, data = problem
        raise TailscaleError(refusal(api.tailnet, message, data, edited), 200, data)
    if not check_mode:
        result["etag"] = api.set_policy(edited, etag) or etag
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("api_key", "oauth_client_secret")],
        mutually_exclusive=[("api_key", "oauth_client_secret")],
        required_together=[("oauth_client_id", "oauth_client_secret")],
    )
    p = module.params
    try:
        api = TailscaleAPI(
            p["tailnet"], p["api_base_url"], p["api_key"], p["oauth_client_id"], p["oauth_client_secret"],
            p["oauth_scopes"], p["ca_path"], p["validate_certs"], p["timeout"],
        )  # fmt: skip
        result = apply(api, p["policy"], module.check_mode)
    except TailscaleError as e:
        module.fail_json(msg=str(e), status=e.status, data=e.data)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
