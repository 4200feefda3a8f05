"""Judge files (``NAME.safetensors`` weights in fp16 + ``NAME.json`` metadata) and where they are found.

A judge given by name is searched, in order, in: the folders of ``$REMVAE_JUDGES``
(``os.pathsep``-separated), the user cache ``$XDG_CACHE_HOME/remvae/judges`` (default
``~/.cache/remvae/judges``), and the judges shipped in this package.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from remvae.core.config import format_validation_error
from remvae.playground.evaluators.judges.judge import Judge, JudgeError
from remvae.playground.evaluators.judges.network import JudgeCNN, JudgeNetworkConfig

FORMAT = "remvae-judge"
VERSION = 1
SHIPPED_DIR = Path(__file__).resolve().parent


def search_dirs() -> list[Path]:
    """Folders searched for a judge given by name, in order."""
    env = [Path(p).expanduser() for p in os.environ.get("REMVAE_JUDGES", "").split(os.pathsep) if p]
    return [*env, user_cache_dir(), SHIPPED_DIR]


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "remvae" / "judges"


def default_judge_dir() -> Path:
    """Where ``remvae judge train`` saves by default: the first ``$REMVAE_JUDGES`` folder, else the user cache."""
    return search_dirs()[0]


def save_judge(network: JudgeCNN, out_dir: str | Path, name: str, metadata: dict[str, Any]) -> Path:
    """Write ``out_dir/name.safetensors`` (floats as fp16) and ``out_dir/name.json``; return the JSON path."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    state = {
        key: (value.half() if value.is_floating_point() else value).contiguous()
        for key, value in network.state_dict().items()
    }
    _atomic(out / f"{name}.safetensors", lambda tmp: save_file(state, str(tmp), metadata={"format": FORMAT}))
    record = {"format": FORMAT, "version": VERSION, "name": name, "network": network.config.model_dump(), **metadata}
    _atomic(out / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"))
    return out / f"{name}.json"


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide shipped judges from other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def find_judge_file(name_or_path: str | Path) -> Path:
    """The JSON file of a judge given as a path (``.json``/``.safetensors``) or a name; else :class:`JudgeError`."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".json", ".safetensors"):
        json_path = path.with_suffix(".json")
        if not json_path.is_file():
            raise JudgeError(f"judge {str(name_or_path)!r}: {json_path} not found")
        return json_path
    name = str(name_or_path)
    looked = search_dirs()
    for folder in looked:
        candidate = folder / f"{name}.json"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for folder in looked if folder.is_dir() for p in folder.glob("*.json")})
    raise JudgeError(
        f"judge {name!r} not found in {', '.join(str(f) for f in looked)} (known: {', '.join(known) or 'none'}); "
        f"train one with `remvae judge train --dataset {name}` or pass a path"
    )


def read_judge_record(json_path: Path) -> dict[str, Any]:
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise JudgeError(f"{json_path}: cannot read judge metadata ({error})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise JudgeError(f'{json_path}: not a remvae judge (expected "format": {FORMAT!r})')
    if record.get("version") != VERSION:
        raise JudgeError(f"{json_path}: judge version {record.get('version')!r} is not supported (expected {VERSION})")
    return record


def load_judge(name_or_path: str | Path, device: str | torch.device = "cpu") -> Judge:
    """Load a remvae judge by name or path (see :func:`find_judge_file`), in eval mode on ``device``."""
    json_path = find_judge_file(name_or_path)
    record = read_judge_record(json_path)
    try:
        config = JudgeNetworkConfig.model_validate(record.get("network"))
    except ValidationError as error:
        raise JudgeError(
            f"{json_path}: bad network config: {'; '.join(format_validation_error(error, 'network'))}"
        ) from None
    network = JudgeCNN(config)
    weights = json_path.with_suffix(".safetensors")
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        raise JudgeError(f"{weights}: cannot read judge weights ({error})") from None
    reference = network.state_dict()
    try:
        network.load_state_dict({k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()})
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise JudgeError(
            f"{weights}: weights do not match the network in {json_path.name} ({' '.join(first[:2])})"
        ) from None
    return Judge(
        network,
        name=str(record.get("name", json_path.stem)),
        path=str(json_path),
        image_size=config.image_size,
        channels=config.channels,
        multilabel=config.multilabel,
        label_names=record.get("label_names"),
        test_accuracy=record.get("test_accuracy"),
    ).to(device)
