"""Judge files (``NAME.safetensors`` weights in fp16 + ``NAME.json`` metadata) and where they are found.

A judge given by name is searched, in order, in: the folders of ``$REMVAE_JUDGES``
(``os.pathsep``-separated), the user cache ``$XDG_CACHE_HOME/remvae/judges`` (default
``~/.cache/remvae/judges``), and the judges shipped in this package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from remvae.core.config import format_validation_error
from remvae.core.runfolder import write_bytes
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
    record = {"format": FORMAT, "version": VERSION, "name": name, "network": network.config.model_dump(), **metadata}
    return save_weights_and_record(network.state_dict(), record, out_dir, name)


def save_weights_and_record(state: dict[str, Tensor], record: dict[str, Any], out_dir: str | Path, name: str) -> Path:
    """``out_dir/name.safetensors`` (floating tensors as fp16) and ``out_dir/name.json``, each written atomically and
    readable by every user (shipped files); returns the JSON path."""
    out = Path(out_dir).expanduser()
    half = {key: (value.detach().half() if value.is_floating_point() else value).contiguous() for key, value in state.items()}
    mode = 0o666 & ~_umask()
    write_bytes(out / f"{name}.safetensors", safetensors_bytes(half, metadata={"format": str(record["format"])}), mode)
    write_bytes(out / f"{name}.json", (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), mode)
    return out / f"{name}.json"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def find_record(name_or_path: str | Path, what: str, pattern: str, hint: str, error: type[JudgeError]) -> Path:
    """The JSON file of a ``what`` (judge, caption LM) given as a ``.json``/``.safetensors`` path or a name searched
    in :func:`search_dirs`; ``error`` names where it looked, the known names (``pattern``) and ``hint``."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".json", ".safetensors"):
        json_path = path.with_suffix(".json")
        if not json_path.is_file():
            raise error(f"{what} {str(name_or_path)!r}: {json_path} not found")
        return json_path
    looked = search_dirs()
    for folder in looked:
        candidate = folder / f"{name_or_path}.json"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for folder in looked if folder.is_dir() for p in folder.glob(pattern)})
    raise error(
        f"{what} {str(name_or_path)!r} not found in {', '.join(str(f) for f in looked)} "
        f"(known: {', '.join(known) or 'none'}); {hint}"
    )


def read_record(json_path: Path, format: str, version: int, what: str, error: type[JudgeError]) -> dict[str, Any]:
    """The metadata of a saved ``what``, checked to be of ``format`` and ``version``; ``error`` otherwise."""
    try:
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{json_path}: cannot read {what} metadata ({problem})") from None
    if not isinstance(record, dict) or record.get("format") != format:
        raise error(f'{json_path}: not a remvae {what} (expected "format": {format!r})')
    if record.get("version") != version:
        raise error(f"{json_path}: {what} version {record.get('version')!r} is not supported (expected {version})")
    return record


def find_judge_file(name_or_path: str | Path) -> Path:
    """The JSON file of a judge given as a path (``.json``/``.safetensors``) or a name; else :class:`JudgeError`."""
    return find_record(name_or_path, "judge", "*.json",
                       f"train one with `remvae judge train --dataset {name_or_path}` or pass a path", JudgeError)


def read_judge_record(json_path: Path) -> dict[str, Any]:
    return read_record(json_path, FORMAT, VERSION, "judge", JudgeError)


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
