#!/bin/sh
# A stand-in for the JBoss control scripts of the billing servers: it
# "runs" whatever release deploy_dir/current points to and reports health.
set -eu
cmd=$1 dir=$2
run=$dir/run
case $cmd in
restart)
	mkdir -p "$run"
	ver=$(basename "$(readlink "$dir/current")")
	ear=$(ls "$dir/current/" | head -n 1)
	echo "$(date -u +%FT%TZ) stopping billing" >> "$run/server.log"
	echo "$(date -u +%FT%TZ) starting billing $ver from $ear" >> "$run/server.log"
	echo "UP $ver" > "$run/health"
	echo "billing $ver restarted"
	;;
status)
	if [ -f "$run/health" ]; then cat "$run/health"; else echo DOWN; exit 3; fi
	;;
health)
	want=$3
	got=$(cat "$run/health" 2>/dev/null || echo DOWN)
	echo "health: $got"
	[ "$got" = "UP $want" ]
	;;
*)
	echo "usage: appserver.sh restart|status|health DIR [VERSION]" >&2
	exit 2
	;;
esac
