"""The service image built from the Dockerfile and run, without Docker (deploy/build-image.sh).

Needs root, buildah, podman and debootstrap (Debian: apt-get install -y buildah podman debootstrap)
and the Debian mirror and PyPI reachable; it fails saying what is missing. Cold (debootstrap and
the dependency layer) it takes about 6 minutes on 2 cores; with the base and the layers cached,
about 1 minute (see README, Docker).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_image_builds_runs_and_scores(tmp_path: Path) -> None:
    missing = [tool for tool in ("buildah", "podman", "debootstrap") if shutil.which(tool) is None]
    assert not missing, f"missing {missing}: apt-get install -y buildah podman debootstrap"
    assert os.geteuid() == 0, "building with --isolation chroot needs root"
    start = time.monotonic()
    proc = subprocess.run(
        [str(ROOT / "deploy" / "build-image.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "PORT": str(18000 + os.getpid() % 1000)},
    )
    took = time.monotonic() - start
    assert proc.returncode == 0, f"build-image.sh failed after {took:.0f}s:\n{proc.stdout}\n{proc.stderr}"
    assert "readyz:" in proc.stdout and '"loaded": true' in proc.stdout, proc.stdout
    assert "ready, scoring OK" in proc.stdout
    print(f"build-image.sh: {took:.0f}s")
