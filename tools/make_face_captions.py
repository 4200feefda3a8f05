"""Write the caption file of the text-only example: sentences of the CelebA caption grammar, no images.

    python tools/make_face_captions.py [--count 4000] [--out experiments/text_vae_captions/captions.txt]

Each line describes a random face: every one of the 40 attributes present with probability 0.25 (a fixed seed),
up to 3 of them named, as the CelebA reader writes its captions. The same arguments give the same file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from remvae.playground.readers.celeba_captions import CELEBA_ATTRIBUTES, CELEBA_GRAMMAR

SEED = 0


def captions(count: int) -> list[str]:
    attributes = np.random.default_rng(SEED).random((count, len(CELEBA_ATTRIBUTES))) < 0.25
    return CELEBA_GRAMMAR.captions(attributes.astype(np.uint8), SEED, attributes_per_caption=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=Path("experiments/text_vae_captions/captions.txt"))
    options = parser.parse_args()
    options.out.write_text("".join(f"{line}\n" for line in captions(options.count)), encoding="utf-8")
    print(f"wrote {options.count} captions to {options.out}")


if __name__ == "__main__":
    main()
