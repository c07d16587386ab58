# The driftline worker image: `docker build -t driftline .` then
# `docker run driftline run -c /etc/driftline/driftline.yaml` (or `demo`, the default).
FROM rust:1-slim-bookworm AS rust

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
# the Rust toolchain builds driftline.stream.decode._jsoncols, the decoder's native fast path,
# and driftline.sketches._native, the window evaluation's KS / Wasserstein kernel
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY sketches ./sketches
COPY stream ./stream
COPY alerts ./alerts
COPY grafana ./grafana
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels driftline && rm -rf /wheels \
    && python -c "import driftline.stream.decode._jsoncols, driftline.sketches._native" \
    && useradd --system --uid 10001 --home-dir /var/lib/driftline --create-home driftline
USER driftline
WORKDIR /var/lib/driftline
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/metrics', timeout=2)"
ENTRYPOINT ["driftline"]
CMD ["demo"]
