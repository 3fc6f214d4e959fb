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
# NIGHT=1 runs the night of scripts/bench-fleet.sh instead (6 trivial
# commands, a 16 MiB upload, activate, a restart with a verify; STEPS is
# then ignored), for comparing two builds on that night:
#
#   farm-bench -n 3 --warmup 0 --timeout 900 --vs 'env NIGHT=1 RB=/tmp/rb-old scripts/bench-steps.sh /tmp/fleet 100' \
#       -- env NIGHT=1 RB=/tmp/rb-new scripts/bench-steps.sh /tmp/fleet 100
# NIGHT=stage runs only that night's upload step (the stage): what the
# copy costs the hosts, with the hosts' CPU printed (STAGE_CPU=1 prints
# "stage MS hosts CPU-S": the stage's time from runbook's record, and
# the hosts' CPU as scripts/hosts-cpu.sh counts it).
# The hosts' deploy dirs and HOMEs are emptied first. KEEP=DIR copies the
# work directory (runbook.yaml, the record in .runbook/) there at the end,
# for `runbook report` or another run of the same runbook by hand. Never
# run by make test: a benchmark, not a test.
set -euo pipefail
. "$(dirname "$0")/hosts-cpu.sh"
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
	if [[ -n ${NIGHT:-} ]]; then
		head -c $((16 << 20)) /dev/urandom >"$work/app.ear"
		echo "artifact: {path: app.ear}"
	fi
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
	if [[ ${NIGHT:-} == stage ]]; then
		echo "steps:"
		echo "  - {name: stage, on: prod, upload: artifact}"
	elif [[ -n ${NIGHT:-} ]]; then
		# The night of bench-fleet.sh, word for word.
		q() { jq -Rn --arg c "$1" '$c'; }
		echo "    operations:"
		echo "      restart: $(q 'D={{ .Host.DeployDir | q }}; readlink "$D/current" > "$D/running"')"
		echo "steps:"
		i=0
		for c in 'test -d "$HOME"' 'uname -n >/dev/null' 'echo checking' 'df -P . >/dev/null' 'id -u >/dev/null' 'date +%s >/dev/null'; do
			i=$((i + 1))
			printf '  - {name: check-%d, on: prod, run: %s}\n' "$i" "$(q "$c")"
		done
		echo "  - {name: stage, on: prod, upload: artifact}"
		echo "  - {name: activate, on: prod, activate: true}"
		printf '  - {name: restart, on: prod, op: restart, verify: %s}\n' "$(q 'D={{ .Host.DeployDir | q }}; V={{ .Version | q }}; grep -qx "releases/$V" "$D/running"')"
	else
		echo "steps:"
		for ((i = 0; i < s; i++)); do
			printf '  - {name: s%d, on: prod, run: %s}\n' "$i" "$(jq -Rn --arg c "${CMD:-uname -n}" '$c')"
		done
	fi
} >"$work/runbook.yaml"
cd "$work"
[[ -z ${KEEP:-} ]] || trap 'cp -r "$work"/. "$KEEP"/; rm -rf "$work"' EXIT
[[ -z ${STAGE_CPU:-} ]] || hosts_cpu cpu0
HOME=$work/home "${RB:-runbook}" start --version 1.0.0 --yes >"$work/out.log" 2>&1 || { tail -n 20 "$work/out.log" >&2; exit 1; }
if [[ -n ${STAGE_CPU:-} ]]; then
	HOME=$work/home "${RB:-runbook}" report --format json -o "$work/rep.json" >/dev/null
	hosts_cpu cpu1
	echo "stage $(jq -r '.steps[] | select(.name == "stage") | .duration_ms' "$work/rep.json") hosts $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
fi
