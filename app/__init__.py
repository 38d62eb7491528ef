"""The medreward FastAPI service."""
