#!/bin/sh
# Summarise a `msbvm run --profile FILE` sample file with the kernel's
# System.map: the hottest functions per time window of the boot.
# usage: tools/profile-report.sh FILE [SYSTEM_MAP] [WINDOW_SECONDS]
# SYSTEM_MAP defaults to the one cached beside build/vmlinux.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
prof=${1:?usage: profile-report.sh FILE [SYSTEM_MAP] [WINDOW]}
map=${2:-$(dirname "$(readlink -f "$top/build/vmlinux")")/System.map}
win=${3:-1}
[ -r "$map" ] || { echo "profile-report: no System.map at $map" >&2; exit 1; }
# Hex addresses are compared as zero-padded strings: awk's doubles cannot
# hold 64-bit addresses exactly.
awk -v win="$win" '
NR == FNR { if ($2 ~ /^[tTwW]$/) { n++; addr[n] = $1; name[n] = $3 } next }
{
	rip = sprintf("%016s", $2); gsub(/ /, "0", rip)
	lo = 1; hi = n; fn = "?"
	if (rip >= addr[1]) {
		while (lo < hi) { mid = int((lo + hi + 1) / 2); if (addr[mid] <= rip) lo = mid; else hi = mid - 1 }
		fn = name[lo]
	}
	if (rip < "ffffffff80000000") fn = "(user space)"
	w = int($1 / win); cnt[w, fn]++; tot[w]++; if (w > maxw) maxw = w
	all[fn]++; total++
}
END {
	for (w = 0; w <= maxw; w++) {
		if (!tot[w]) continue
		line = ""
		for (k = 0; k < 3; k++) {
			best = ""; bc = 0
			for (key in cnt) { split(key, p, SUBSEP); if (p[1] == w && cnt[key] > bc && !(key in used)) { bc = cnt[key]; best = key } }
			if (best == "") break
			used[best] = 1; split(best, p, SUBSEP)
			line = line sprintf("  %s %d%%", p[2], 100 * bc / tot[w])
		}
		printf "%6.1fs%s\n", w * win, line
	}
	print "overall:"
	for (f in all) printf "%7d %5.1f%% %s\n", all[f], 100 * all[f] / total, f | "sort -rn | head -20"
}' "$map" "$prof"
