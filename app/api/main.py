"""All routers, in the order the docs page lists them."""

from fastapi import APIRouter

from app.api.routes import explain, health, metrics, model, models, page, predict, train

api_router = APIRouter()
api_router.include_router(predict.router)
api_router.include_router(explain.router)
api_router.include_router(model.router)
api_router.include_router(models.router)
api_router.include_router(train.router)
api_router.include_router(health.router)
api_router.include_router(metrics.router)
api_router.include_router(page.router)
