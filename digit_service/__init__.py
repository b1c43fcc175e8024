"""The Python client of digit-service (`digit_service.client`) and its console command `digits`."""

from digit_service.client import (
    AsyncClient,
    AsyncTrainingJob,
    Client,
    DigitServiceError,
    Epoch,
    JobState,
    ModelInfo,
    Prediction,
    Progress,
    TrainingJob,
)

__all__ = [
    "AsyncClient",
    "AsyncTrainingJob",
    "Client",
    "DigitServiceError",
    "Epoch",
    "JobState",
    "ModelInfo",
    "Prediction",
    "Progress",
    "TrainingJob",
]
