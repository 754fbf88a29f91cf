#!/usr/bin/env bash
# One-command deploy on the VPS, next to docker-compose.yml and .env (docs/deploy.md):
#
#   ./deploy.sh                         build the image from this checkout (duet:<commit>)
#   ./deploy.sh ghcr.io/you/duet:<sha>  pull that image instead (what the deploy workflow does)
#
# Checks the prerequisites and .env, gets the image, backs the database up, starts the new
# version (it applies its migrations on start), waits for /readyz, and keeps it, or starts the
# previous image again when it does not become ready. Running it again for the image that already
# runs and is ready changes nothing. What it did is printed; the exit status is 0 only when the
# wanted image runs and is ready.
set -euo pipefail
cd "$(dirname "$0")"

STATE_DIR=${DEPLOY_STATE_DIR:-.deploy}
BACKUP_DIR=${BACKUP_DIR:-backups}
KEEP_BACKUPS=${KEEP_BACKUPS:-14}
# The new version has READY_ATTEMPTS × READY_INTERVAL seconds to answer /readyz (2 minutes).
READY_ATTEMPTS=${READY_ATTEMPTS:-60}
READY_INTERVAL=${READY_INTERVAL:-2}

say() { printf 'deploy: %s\n' "$*"; }
die() {
	printf 'deploy: %s\n' "$*" >&2
	exit 1
}

# The last value of NAME in .env, quotes removed. Read, never sourced: .env is data, not a script.
env_value() {
	local line
	line=$(grep -E "^[[:space:]]*$1=" .env | tail -n 1 || true)
	line=${line#*=}
	line=${line%$'\r'}
	line=${line#\"}
	line=${line%\"}
	line=${line#\'}
	line=${line%\'}
	printf '%s' "$line"
}

check_prerequisites() {
	command -v docker >/dev/null || die "docker is not installed (https://docs.docker.com/engine/install/)"
	docker compose version >/dev/null 2>&1 || die "the docker compose plugin is missing (apt install docker-compose-plugin)"
	command -v curl >/dev/null || die "curl is not installed (apt install curl)"
	[ -f docker-compose.yml ] || die "no docker-compose.yml here; run deploy.sh from the app's directory"
	[ -f .env ] || die "no .env: cp .env.example .env, then set ORIGIN and POSTGRES_PASSWORD"
}

# Refuses what would start a server nobody can use safely: no public origin, or no database password.
check_env() {
	local origin password
	origin=$(env_value ORIGIN)
	password=$(env_value POSTGRES_PASSWORD)
	[ -n "$origin" ] || die ".env: set ORIGIN to the public URL of the app, e.g. https://chat.example.com"
	case "$origin" in
		http://localhost:3000) die ".env: ORIGIN is still the example's http://localhost:3000; set your public URL" ;;
		https://* | http://*) ;;
		*) die ".env: ORIGIN must be a URL starting with https:// (or http://), not '$origin'" ;;
	esac
	[ -n "$password" ] || die ".env: set POSTGRES_PASSWORD (for example: openssl rand -hex 24)"
	case "$password" in
		changeme | change-me | password | postgres | duet) die ".env: POSTGRES_PASSWORD is a well-known default; choose a random one" ;;
	esac
	PORT=$(env_value PORT)
	PORT=${PORT:-3000}
}

ready() {
	curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$PORT/readyz" 2>/dev/null
}

wait_ready() {
	local attempt
	for ((attempt = 1; attempt <= READY_ATTEMPTS; attempt++)); do
		if ready; then return 0; fi
		sleep "$READY_INTERVAL"
	done
	return 1
}

start_app() {
	DUET_IMAGE="$1" docker compose up -d --no-build app
}

# The image to run, present locally afterwards.
get_image() {
	local wanted=$1
	if [ -n "$wanted" ]; then
		say "pulling $wanted"
		docker pull "$wanted" >/dev/null || die "could not pull $wanted"
	else
		local commit
		commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo local)
		wanted="duet:$commit"
		if docker image inspect "$wanted" >/dev/null 2>&1; then
			say "image $wanted is already built"
		else
			say "building $wanted"
			docker build -t "$wanted" . >/dev/null || die "building $wanted failed"
		fi
	fi
	IMAGE=$wanted
}

backup() {
	mkdir -p "$BACKUP_DIR"
	local file
	file="$BACKUP_DIR/duet-$(date -u +%Y%m%dT%H%M%SZ).dump"
	docker compose up -d --wait db >/dev/null || die "the database did not become healthy; nothing was changed"
	if ! docker compose exec -T db pg_dump -U duet -d duet --format=custom >"$file.part" || [ ! -s "$file.part" ]; then
		rm -f "$file.part"
		die "the backup failed; nothing was changed"
	fi
	mv "$file.part" "$file"
	say "backed the database up to $file"
	# Newest first; everything past the newest KEEP_BACKUPS goes.
	local old
	old=$(find "$BACKUP_DIR" -maxdepth 1 -name 'duet-*.dump' -print | sort -r | tail -n "+$((KEEP_BACKUPS + 1))")
	if [ -n "$old" ]; then
		printf '%s\n' "$old" | xargs rm -f --
		say "removed $(printf '%s\n' "$old" | wc -l | tr -d ' ') backup(s) older than the newest $KEEP_BACKUPS"
	fi
}

main() {
	check_prerequisites
	check_env
	mkdir -p "$STATE_DIR"
	local previous=""
	[ -f "$STATE_DIR/current" ] && previous=$(cat "$STATE_DIR/current")

	get_image "${1:-${DUET_IMAGE:-}}"
	if [ "$IMAGE" = "$previous" ] && ready; then
		say "$IMAGE already runs and is ready; nothing to do"
		exit 0
	fi

	backup
	say "starting $IMAGE (it applies its migrations on start)"
	start_app "$IMAGE"
	if wait_ready; then
		[ -n "$previous" ] && [ "$previous" != "$IMAGE" ] && printf '%s\n' "$previous" >"$STATE_DIR/previous"
		printf '%s\n' "$IMAGE" >"$STATE_DIR/current"
		say "$IMAGE is ready on port $PORT; kept"
		exit 0
	fi

	say "$IMAGE did not become ready within $((READY_ATTEMPTS * READY_INTERVAL)) s; its last log lines:"
	docker compose logs --tail 40 app || true
	if [ -z "$previous" ] || [ "$previous" = "$IMAGE" ]; then
		die "no previous image to roll back to; the database backup is in $BACKUP_DIR"
	fi
	say "rolling back to $previous"
	start_app "$previous"
	if wait_ready; then
		die "rolled back: $previous runs and is ready; $IMAGE was not kept"
	fi
	die "rolled back to $previous, but it is not ready either; see docker compose logs app, and the backup in $BACKUP_DIR"
}

main "$@"
