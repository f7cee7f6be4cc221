"""fastapi-app: a production-grade FastAPI service in a container."""
