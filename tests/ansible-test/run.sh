#!/usr/bin/env bash
# ansible-test sanity and units on the collection as a user gets it: build the tarball, install it into an empty
# collections dir outside any git checkout (there ansible-test would only see the files git tracks), and run
# ansible-test there, once per ansible-core release given, each from its own venv build/venvs/ansible-core-X.Y
# (requirements/ansible-core-X.Y.txt). Usage: tests/ansible-test/run.sh 2.18 2.19
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
[ $# -gt 0 ] || { echo "usage: $0 ANSIBLE_CORE_VERSION..." >&2; exit 2; }

# Nothing of this checkout's Ansible settings: a user's machine has none of them.
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

rm -rf build/tarball
"build/venvs/ansible-core-$1/bin/ansible-galaxy" collection build --output-path build/tarball >/dev/null
tarball=$(echo "$repo"/build/tarball/tailnet-llm-*.tar.gz)

# Removed when every run passed; kept, with ansible-test's reports in tests/output, when one failed.
work=$(mktemp -d "${TMPDIR:-/tmp}/tailnet-llm-ansible-test.XXXXXX")
trap 'echo "ansible-test failed: the installed collection is kept in $work" >&2' ERR

for version in "$@"; do
  bin=$repo/build/venvs/ansible-core-$version/bin
  # ansible-test bootstraps pip into its sanity venvs with a script it caches under ~/.ansible/test/cache.
  pip_version=$("$bin/python" -c 'import ansible_test, pathlib, re
source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip=.([0-9.]+).", source.read_text()).group(1))')
  get_pip=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
  if [ ! -e "$get_pip" ] && ! curl -fsS -o /dev/null "https://ci-files.testing.ansible.com/ansible-test/get-pip-$pip_version.py"; then
    mkdir -p "$(dirname "$get_pip")" && cp "$here/get-pip.py" "$get_pip"
  fi

  mkdir "$work/$version" && cd "$work/$version"
  # Installed from outside the checkout, whose ansible.cfg would make the work tree count as installed.
  # --no-deps: the collections it depends on come with the venv's `ansible` package (Galaxy is not reachable).
  "$bin/ansible-galaxy" collection install --no-deps -p . "$tarball" >/dev/null
  cd ansible_collections/tailnet/llm
  for command in sanity units; do
    start=$SECONDS
    PATH=$bin:$PATH "$bin/ansible-test" "$command" --local --python 3.11 --color no
    echo "ansible-core $version: ansible-test $command passed in $((SECONDS - start)) s"
  done
  cd "$repo"
done
rm -rf "$work"
