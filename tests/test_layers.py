"""Imports run one way: text at the bottom, then core, playground, the library glue, generator/report/serve,
and the CLI on top (docs/architecture.md); no module imports a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "remvae"

LAYERS = {
    "remvae.version": 1, "remvae.text": 1, "remvae.exitcodes": 1,
    "remvae.core": 2,
    "remvae.playground": 3,
    "remvae.modelspec": 4, "remvae.experiment": 4, "remvae.model": 4, "remvae.args": 4, "remvae.scripts": 4,
    "remvae.generator": 5, "remvae.report": 5, "remvae.serve": 5,
    "remvae.cli": 6,
    "remvae": 4,  # the package's own __init__: `remvae.load` and the version
}


def layer(module: str) -> int:
    """The layer of ``module``: that of its longest listed prefix."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module}: no layer assigned (add it to LAYERS and docs/architecture.md)")


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every remvae import in ``path``, wherever it stands in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "remvae" else [f"remvae.{a.name}" for a in node.names]
            found += [(node.lineno, name) for name in names if name.startswith("remvae")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("remvae")]
    return found


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        module = ".".join(parts)
        own = layer(module)
        for line, imported in imports(path):
            target = layer(imported) if imported != "remvae" else LAYERS["remvae"]
            if target > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({module}, layer {own}) imports "
                              f"{imported} (layer {target})")
    assert not upward, "\n".join(upward)
