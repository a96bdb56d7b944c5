#!/bin/bash
# Agent-mode benchmark: boot-to-ready over BOOTS boots (`msbvm run -d`
# returns when agentd's READY frame arrives) and the exec round trip of
# `msbvm exec NAME -- true` over EXECS runs into one running VM, as a user
# sees it (CLI start, vsock connect, HELLO, fork+exec in the guest, EXIT).
# usage: tools/agent-bench.sh [BOOTS] [EXECS]     (default 3 100)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
boots=${1:-3}
execs=${2:-100}
msbvm=$top/build/msbvm
work=$(mktemp -d)
state=$work/state
trap '"$msbvm" stop --state-dir "$state" bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$top/tools/mkrootfs.sh" "$work/root.ext4" "$top/tests/integration/init-smoke.sh" 64 >/dev/null

now() { date +%s%N; }
stats() { # label unit values... : min / median / p90 / max
	local label=$1 unit=$2; shift 2
	printf '%s\n' "$@" | sort -n | awk -v l="$label" -v u="$unit" '
		{ v[NR] = $1 } END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			p = v[int(NR * 0.9 + 0.999)]
			printf "%-34s n=%-4d min %8.3f  median %8.3f  p90 %8.3f  max %8.3f %s\n",
				l, NR, v[1], m, p, v[NR], u }'
}

ready=() guest=() stop=()
for i in $(seq "$boots"); do
	"$msbvm" run --verbose -d --state-dir "$state" --name bench --rootfs "$work/root.ext4" \
		>/dev/null 2>"$work/run.err"
	r=$(sed -n 's/.*agent ready \([0-9.]*\) s after start.*ready \([0-9]*\) ms).*/\1 \2/p' "$work/run.err")
	ready+=("${r% *}")
	guest+=("$(echo "${r#* } / 1000" | bc -l)")
	[ "$i" = "$boots" ] && break
	t=$(now); "$msbvm" stop --state-dir "$state" bench; stop+=("$(( ($(now) - t) / 1000000 ))")
done

lat=()
for i in $(seq "$execs"); do
	t=$(now)
	"$msbvm" exec --state-dir "$state" bench -- true
	lat+=("$(( ($(now) - t) / 1000 ))")
done
t=$(now); "$msbvm" stop --state-dir "$state" bench; stop+=("$(( ($(now) - t) / 1000000 ))")

echo "msbvm agent benchmark ($(uname -n), $(nproc) CPUs, kvm_pvm: $([ -d /sys/module/kvm_pvm ] && echo yes || echo no))"
stats "boot to READY (host, msbvm start)" s "${ready[@]}"
stats "agentd listening (guest clock)" s "${guest[@]}"
stats "exec 'true' round trip" ms $(for v in "${lat[@]}"; do echo "scale=3; $v / 1000" | bc; done)
stats "stop (SHUTDOWN -> VMM exit)" ms "${stop[@]}"
