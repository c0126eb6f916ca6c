# syntax=docker/dockerfile:1
# One image for every Kohtaamo service. The service is chosen when the container starts:
#   docker run kohtaamo events              a service by name (identity, events, bookings,
#                                          notifications, analytics, gateway)
#   docker run -e KOHTAAMO_RUN=events ...   the same through the environment
#   docker run kohtaamo dlq list            any other `kohtaamo` command (operators)
#   docker build --build-arg SERVICE=events   a per-service image: only that service
#                                           installed, and run by default
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The same uv as the Makefile, from PyPI, so the image resolves exactly like a developer.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Third-party dependencies first, from the lockfile alone: this layer is rebuilt only when
# uv.lock or a manifest changes, not on every source edit.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY services/kit/pyproject.toml services/kit/
COPY services/identity/pyproject.toml services/identity/
COPY services/events/pyproject.toml services/events/
COPY services/bookings/pyproject.toml services/bookings/
COPY services/notifications/pyproject.toml services/notifications/
COPY services/analytics/pyproject.toml services/analytics/
COPY services/gateway/pyproject.toml services/gateway/
# With --build-arg SERVICE=<name> only that service and its dependencies are installed (a
# smaller per-service image: no plotting libraries in events, say); without it, all.
# The production set is `uv export --no-dev` from the lockfile (hashes verified): exactly
# what tests/deploy/test_dependencies.py checks for licences and development-only packages
# (no embedded store, supervisor or SMTP catcher: those are the dev group's `local` extras).
ARG SERVICE=""
RUN --mount=type=cache,target=/root/.cache/uv \
    select="${SERVICE:+--package kohtaamo-$SERVICE}" \
 && uv export --frozen --no-dev --no-emit-workspace ${select:---all-packages} \
      -o /src/requirements.txt >/dev/null \
 && uv venv /app/.venv \
 && VIRTUAL_ENV=/app/.venv uv pip install --no-deps -r /src/requirements.txt
# Then our own packages, installed as regular (non-editable) packages: the runtime stage
# needs the virtual environment only, not the sources.
COPY contracts/ contracts/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    select="${SERVICE:+--package kohtaamo-$SERVICE}" \
 && uv export --frozen --no-dev --no-editable --no-hashes ${select:---all-packages} \
      | grep '^\./' > /src/workspace.txt \
 && VIRTUAL_ENV=/app/.venv uv pip install --no-deps -r /src/workspace.txt

FROM ${PYTHON_IMAGE} AS runtime
# OpenShift runs a container as an arbitrary UID in group 0 (restricted SCC): the user is
# in group 0, the code is root's and only readable, and the one place written (/tmp; with a
# read-only root filesystem an emptyDir) is open to group 0. Backups go to a mounted volume.
RUN useradd --system --uid 10001 --gid 0 --no-create-home \
      --home-dir /tmp --shell /usr/sbin/nologin kohtaamo \
 && chgrp 0 /tmp && chmod 1777 /tmp
# Same path as in the build stage: the venv's scripts name their interpreter by path.
COPY --from=build /app/.venv /app/.venv
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.py /app/
RUN chmod -R a+rX,go-w /app
ARG SERVICE=""
# The source revision (`docker build --build-arg REVISION=$(git rev-parse HEAD)`), shown in
# the kohtaamo_build_info metric.
ARG REVISION=""
# Every container listens on 8080 inside; compose and Kubernetes map it. JSON logs.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KOHTAAMO_ENVIRONMENT=production \
    KOHTAAMO_HOST=0.0.0.0 \
    KOHTAAMO_PORT=8080 \
    KOHTAAMO_LOG_FORMAT=json \
    KOHTAAMO_RUN=${SERVICE} \
    KOHTAAMO_BUILD_REVISION=${REVISION} \
    HOME=/tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd; any other
# UID (OpenShift's restricted SCC) works the same, with group 0.
USER 10001:0
WORKDIR /tmp
EXPOSE 8080
# Liveness only (is the process serving HTTP); compose and Kubernetes ask /readyz themselves.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "/healthz"]
ENTRYPOINT ["/app/entrypoint.sh"]
CMD []
