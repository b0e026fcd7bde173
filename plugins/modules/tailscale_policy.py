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
  - "Which entries are the collection's: the tags of O(policy)'s C(tagOwners) are its namespace. Their
    C(tagOwners) entries; every grant, ACL and test whose destinations are all among those tags; those tags
    among the approvers of C(autoApprovers). Everything else the operator wrote is kept, in its order: other
    rules and tests, groups, hosts, ssh, nodeAttrs, other approvers. A hand-written rule towards the collection's
    tags alone is the collection's and is removed (the module lists it in RV(removed) and the diff shows it)."
  - The file is written back as JSON, so comments in it are not kept; the module warns when the file it read had
    comments.
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
    description: The policy file before and after, as indented JSON.
author:
  - tailnet.llm maintainers
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
  description: The policy file with the collection's part merged in (what was written, or would be in check mode).
  returned: always
  type: dict
removed:
  description: Entries of the collection's namespace that the part no longer has, per section (they are removed).
  returned: always
  type: dict
"""

import json  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.tailscale_api import (  # noqa: E402
    TailscaleAPI,
    TailscaleError,
)
from ansible_collections.tailnet.llm.plugins.module_utils.tailscale_policy_merge import merge, parse_policy  # noqa: E402

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


def _text(policy):
    return json.dumps(policy, indent=2) + "\n"


def apply(api, part, check_mode):
    """Read, merge, validate, write if different. Returns the module's result; raises TailscaleError."""
    text, etag = api.get_policy()
    try:
        current, had_comments = parse_policy(text)
        desired, removed = merge(current, part)
    except ValueError as e:
        raise TailscaleError(f"the policy file of tailnet {api.tailnet!r} cannot be merged: {e}") from e
    result = {"changed": desired != current, "etag": etag, "policy": desired, "removed": removed, "warnings": []}
    # Compared as parsed JSON: formatting and comments alone are no change.
    if not result["changed"]:
        return result
    result["diff"] = {"before": _text(current), "after": _text(desired), "before_header": f"tailnet {api.tailnet}"}
    problem = api.validate(desired)
    if problem:
        message, data = problem
        failures = "; ".join(f"{d.get('user')}: {', '.join(d.get('errors') or [])}" for d in data or [])
        raise TailscaleError(
            f"Tailscale refuses the merged policy file of tailnet {api.tailnet!r}: {message}"
            + (f" ({failures})" if failures else "")
            + ". Nothing was written."
            + (
                " A rule the operator wrote may let more through than the tests allow (an allow-all rule, for one): "
                "narrow it"
                if failures
                else ""
            ),
            200,
            data,
        )
    if had_comments:
        result["warnings"].append("the policy file had comments: it is written back as JSON, without them")
    if not check_mode:
        result["etag"] = api.set_policy(desired, etag) or etag
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
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
