# syntax=docker/dockerfile:1
#
# One image for the four kumiki services; docker-compose.yml picks the service with
#   node dist/services/<collector|identity-stitcher|profile-materializer|activator>/main.js
#
# Both stages are Debian bookworm (glibc): chDB's prebuilt native library
# (@chdb/lib-linux-<arch>-gnu) does not load on musl, so no alpine.

# ---- build: all dependencies, compile TypeScript, then drop the dev dependencies ----
FROM node:20-bookworm AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

COPY package.json package-lock.json ./
# --ignore-scripts: the root `prepare` script runs `npm run build`, which needs the sources
# copied below. No production dependency needs an install script: chdb's is a no-op and its
# native library arrives prebuilt as an optional dependency.
RUN npm ci --ignore-scripts

COPY . .
# The kafkajs performance patches (patches/, see the README) are applied by the postinstall
# script, which --ignore-scripts skipped above.
RUN npx patch-package --error-on-fail \
 && npm run build \
 && npm prune --omit=dev --ignore-scripts

# chDB (embedded ClickHouse for local mode) is a regular dependency and ships a ~540 MB native
# library (node_modules/@chdb/lib-linux-x64-gnu), most of this image. Containers talk to a
# ClickHouse server (CLICKHOUSE_URL), so it is dead weight there; it stays by default because
# dropping it is only safe while chdb is loaded lazily, i.e. never `import`ed at module top
# level by code the services run with CLICKHOUSE_URL set. Build with
# `--build-arg KUMIKI_EMBEDDED_CLICKHOUSE=false` for a slim image once that holds.
ARG KUMIKI_EMBEDDED_CLICKHOUSE=true
RUN if [ "$KUMIKI_EMBEDDED_CLICKHOUSE" = "false" ]; then rm -rf node_modules/chdb node_modules/@chdb; fi

# ---- runtime: production dependencies, compiled code and the files read at run time ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    KUMIKI_HOME=/var/lib/kumiki
WORKDIR /app

COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Read at run time through projectRoot(): Avro schemas and ClickHouse migrations.
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/infra ./infra
# The CLI, for `docker compose exec <service> node bin/kumiki.js …`.
COPY --from=build /app/bin ./bin

RUN mkdir -p /var/lib/kumiki && chown node:node /var/lib/kumiki
USER node

# collector 8080, identity-stitcher 8082, profile-materializer 8083, activator 8084 (each reads HTTP_PORT).
EXPOSE 8080 8082 8083 8084
CMD ["node", "dist/services/collector/main.js"]
