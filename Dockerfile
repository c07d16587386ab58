# The driftline worker image: `docker build -t driftline .` then
# `docker run driftline run -c /etc/driftline/driftline.yaml` (or `demo`, the default).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sketches ./sketches
COPY stream ./stream
COPY alerts ./alerts
COPY grafana ./grafana
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels driftline && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/driftline --create-home driftline
USER driftline
WORKDIR /var/lib/driftline
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/metrics', timeout=2)"
ENTRYPOINT ["driftline"]
CMD ["demo"]
