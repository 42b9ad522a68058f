# syntax=docker/dockerfile:1
# Coordinator image: the catalog service (FastAPI + SQLAlchemy + Alembic), the web catalog and
# the Flower SuperLink with synthspace's ServerApp. Build from the repository root:
#   docker build -f deploy/images/coordinator.Dockerfile -t synthspace/coordinator:0.1.0 .
# torch is installed first from the CPU wheel index so that nothing pulls CUDA wheels; the
# ServerApp only averages LoRA tensors, it never needs a GPU.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/synthspace
ENV PATH=/opt/synthspace/bin:$PATH
RUN pip install pip==26.3 wheel==0.48.0 setuptools==84.2.1 \
 && pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: the image carries no source tree.
RUN pip install .

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 synthspace \
 && useradd --system --uid 10001 --gid synthspace --home-dir /var/lib/synthspace --create-home synthspace
COPY --from=build /opt/synthspace /opt/synthspace
COPY deploy/images/coordinator-entrypoint.sh /usr/local/bin/coordinator-entrypoint.sh
ENV PATH=/opt/synthspace/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SYNTHSPACE_COORDINATOR_HOME=/var/lib/synthspace/coordinator
USER 10001:10001
WORKDIR /var/lib/synthspace
VOLUME ["/var/lib/synthspace/coordinator"]
# 8600: catalog HTTP API and web pages. SuperLink (same image, other command) uses 9092.
EXPOSE 8600 9092
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8600/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/coordinator-entrypoint.sh"]
CMD ["serve"]
