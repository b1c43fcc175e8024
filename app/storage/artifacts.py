"""Where registered models' weights live: files on this machine (embedded) or the database (PostgreSQL)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from app.jobs.ports import ModelRecord, now
from app.storage.registry import SqlRegistry
from training.artifact_format import ArtifactError, check_metadata, read_metadata
from training.runtime import ServedModel, load_served_bytes


def record_for(weights: Path, source: str, source_ref: str | None, location: str | None) -> ModelRecord:
    """A registry record for the artifact at WEIGHTS (reads the sidecar; the weights' checksum is the sidecar's)."""
    metadata = read_metadata(weights)
    test = metadata.get("test") or {}
    return ModelRecord(
        id=str(metadata["id"]),
        metadata=metadata,
        test_accuracy=test.get("accuracy"),
        created=metadata.get("created"),
        source=source,
        source_ref=source_ref,
        sha256=str(metadata["weights_sha256"]),
        size=weights.stat().st_size,
        location=location,
        registered_at=now(),
        ever_live=False,
    )


class LocalArtifactStore:
    """Embedded backend: the record holds the file's path; loading re-checks the sidecar and the checksum."""

    def in_database(self) -> bool:
        return False

    def weights(self, record: ModelRecord) -> bytes:
        if record.location is None:
            raise ArtifactError(f"model {record.id}: no file recorded for its weights")
        try:
            blob = Path(record.location).read_bytes()
        except OSError as exc:
            raise ArtifactError(f"{record.location}: cannot read weights ({exc.strerror or exc})") from exc
        if hashlib.sha256(blob).hexdigest() != record.sha256:
            raise ArtifactError(f"{record.location}: weights do not match the registered checksum")
        return blob

    def load(self, record: ModelRecord) -> ServedModel:
        return load_served_bytes(
            self.weights(record), check_metadata(record.metadata, record.id), record.location or ""
        )


class DatabaseArtifactStore:
    """PostgreSQL backend: weights in model_blobs, checked against the registered sha256 on every load."""

    def __init__(self, registry: SqlRegistry) -> None:
        self.registry = registry

    def in_database(self) -> bool:
        return True

    def weights(self, record: ModelRecord) -> bytes:
        if record.location is not None:  # registered from a local file before the weights moved in
            return LocalArtifactStore().weights(record)
        blob = self.registry.weights(record.id)
        if blob is None:
            raise ArtifactError(f"model {record.id}: its weights are missing from the database")
        if hashlib.sha256(blob).hexdigest() != record.sha256:
            raise ArtifactError(f"model {record.id}: weights in the database do not match the registered checksum")
        return blob

    def load(self, record: ModelRecord) -> ServedModel:
        origin = f"model {record.id} (database)"
        return load_served_bytes(self.weights(record), check_metadata(record.metadata, origin), origin)
