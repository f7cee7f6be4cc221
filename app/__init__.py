"""fastapi-app: a production-grade FastAPI service in a container."""

# The service's name: the docs' title and the start-up errors (`scripts/rename` changes it).
NAME = "fastapi-app"
