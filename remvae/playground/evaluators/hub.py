"""Loading Hugging Face models (a hub id or a local folder) with a one-line error instead of a traceback."""

from __future__ import annotations

from typing import Any


def from_pretrained(
    class_names: tuple[str, ...], name: str, local_files_only: bool, error: type[ValueError], what: str
) -> tuple[Any, ...]:
    """``transformers.<class>.from_pretrained(name)`` for each class name, in order; model weights are read from
    safetensors files only (``use_safetensors=True``: never a pickle).

    ``what`` starts the message of the ``error`` raised when transformers is missing or a model cannot be
    loaded (no such id or folder, no network with ``local_files_only=False``, a foreign folder).
    """
    try:
        import transformers
    except ImportError:
        raise error(f"{what}: needs the transformers package (pip install transformers)") from None
    try:
        return tuple(
            getattr(transformers, cls).from_pretrained(
                name, local_files_only=local_files_only, **({"use_safetensors": True} if "Model" in cls else {})
            )
            for cls in class_names
        )
    except (OSError, ValueError, KeyError) as failure:
        reason = " ".join(str(failure).split())[:300] or type(failure).__name__
        raise error(f"{what} (local_files_only={local_files_only}): {reason}") from None
