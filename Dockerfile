# syntax=docker/dockerfile:1
# gpucost-exporter image.
#   docker build -t gpucost-exporter .
#   docker run --rm -p 9863:9863 gpucost-exporter --demo      # http://localhost:9863/metrics
# Multi-arch builds and where the published image comes from: docs/deploy.md and
# .github/workflows/release.yml. Kubernetes manifests: deploy/ (they probe /healthz and
# /readyz). To pin the base image, pass --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim

# Build: the package and its dependencies in a virtual environment (pip compiles the bytecode).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/gpucost
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# Optional extras, e.g. --build-arg EXTRAS=parquet to read Parquet billing exports (pyarrow:
# about 130 MB more in the image; docs/pricing.md).
ARG EXTRAS=""
RUN /opt/gpucost/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

# Run: the same base image (the venv's python links to its interpreter) and the venv. The demo
# cluster is package data (gpucost/demo/), so `--demo` needs nothing else.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gpucost-exporter" \
      org.opencontainers.image.description="Prometheus exporter: what each Kubernetes workload's reservations cost, GPUs included" \
      org.opencontainers.image.source="https://github.com/gpucost/gpucost" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 65532 gpucost \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gpucost
COPY --from=build /opt/gpucost /opt/gpucost
# PYTHONDONTWRITEBYTECODE: deploy/ mounts the root filesystem read-only.
ENV PATH=/opt/gpucost/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 9863
ENTRYPOINT ["gpucost-exporter"]
