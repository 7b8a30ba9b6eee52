#!/bin/sh
# Installs, from Debian's packages, what `make test` needs and this machine
# lacks, and fetches the Go modules, so that the tests then run with only
# loopback reachable. Does nothing when everything is there.
set -eu

# Every module the build and the tests (all tags) import, into the module
# cache; a no-op when they are there already.
${GO:-go} mod download

need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v socat >/dev/null 2>&1 || need="$need socat"
command -v python3 >/dev/null 2>&1 || need="$need python3"
command -v gcc >/dev/null 2>&1 || need="$need gcc" # go test -race needs cgo
command -v zsh >/dev/null 2>&1 || need="$need zsh"   # completion syntax checks
command -v fish >/dev/null 2>&1 || need="$need fish"
command -v lintian >/dev/null 2>&1 || need="$need lintian" # packaging tests
command -v rpm >/dev/null 2>&1 || need="$need rpm"
command -v systemd-nspawn >/dev/null 2>&1 || need="$need systemd-container" # make e2e
command -v node >/dev/null 2>&1 || need="$need nodejs" # contrib example client
command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg" # video thumbnails; media test files

if [ -z "$need" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "missing:$need; install them (apt-get install$need) or run make test as root" >&2
	exit 1
fi
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need
