"""Typed dependencies: what a route needs, taken from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.core.model_holder import ModelHolder
from training.runtime import ServedModel


def no_model_yet() -> HTTPException:
    """503 for requests that arrive before the lifespan has loaded a model."""
    return HTTPException(503, "no model loaded yet; retry shortly")


async def get_holder(request: Request) -> ModelHolder:
    holder: ModelHolder = request.app.state.holder
    return holder


async def get_model(holder: Annotated[ModelHolder, Depends(get_holder)]) -> ServedModel:
    """The model at the moment the request arrived; a later swap does not change it."""
    loaded = holder.current
    if loaded is None:
        raise no_model_yet()
    return loaded


ModelDep = Annotated[ServedModel, Depends(get_model)]
