"""Images in and out of the server: uploaded PNG/JPEG data URLs to tensors, tensors to PNG data URLs.

An upload is refused before it is decoded when its base64 text is too long for ``max_upload_bytes``,
when its bytes are neither PNG nor JPEG (judged by their signature, never by a name or a declared
type), and when its header declares more pixels than ``max_image_side`` allows; only then does Pillow
decode it.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from remvae.serve.limits import (
    BAD_REQUEST,
    TOO_LARGE,
    UNSUPPORTED_TYPE,
    InputError,
    Limits,
)

SIGNATURES = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}
_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+;base64,(?P<payload>.*)", re.DOTALL)


def decode_image(field: str, data_url: str, channels: int, limits: Limits) -> Tensor:
    """A ``data:image/...;base64,`` URL holding a PNG or JPEG, as uint8 ``[channels, H, W]``."""
    raw = _payload(field, data_url, limits)
    kind = next((name for name, signature in SIGNATURES.items() if raw.startswith(signature)), None)
    if kind is None:
        raise InputError(UNSUPPORTED_TYPE, field, "must be a PNG or JPEG image (judged by its content, not its name)")
    try:
        with Image.open(io.BytesIO(raw), formats=[kind]) as image:
            _check_dimensions(field, *image.size, limits)
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except Image.DecompressionBombError:
        raise _too_many_pixels(field, "more than Pillow's MAX_IMAGE_PIXELS", limits) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(BAD_REQUEST, field, f"a damaged {kind} file ({_first_line(error)})") from None
    tensor = torch.from_numpy(pixels.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def encode_png(image: Tensor) -> str:
    """One image ``[C, H, W]`` in [0, 1] (C = 1 or 3) as a ``data:image/png;base64,`` URL."""
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _payload(field: str, data_url: str, limits: Limits) -> bytes:
    match = _DATA_URL.fullmatch(data_url)
    if match is None:
        raise InputError(
            BAD_REQUEST, field, "must be a data URL (data:image/png;base64,... or data:image/jpeg;base64,...); "
            "URLs and paths are not read",
        )
    payload = match["payload"]
    if len(payload) * 3 // 4 > limits.max_upload_bytes + 2:
        raise _too_many_bytes(field, len(payload) * 3 // 4, limits)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(BAD_REQUEST, field, "its data is not valid base64") from None
    if len(raw) > limits.max_upload_bytes:
        raise _too_many_bytes(field, len(raw), limits)
    return raw


def _check_dimensions(field: str, width: int, height: int, limits: Limits) -> None:
    if max(width, height) > limits.max_image_side:
        raise _too_many_pixels(field, f"{width}x{height} pixels", limits)


def _too_many_bytes(field: str, size: int, limits: Limits) -> InputError:
    allowed = limits.max_upload_bytes
    return InputError(TOO_LARGE, field, f"the upload is {size:,} bytes; at most {allowed:,} are allowed")


def _too_many_pixels(field: str, what: str, limits: Limits) -> InputError:
    side = limits.max_image_side
    return InputError(TOO_LARGE, field, f"the image is {what}; at most {side}x{side} pixels are allowed")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


__all__ = ["SIGNATURES", "decode_image", "encode_png"]
