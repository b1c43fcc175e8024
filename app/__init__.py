"""digit-service: the FastAPI prediction service."""
