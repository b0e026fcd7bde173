# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Options for reaching an Azure Key Vault: the vault, how to authenticate, timeouts.
    DOCUMENTATION = r"""
options:
  vault_url:
    description:
      - URL of the vault, C(https://NAME.vault.azure.net).
    type: str
    env:
      - name: AZURE_KEYVAULT_URL
    vars:
      - name: azure_keyvault_url
    ini:
      - section: azure_keyvault
        key: vault_url
  auth:
    description:
      - How to get a token for the vault.
      - C(auto) uses a service principal when O(client_id) and O(client_secret) or O(client_certificate_path)
        are set, else a workload identity when O(client_id) and O(federated_token_file) are set, then falls
        back to the Azure CLI login (C(az login)). It never tries the managed identity endpoint, so it does
        not wait off Azure.
      - C(cli) uses the Azure CLI login only; O(tenant_id) picks another tenant of the login.
      - C(service_principal) uses O(tenant_id), O(client_id) and O(client_secret) or O(client_certificate_path).
      - C(workload_identity) exchanges the token in O(federated_token_file) (Kubernetes, GitHub Actions OIDC).
      - C(managed_identity) uses the Azure VM's or service's managed identity; O(client_id) selects a
        user-assigned identity. Only on Azure.
    type: str
    choices: [auto, cli, service_principal, workload_identity, managed_identity]
    default: auto
    env:
      - name: AZURE_KEYVAULT_AUTH
    vars:
      - name: azure_keyvault_auth
    ini:
      - section: azure_keyvault
        key: auth
  tenant_id:
    description: Entra ID tenant (directory) of the service principal or workload identity.
    type: str
    env:
      - name: AZURE_TENANT_ID
    vars:
      - name: azure_keyvault_tenant_id
    ini:
      - section: azure_keyvault
        key: tenant_id
  client_id:
    description: Application (client) id of the service principal, workload identity or user-assigned managed identity.
    type: str
    env:
      - name: AZURE_CLIENT_ID
    vars:
      - name: azure_keyvault_client_id
    ini:
      - section: azure_keyvault
        key: client_id
  client_secret:
    description: Client secret of the service principal. Keep it in ansible-vault or the environment.
    type: str
    env:
      - name: AZURE_CLIENT_SECRET
    vars:
      - name: azure_keyvault_client_secret
  client_certificate_path:
    description: PEM or PKCS12 file with the service principal's certificate and private key.
    type: path
    env:
      - name: AZURE_CLIENT_CERTIFICATE_PATH
    vars:
      - name: azure_keyvault_client_certificate_path
    ini:
      - section: azure_keyvault
        key: client_certificate_path
  client_certificate_password:
    description: Password of O(client_certificate_path), if it has one.
    type: str
    env:
      - name: AZURE_CLIENT_CERTIFICATE_PASSWORD
    vars:
      - name: azure_keyvault_client_certificate_password
  federated_token_file:
    description: File holding the federated token for O(auth=workload_identity).
    type: path
    env:
      - name: AZURE_FEDERATED_TOKEN_FILE
    vars:
      - name: azure_keyvault_federated_token_file
    ini:
      - section: azure_keyvault
        key: federated_token_file
  authority_host:
    description: Entra ID host that issues tokens (another cloud, e.g. C(https://login.microsoftonline.us)).
    type: str
    default: https://login.microsoftonline.com
    env:
      - name: AZURE_AUTHORITY_HOST
    vars:
      - name: azure_keyvault_authority_host
    ini:
      - section: azure_keyvault
        key: authority_host
  disable_instance_discovery:
    description: Do not ask Entra ID to validate O(authority_host) (Azure Stack, private clouds).
    type: bool
    default: false
    env:
      - name: AZURE_KEYVAULT_DISABLE_INSTANCE_DISCOVERY
    vars:
      - name: azure_keyvault_disable_instance_discovery
    ini:
      - section: azure_keyvault
        key: disable_instance_discovery
  verify_challenge_resource:
    description:
      - Check that the resource the vault asks a token for is a parent domain of the vault's host.
      - Set to V(false) only when the vault is reached under another name (a private endpoint's custom DNS name).
    type: bool
    default: true
    env:
      - name: AZURE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE
    vars:
      - name: azure_keyvault_verify_challenge_resource
    ini:
      - section: azure_keyvault
        key: verify_challenge_resource
  timeout:
    description:
      - Seconds to wait for each connection and answer (vault and Entra ID), and for the C(az) process.
    type: float
    default: 10
    env:
      - name: AZURE_KEYVAULT_TIMEOUT
    vars:
      - name: azure_keyvault_timeout
    ini:
      - section: azure_keyvault
        key: timeout
  retries:
    description: Times a failed connection, timeout or throttled (429/5xx) answer is retried, with exponential backoff.
    type: int
    default: 2
    env:
      - name: AZURE_KEYVAULT_RETRIES
    vars:
      - name: azure_keyvault_retries
    ini:
      - section: azure_keyvault
        key: retries
requirements:
  - azure-identity >= 1.19 and azure-keyvault-secrets >= 4.8 on the controller
notes:
  - A token is reused by every later lookup in the same process (all terms of a call, a loop's items and
    several lookups templated in one task). Ansible runs each task in a new worker process, so each task
    asks once for a token (one request to Entra ID, or one C(az) run for the Azure CLI login).
  - The standard C(REQUESTS_CA_BUNDLE) variable adds trust for a vault behind a TLS-inspecting proxy.
"""
