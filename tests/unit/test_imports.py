"""Importing any module has no side effects: no Ray, no threads, no servers, no files."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import huracan_ray

MODULES = sorted(m.name for m in pkgutil.walk_packages(huracan_ray.__path__, "huracan_ray."))

PROBE = """
import importlib, sys, threading
before = {t.ident for t in threading.enumerate()}
for name in sys.argv[1:]:
    importlib.import_module(name)
import ray
assert not ray.is_initialized(), "a module started Ray"
extra = [t.name for t in threading.enumerate() if t.ident not in before and not t.daemon]
assert not extra, f"a module started threads: {extra}"
print("ok", len(sys.argv) - 1)
"""


def test_importing_every_module_starts_nothing_and_writes_nothing(tmp_path: Path) -> None:
    brain = tmp_path / "brain"
    env = {**os.environ, "HURACAN_BRAIN_URI": brain.as_uri(), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE, *MODULES], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == f"ok {len(MODULES)}"
    assert not brain.exists()
    assert len(MODULES) > 40
