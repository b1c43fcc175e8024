"""Two batchers: small uploads (digits, drawings) never queue behind a large photo being decoded."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from app.core.batcher import Batcher
from app.core.config import Settings
from app.core.inference import Upload, process_jobs

# A 28x28 PNG is ~300 bytes, a phone photo several MB: anything this big takes the slow lane.
LARGE_UPLOAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class Lanes:
    fast: Batcher
    slow: Batcher

    @classmethod
    def start(cls, settings: Settings) -> Lanes:
        process = partial(process_jobs, max_pixels=settings.max_image_pixels)
        return cls(
            fast=Batcher(process, settings.inference_workers, settings.max_batch, name="predict"),
            slow=Batcher(process, settings.inference_workers, 1, name="predict-large"),
        )

    def for_uploads(self, uploads: list[Upload]) -> Batcher:
        return self.slow if any(len(u.data) > LARGE_UPLOAD_BYTES for u in uploads) else self.fast

    def close(self) -> None:
        self.fast.close()
        self.slow.close()
