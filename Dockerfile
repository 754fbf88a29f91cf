# syntax=docker/dockerfile:1
# Duet's production image. Stages: deps (all dependencies), build (the SvelteKit bundle, then dev
# dependencies pruned), runtime (slim Node LTS, non-root, only what `npm start` needs).
# scripts/deploy-smoke.sh runs these same steps outside Docker; keep the two in step.
# An exact release, not a floating tag: `npm run test:node-image` (in CI) runs the suites on this
# very version. Bump it here, and CI follows.
ARG NODE_IMAGE=node:26.12.1-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# npm ci's postinstall applies these to the installed packages (patches/README.md says why).
COPY patches ./patches
# npm ci refuses a lock file that lacks other platforms' optional native packages, which some
# registries do not serve; then install the same locked versions with npm install (as .ci/run does).
RUN npm ci || (echo "npm ci refused the lock file; falling back to npm install" && npm install)

FROM deps AS build
COPY . .
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
# npm runs scripts through `sh -c`; Debian's sh (dash) forks instead of exec'ing, so npm's SIGTERM
# would kill that shell and orphan the server, which then never drains. bash execs a lone command.
# MALLOC_ARENA_MAX: libvips' threads (sharp, image uploads) each keep a glibc arena otherwise;
# measured with 20 photo uploads at once, two arenas halve the peak (+350 → +165 MiB).
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_SCRIPT_SHELL=/bin/bash \
    PORT=3000 HOST=0.0.0.0 PGLITE_DIR=/data/pglite SHUTDOWN_TIMEOUT_MS=10000 MALLOC_ARENA_MAX=2
WORKDIR /app
# The code stays root-owned and read-only to the app; only /data (embedded PGlite) is writable.
RUN mkdir -p /data && chown node:node /data
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build ./build
COPY --from=build /app/server ./server
COPY --from=build /app/drizzle ./drizzle
USER node
EXPOSE 3000
VOLUME /data
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches the server through npm; it drains and exits within SHUTDOWN_TIMEOUT_MS.
STOPSIGNAL SIGTERM
# Migrations are applied at start-up, idempotently, before the server listens.
CMD ["npm", "start"]
