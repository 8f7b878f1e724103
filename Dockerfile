# syntax=docker/dockerfile:1
# The Petit chat image: the server binary and the built web client, on Debian slim, run as
# an unprivileged user. `docker build -t petit-chat .` at the top of a checkout.
#
# No Docker engine runs where this project is built and tested, so nothing here builds
# this file: it stays minimal, and uses only the steps `scripts/run` does.
# The Helm chart (deploy/helm) runs this image as the API and as the workers.

FROM rust:1.95-bookworm AS server
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p petit-chat \
    && strip target/release/petit-chat

FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci
COPY web/ ./
COPY --from=server /src/target/release/petit-chat /usr/local/bin/petit-chat
# The typed API client is generated from this binary's OpenAPI document.
RUN PETIT_CHAT_BIN=/usr/local/bin/petit-chat npm run build

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/petit-chat --create-home petit-chat
COPY --from=server /src/target/release/petit-chat /usr/local/bin/petit-chat
COPY --from=web /src/web/dist /usr/share/petit-chat/web
USER 10001
WORKDIR /var/lib/petit-chat
ENV PETIT_CHAT__SERVER__LISTEN=0.0.0.0:8080 \
    PETIT_CHAT__SERVER__DATA_DIR=/var/lib/petit-chat \
    PETIT_CHAT__SERVER__WEB_DIR=/usr/share/petit-chat/web
EXPOSE 8080
VOLUME /var/lib/petit-chat
ENTRYPOINT ["petit-chat"]
# With a configuration: docker run -v ./config.toml:/etc/petit-chat/config.toml petit-chat serve --config /etc/petit-chat/config.toml
CMD ["serve"]
