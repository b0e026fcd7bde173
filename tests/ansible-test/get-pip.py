"""Stand-in for get-pip.py, which ansible-test downloads from ci-files.testing.ansible.com to put pip into the empty
venvs of its sanity tests: that host is not reachable here, PyPI is. run.sh puts it where ansible-test looks for its
cached copy when that copy is missing. Called as get-pip.py is: `python get-pip.py [--no-setuptools] [--no-wheel]
PIP_OPTIONS... pip==VERSION`; pip comes from the wheel Python bundles (ensurepip), then installs the release asked."""

import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)
