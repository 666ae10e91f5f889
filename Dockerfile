# syntax=docker/dockerfile:1
# Multi-stage build: compile (CTranslate2 C++ included) in a Rust image, fetch the Whisper model
# with pip, run as a non-root user in a slim Debian image.

FROM rust:1-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends cmake g++ pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY static ./static
COPY docs/openapi.json ./docs/openapi.json
COPY benches ./benches
# Embedded into the binary by sqlx::migrate! at compile time.
COPY migrations ./migrations
RUN cargo build --release --locked --bin speech-coach

FROM python:3.11-slim-bookworm AS model
WORKDIR /m
COPY scripts/fetch-model.sh ./scripts/fetch-model.sh
RUN SPEECH_COACH_CACHE=/m/cache bash scripts/fetch-model.sh --copy --dest /whisper-base

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates curl ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 app
WORKDIR /app
COPY --from=build /src/target/release/speech-coach /usr/local/bin/speech-coach
COPY --from=model /whisper-base /app/models/whisper-base
COPY config ./config
RUN mkdir -p /app/cache /app/logs /app/data && chown -R app:app /app
USER app
ENV BIND_ADDR=0.0.0.0:8000 \
    WHISPER_MODEL_DIR=/app/models/whisper-base \
    CACHE_DIR=/app/cache/analysis \
    LOG_FILE=/app/logs/app.log \
    DATA_DIR=/app/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health || exit 1
ENTRYPOINT ["speech-coach"]
CMD ["serve"]
