# The image of fastapi-app: the locked dependencies built in a builder stage, copied into a clean
# final stage with the app code. Steps are ordered by how often they change, code last.
# Ref: https://docs.astral.sh/uv/guides/integration/docker/

# The base of both stages. The tutorial's Alpine by default; any official python:3.13 image
# (python:3.13-slim, ...) builds unchanged, since no stage installs system packages.
ARG PYTHON_IMAGE=python:3.13.5-alpine3.22

FROM ${PYTHON_IMAGE} AS builder
# A pinned uv from PyPI (docker/uv/requirements.txt): every dependency ships wheels for musl and
# glibc, so no compiler is needed.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=docker/uv/requirements.txt,target=/tmp/uv-requirements.txt \
    python -m pip install --root-user-action=ignore --disable-pip-version-check \
        -r /tmp/uv-requirements.txt
# Copy (not hard-link) out of the cache mount; never download an interpreter, use the base's.
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# The locked runtime dependencies only: this layer is reused until uv.lock or pyproject.toml change.
# Their compiled modules lose the debug information some wheels ship (docker/strip_debug.py).
# Their bytecode is compiled now (the final filesystem is read-only, and a cold import is slower
# without it), hash-based and unchecked: a .pyc records no file time, so it stays valid whatever
# times the image's files carry, and nothing hashes the sources at start (they never change).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=docker/strip_debug.py,target=/tmp/strip_debug.py \
    uv sync --locked --no-dev --no-install-project \
    && python /tmp/strip_debug.py /app/.venv \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /app/.venv/lib

FROM ${PYTHON_IMAGE}
# The app's environment first on PATH: its python has no pip (uv does not install one).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# A passwd entry for the app's UID (10001, group root), so tools that look the user up find it
# (`docker compose watch` copies files as the container's user). Plain /etc/passwd: any base.
RUN echo "app:x:10001:0:fastapi-app:/nonexistent:/sbin/nologin" >> /etc/passwd
COPY --from=builder /app/.venv /app/.venv
COPY app/ app/
# The app's own bytecode, hash-based too, but checked against its source at import: the dev mode
# (compose.dev.yml) syncs edited files into the container, and an edit must not run stale code.
RUN python -m compileall -q --invalidation-mode checked-hash app
# The standard library's bytecode for what a start imports: the official bases ship none, and on a
# read-only root each process (each worker, each probe) would compile those modules again.
RUN --mount=type=bind,source=docker/compile_stdlib.py,target=/tmp/compile_stdlib.py \
    PYTHONPATH=/app python /tmp/compile_stdlib.py
# A fixed numeric non-root UID (Kubernetes runAsNonRoot checks it); files stay root-owned and
# world-readable, so any other UID (OpenShift, runAsUser) runs the image as well.
USER 10001
EXPOSE 8000
# Probe /info/status with the standard library (the base images have no curl or wget). Probe every
# 0.2 s while starting (the app answers about 0.5 s after start), then every 30 s.
HEALTHCHECK --interval=30s --timeout=3s --retries=3 --start-period=30s --start-interval=0.2s \
    CMD ["python", "-m", "app.healthcheck"]
# uvicorn itself is PID 1 (exec form, no shell), so SIGTERM from `docker stop` reaches it.
CMD ["python", "-m", "app.server"]

# Build metadata last: it changes on every build and must not invalidate the layers above.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="fastapi-app" \
      org.opencontainers.image.description="A production-grade FastAPI service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
ENV APP_VERSION=${VERSION} \
    APP_REVISION=${REVISION} \
    APP_BUILD_DATE=${CREATED}
