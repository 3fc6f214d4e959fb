#!/usr/bin/env bash
# One runbook of STEPS trivial command steps on the first HOSTS hosts of a
# fleet kept between runs, for comparing two runbook binaries in turn:
#
#   go build -o /tmp/benchfleet ./scripts/benchfleet
#   mkfifo /tmp/ctl; /tmp/benchfleet serve -n 100 -dir /tmp/fleet </tmp/ctl & exec 3>/tmp/ctl
#   farm-bench -n 4 --timeout 600 --vs 'env RB=/tmp/rb-old scripts/bench-steps.sh /tmp/fleet 20 50' \
#       -- env RB=/tmp/rb-new scripts/bench-steps.sh /tmp/fleet 20 50
#
# RB (default: runbook on PATH) is the binary; PARALLEL (default 20) the
# environment's parallel; CMD (default `uname -n`) each step's command.
# The hosts' deploy dirs and HOMEs are emptied first. Never run by make
# test: a benchmark, not a test.
set -euo pipefail
fleet=$1 n=${2:-20} s=${3:-50}
mapfile -t hosts <"$fleet/hosts"
read -r _ _ user key _ <<<"${hosts[0]}"
work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-steps.XXXXXX")
trap 'rm -rf "$work"' EXIT
for ((i = 0; i < n; i++)); do
	read -r name port u k deploy home log <<<"${hosts[$i]}"
	find "$deploy" "$home" -mindepth 1 -delete
done
{
	echo "name: steps"
	echo "known_hosts: $fleet/known_hosts"
	echo "environments:"
	echo "  prod:"
	echo "    user: $user"
	echo "    auth: {key_file: $key}"
	echo "    parallel: ${PARALLEL:-20}"
	echo "    hosts:"
	for ((i = 0; i < n; i++)); do
		read -r name port u k deploy home log <<<"${hosts[$i]}"
		echo "      - {name: $name, address: \"127.0.0.1:$port\", deploy_dir: $deploy}"
	done
	echo "steps:"
	for ((i = 0; i < s; i++)); do
		printf '  - {name: s%d, on: prod, run: %s}\n' "$i" "$(jq -Rn --arg c "${CMD:-uname -n}" '$c')"
	done
} >"$work/runbook.yaml"
cd "$work"
HOME=$work/home "${RB:-runbook}" start --version 1.0.0 --yes >"$work/out.log" 2>&1 || { tail -n 20 "$work/out.log" >&2; exit 1; }
