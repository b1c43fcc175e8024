"""Two batchers: small images (digits, drawings) never queue behind a large photo being decoded.

The lane is chosen by the pixels a request's image headers declare, not by its bytes: a few kB of
PNG can hold tens of megapixels of one colour, which cost as much to decode as a photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from app.core.batcher import Batcher
from app.core.config import Settings
from app.core.inference import process_jobs

# A digit is 784 pixels, a drawing a few hundred thousand, a phone photo millions: a request whose
# images hold more than this in all takes the large lane, so a fast-lane batch stays a few ms of work.
LARGE_REQUEST_PIXELS = 1_000_000


@dataclass(frozen=True)
class Lanes:
    fast: Batcher
    slow: Batcher

    @classmethod
    def start(cls, settings: Settings) -> Lanes:
        process = partial(process_jobs, max_pixels=settings.max_image_pixels)
        return cls(
            fast=Batcher(process, settings.inference_workers, settings.max_batch, name="predict"),
            # Half the threads at most: big decodes can never take every core from the small lane.
            slow=Batcher(process, max(1, settings.inference_workers // 2), 1, name="predict-large"),
        )

    def for_pixels(self, pixels: int) -> Batcher:
        """The lane for a request whose images hold PIXELS in all (from their headers)."""
        return self.slow if pixels > LARGE_REQUEST_PIXELS else self.fast

    def close(self) -> None:
        self.fast.close()
        self.slow.close()
