# syntax=docker/dockerfile:1

# Builder: install the locked dependencies into a virtualenv, then add Intrex itself as a
# wheel. The dependencies come from requirements.txt (the lock `tools/lock.sh` writes: exact
# versions, every file checked against its sha256) and are installed first, so editing the
# code does not re-download them; every dependency ships manylinux wheels, so no compiler
# is needed. Intrex goes in with --no-deps: nothing beyond the lock enters the image.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.txt ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
COPY cli ./cli
COPY migrations ./migrations
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-deps /tmp/wheels/*.whl \
    && /opt/venv/bin/python -c "from core.db.migrate import head_revision; print('migrations up to', head_revision())"

# Runtime: the same base image (the venv's interpreter links to /usr/local/bin/python3.11),
# only the venv, an unprivileged user, and the data volume. Secrets come from the environment
# at run time (env_file, orchestrator secrets), never from the image.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
RUN groupadd --system --gid 10001 intrex \
    && useradd --system --uid 10001 --gid intrex --home-dir /home/intrex --create-home \
        --shell /usr/sbin/nologin intrex \
    && mkdir -p /data \
    && chown intrex:intrex /data
COPY --from=builder /opt/venv /opt/venv
USER intrex:intrex
WORKDIR /home/intrex
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)" \
        "http://127.0.0.1:${HTTP_PORT:-8080}/healthz"
ENTRYPOINT ["intrex"]
CMD ["run"]
