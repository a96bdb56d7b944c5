#!/bin/bash
# `make fuzz-ci`: every libFuzzer target of `make fuzz` for SECS seconds
# each, from its checked-in seed corpus tests/fuzz/corpus/TARGET/ (new
# inputs go to build/fuzz-ci/TARGET/corpus, never into the repository).
# Fails on any crash, leak, timeout (-timeout: one input over 10 s) or
# out-of-memory; the input that did it is left in build/fuzz-ci/TARGET/
# (crash-*, timeout-*, oom-*): add it to the seed corpus as a regression
# and fix the parser. Prints executions per second per target.
# Usage: tools/fuzz-ci.sh SECS TARGET...
set -u
secs=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
fails=0
t0=$(date +%s)
for t in "$@"; do
	out=build/fuzz-ci/$t
	seeds=tests/fuzz/corpus/${t#fuzz_}
	rm -rf "$out"; mkdir -p "$out/corpus"
	[ -d "$seeds" ] || { echo "fuzz-ci: $t: no seed corpus $seeds"; fails=$((fails + 1)); continue; }
	build/fuzz/$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/" \
		"$out/corpus" "$seeds" >"$out/log" 2>&1
	rc=$?
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log" | tail -1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$out/log" | tail -1)
	if [ $rc = 0 ] && ! ls "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-* >/dev/null 2>&1; then
		echo "ok - $t: ${runs:-?} runs in ${secs} s, ${eps:-?} exec/s, $cov"
	else
		echo "not ok - $t (rc=$rc): see $out/log"
		grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$out/log" | sed 's/^/#   /'
		fails=$((fails + 1))
	fi
done
echo "fuzz-ci: $# targets, $(( $(date +%s) - t0 )) s in all, $fails failed"
[ $fails = 0 ]
