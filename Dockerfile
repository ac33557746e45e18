# syntax=docker/dockerfile:1
# mdm-gateway container image (operations issue #14, item 8). Two stages: the
# build stage compiles TypeScript and the native SQLite binding with a
# toolchain; the runtime stage holds only dist/, production node_modules and
# the healthcheck, and runs as the unprivileged `node` user.
# test/deploy/dockerfile.test.ts lints this file (no Docker daemon in CI).

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile src/, which is not copied yet; the
# one native module is built explicitly.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    MDMGW_HOST=0.0.0.0 \
    MDMGW_PORT=8080 \
    MDMGW_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY scripts/docker-healthcheck.mjs ./healthcheck.mjs
# The data directory (CA key, database, admin token) belongs to the runtime
# user and nobody else; the gateway keeps it 0700 and its files 0600.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["serve"]
