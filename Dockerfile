# syntax=docker/dockerfile:1
# Parley in a container: build once with the compilers better-sqlite3 may
# need, run slim as an unprivileged user with its state on the /data volume.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# postinstall applies patches/ (node-turn fixes) and bundles the browser client into public/app/.
COPY patches/ patches/
COPY scripts/ scripts/
COPY src/ src/
COPY public/ public/
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# ffmpeg: recordings get a duration and an mp4 copy, RTMS audio becomes WAV.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --home-dir /data --shell /usr/sbin/nologin parley \
 && mkdir /data && chown parley:parley /data
WORKDIR /app
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/public/ public/
COPY package.json tsconfig.json ./
COPY bin/ bin/
COPY src/ src/
COPY migrations/ migrations/
ENV NODE_ENV=production \
    PARLEY_DATA_DIR=/data \
    PARLEY_PORT=8080
USER parley
VOLUME ["/data"]
EXPOSE 8080/tcp 3478/udp 49160-49359/udp
# Asks the server itself; with TLS on it speaks https and accepts the (possibly self-signed) certificate of its own loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const tls=process.env.PARLEY_TLS||process.env.PARLEY_TLS_CERT;if(tls)process.env.NODE_TLS_REJECT_UNAUTHORIZED='0';fetch((tls?'https':'http')+'://127.0.0.1:'+(process.env.PARLEY_PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: calls are closed cleanly on docker stop.
CMD ["node", "bin/parley.mjs"]
