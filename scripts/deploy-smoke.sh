#!/usr/bin/env bash
# Runs the Dockerfile's build and start steps outside Docker (no Docker engine on the dev and CI
# machines): the build context (sources only), `npm ci` with the same `npm install` fallback,
# `npm run build`, `npm prune --omit=dev`, then only the paths the runtime stage copies, started
# with `npm start` as the image's CMD does. Probes /healthz, /readyz, a page and a sign-up, then
# sends SIGTERM to npm (as `docker stop` does) and expects a clean exit within the budget.
#
# Usage: scripts/deploy-smoke.sh
#   With TEST_DATABASE_URL (postgres://…): runs on a fresh database on that server, dropped after.
#   Without it: runs on embedded PGlite in a temporary directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/duet-smoke.XXXXXX)
port=${SMOKE_PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
server_pid=""
database=""

cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
	if [ -n "$database" ]; then psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$database\" with (force)" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "SMOKE FAILED: $*" >&2; [ -f "$work/server.log" ] && tail -40 "$work/server.log" >&2; exit 1; }

step "build context: tracked and unignored files (what .dockerignore lets through)"
mkdir -p "$work/app"
(cd "$root" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
	case "$f" in node_modules/* | build/* | .svelte-kit/* | data/* | test-results/* | playwright-report/* | bench/results/* | .env) continue ;; esac
	[ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$work/app")
cd "$work/app"

step "deps stage: npm ci (npm install when the lock file is refused)"
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
npm ci --loglevel=error || { echo "npm ci refused the lock file; falling back to npm install"; npm install --loglevel=error; }

step "build stage: npm run build && npm prune --omit=dev"
npm run build >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "npm run build"; }
npm prune --omit=dev --loglevel=error

step "runtime stage: only the paths the Dockerfile copies from the build stage"
mkdir -p "$work/runtime"
copied=0
while read -r line; do
	# COPY --from=build SRC... DEST: every argument but the last is a source under /app.
	read -r -a words <<<"$line"
	for src in "${words[@]:2:${#words[@]}-3}"; do
		cp -a "$work/app/${src#/app/}" "$work/runtime/"
		copied=$((copied + 1))
	done
done < <(grep -E '^COPY --from=build ' "$root/Dockerfile" | sed 's/--chown=[^ ]* //')
[ "$copied" -ge 5 ] || fail "found only $copied COPY --from=build sources in the Dockerfile"
ls "$work/runtime"

if [ -n "${TEST_DATABASE_URL:-}" ]; then
	database="duet_smoke_$(date +%s)_$$"
	psql "$TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "create database \"$database\"" >/dev/null
	database_url=$(node -e "const u=new URL(process.argv[1]);u.pathname='/$database';console.log(u.href)" "$TEST_DATABASE_URL")
	echo "database: PostgreSQL ($database)"
else
	database_url=""
	echo "database: embedded PGlite (set TEST_DATABASE_URL to use PostgreSQL)"
fi

step "start: npm start (the image's CMD), as in the image's environment"
# Without this, SIGTERM to npm kills its `sh -c` and orphans the server (see the Dockerfile).
grep -q 'NPM_CONFIG_SCRIPT_SHELL=/bin/bash' "$root/Dockerfile" || fail "the Dockerfile no longer sets NPM_CONFIG_SCRIPT_SHELL"
export NPM_CONFIG_SCRIPT_SHELL=/bin/bash
cd "$work/runtime"
origin="http://127.0.0.1:$port"
env NODE_ENV=production PORT="$port" HOST=127.0.0.1 ORIGIN="$origin" DATABASE_URL="$database_url" \
	PGLITE_DIR="$work/data/pglite" SHUTDOWN_TIMEOUT_MS=10000 npm start >"$work/server.log" 2>&1 &
server_pid=$!

probe() { curl -s -o "$work/body" -w '%{http_code}' "$@" || true; }
for _ in $(seq 1 240); do
	[ "$(probe "$origin/healthz")" = 200 ] && break
	kill -0 "$server_pid" 2>/dev/null || fail "the server exited during start-up"
	sleep 0.25
done
[ "$(probe "$origin/healthz")" = 200 ] || fail "/healthz never answered 200"
echo "/healthz: $(cat "$work/body")"
[ "$(probe "$origin/readyz")" = 200 ] || fail "/readyz is not 200: $(cat "$work/body")"
echo "/readyz: $(cat "$work/body")"
[ "$(probe "$origin/login")" = 200 ] || fail "the sign-in page did not render"
echo "/login: 200"
user="smoke_$(date +%s)"
status=$(probe -X POST "$origin/api/auth/register" -H 'content-type: application/json' -H "origin: $origin" \
	-d "{\"username\":\"$user\",\"password\":\"correct horse battery\"}")
[ "$status" = 201 ] || fail "register answered $status: $(cat "$work/body")"
echo "register: 201 $(cat "$work/body")"

step "stop: SIGTERM to npm, as docker stop sends it"
started=$(date +%s%N)
kill -TERM "$server_pid"
set +e
wait "$server_pid"
code=$?
set -e
server_pid=""
elapsed=$((($(date +%s%N) - started) / 1000000))
if curl -s -o /dev/null "$origin/healthz"; then fail "the server still answers after npm exited (orphaned)"; fi
grep -q 'Shut down cleanly' "$work/server.log" || fail "no clean shutdown in the log"
[ "$code" = 0 ] || fail "npm start exited with $code"
[ "$elapsed" -lt 10000 ] || fail "shutdown took ${elapsed} ms"
echo "exit code 0 after ${elapsed} ms"
echo
echo "SMOKE PASSED"
