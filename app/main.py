"""The FastAPI application."""

from fastapi import FastAPI

from app.api.routes import health, rewards


def create_app() -> FastAPI:
    app = FastAPI(
        title="medreward",
        version="0.1.0",
        description="Medically informed rewards for GRPO fine-tuning of medical vision-language models.",
    )
    app.include_router(health.router)
    app.include_router(rewards.router)
    return app


app = create_app()
