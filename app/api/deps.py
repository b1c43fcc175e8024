"""Typed dependencies: what a route needs, taken from the app's state."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.core.config import Settings
from app.core.model_holder import ModelHolder
from training.artifacts import LoadedModel


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_holder(request: Request) -> ModelHolder:
    holder: ModelHolder = request.app.state.holder
    return holder


def get_executor(request: Request) -> ThreadPoolExecutor:
    executor: ThreadPoolExecutor = request.app.state.executor
    return executor


def get_model(holder: Annotated[ModelHolder, Depends(get_holder)]) -> LoadedModel:
    """The model at the moment the request arrived; a later swap does not change it."""
    loaded = holder.current
    if loaded is None:
        raise HTTPException(503, "no model loaded yet; retry shortly")
    return loaded


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ExecutorDep = Annotated[ThreadPoolExecutor, Depends(get_executor)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
