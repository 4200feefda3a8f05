"""Installing a module as a remvae plugin for a subprocess: the module and a distribution's metadata declaring
it in the ``remvae.plugins`` entry-point group, on a folder the subprocess finds through ``PYTHONPATH``."""

from __future__ import annotations

import os
from pathlib import Path


def install_plugin(site: Path, module: str, code: str) -> dict[str, str]:
    """Write ``module.py`` with ``code`` into ``site`` as an installed plugin; return an environment that finds it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(code, encoding="utf-8")
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[remvae.plugins]\n{module} = {module}\n", encoding="utf-8")
    paths = [str(site), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}
