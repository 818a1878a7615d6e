# The Trellis image: every process of the Procfile (web, worker, beat, watcher) runs from it; see
# deploy/kubernetes/. It also serves as the image of the digits example's steps
# (python -m pipelines.examples.digits.*): tag it trellis/digits:0.1 too, or change the pipeline.
#
#   docker build -t registry.example.com/trellis:0.1.0 .

# ---- the frontend, built once with Node
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# ---- Python: the pinned dependencies first (a layer that changes only with pyproject.toml)
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    TRELLIS_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml ./
# torch from the CPU index: the control plane and the digits example need no CUDA libraries.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt --extra-index-url https://download.pytorch.org/whl/cpu \
    && rm /tmp/requirements.txt

# ---- the application
COPY manage.py Procfile ./
COPY mlops_web/ mlops_web/
COPY pipelines/ pipelines/
COPY scheduling/ scheduling/
COPY --from=frontend /src/frontend/dist/ frontend/dist/
RUN groupadd --gid 10001 trellis \
    && useradd --uid 10001 --gid trellis --no-create-home --shell /usr/sbin/nologin trellis \
    && mkdir -p /app/var \
    && chown trellis:trellis /app/var
USER 10001:10001
VOLUME ["/app/var"]
EXPOSE 8000
# The Procfile's web process; the other Deployments give their own command.
CMD ["sh", "-c", "exec daphne -b ${TRELLIS_HOST:-0.0.0.0} -p ${TRELLIS_PORT:-8000} mlops_web.asgi:application"]
