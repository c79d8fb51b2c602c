# One image for every service: `vtex-bridge ingress|worker|sim|feed poll`.
# Multi-stage: wheels are built with the pinned constraints, the runtime stage holds no build tools.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY bridge ./bridge
COPY processors ./processors
COPY simulator ./simulator
COPY schemas ./schemas
RUN pip wheel --no-cache-dir -c constraints.txt -w /wheels '.[rocksdb]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bridge
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt 'vtex-kafka-bridge[rocksdb]' \
    && rm -rf /wheels /tmp/constraints.txt
USER bridge
WORKDIR /home/bridge
ENV VTEX_BRIDGE_LOG_FORMAT=json PYTHONUNBUFFERED=1
EXPOSE 8080 6066 8090
# Health checks differ per service (port and path): compose and Kubernetes declare them.
ENTRYPOINT []
CMD ["vtex-bridge", "ingress"]
