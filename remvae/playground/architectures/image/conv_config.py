"""Configs of the convolutional image VAEs (``conv`` and ``conv_norm``) and their spatial arithmetic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, ValidationInfo, field_validator

from remvae.playground.architectures.image.common import ImageArchitectureConfig

STRIDE = 2


def padding(kernel_size: int) -> int:
    """'Same'-style padding, so each stride-2 convolution halves the size (rounding down or up)."""
    return (kernel_size - 1) // 2


def conv_output_size(size: int, kernel_size: int) -> int:
    """Side of the output of one stride-2 convolution over a ``size``-pixel input (< 1 if impossible)."""
    return (size + 2 * padding(kernel_size) - kernel_size) // STRIDE + 1


def spatial_sizes(image_size: int, kernel_size: int, depth: int) -> list[int]:
    """Sides after 0, 1, ..., ``depth`` convolutions; the decoder retraces them in reverse."""
    sizes = [image_size]
    for _ in range(depth):
        sizes.append(conv_output_size(sizes[-1], kernel_size))
    return sizes


def output_padding(target: int, size: int, kernel_size: int) -> int:
    """Extra pixels a stride-2 transposed convolution from ``size`` needs to reach ``target`` exactly.

    With the padding above the base output ``2 (size - 1) - 2 p + k`` is ``target`` or ``target - 1``,
    so the answer is 0 or 1 (always below the stride, as PyTorch requires).
    """
    return target - ((size - 1) * STRIDE - 2 * padding(kernel_size) + kernel_size)


class ConvConfig(ImageArchitectureConfig):
    """Stride-2 convolutions (one per width), flatten, linear to (mean, logvar); the decoder mirrors it.

    The defaults are a lean version of the reference encoder (Conv 1->32->64->128, kernel 4): half the
    channels cost a quarter of the FLOPs, which keeps the mixed model fast on a 2-core CPU while
    still reconstructing 28- and 56-pixel digits well.
    """

    kernel_size: int = Field(4, ge=2, le=9, description="side of every convolution kernel")
    widths: list[PositiveInt] = Field(
        default_factory=lambda: [16, 32, 64], min_length=1, validate_default=True,
        description="channels of each stride-2 convolution",
    )

    @field_validator("widths")
    @classmethod
    def _fits_image(cls, widths: list[int], info: ValidationInfo) -> list[int]:
        image_size, kernel_size = info.data.get("image_size"), info.data.get("kernel_size")
        if image_size is None or kernel_size is None:  # already reported as invalid
            return widths
        sizes = spatial_sizes(image_size, kernel_size, len(widths))
        if sizes[-1] < 1:
            fitting = next(i for i, size in enumerate(sizes) if conv_output_size(size, kernel_size) < 1)
            raise ValueError(
                f"{len(widths)} stride-2 convolutions (kernel {kernel_size}) shrink a {image_size}-pixel image "
                f"through {sizes[: fitting + 1]} to nothing; use at most {fitting} widths or a larger image_size"
            )
        return widths

    def sizes(self) -> list[int]:
        """Spatial sides from the image down to the last convolution's output."""
        return spatial_sizes(self.image_size, self.kernel_size, len(self.widths))


class ConvNormConfig(ConvConfig):
    """:class:`ConvConfig` with a normalisation layer after every hidden convolution.

    ``group`` (the default) normalises each sample on its own, so it behaves the same in training
    and evaluation and with any batch size; ``batch`` uses batch statistics and running averages.
    """

    norm: Literal["group", "batch"] = Field("group", description="GroupNorm or BatchNorm2d")
    groups: PositiveInt = Field(
        8, validate_default=True, description="channel groups of GroupNorm; must divide every width"
    )

    @field_validator("groups")
    @classmethod
    def _divides_widths(cls, groups: int, info: ValidationInfo) -> int:
        widths, norm = info.data.get("widths"), info.data.get("norm")
        if norm == "group" and widths is not None:
            bad = [width for width in widths if width % groups]
            if bad:
                raise ValueError(f"groups={groups} must divide every width, but widths {bad} are not multiples of it")
        return groups
