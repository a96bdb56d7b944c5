#!/bin/bash
# Agent mode end to end: two boots of a busybox ext4 root.
#  boot A: `msbvm run --rootfs IMG -- CMD` in the foreground (stdout and
#          stderr separated, exit code, kernel.log kept out of stdout);
#  boot B: `msbvm run -d`, then many `msbvm exec` / `cp` / socat / hostile
#          peers against the same running VM (who dies when: background
#          jobs, exec -d, hang-ups of killed and interrupted clients), a file-system stress run
#          (tools/guest/fsstress.c) on a scratch ext4 disk, then `msbvm stop`.
# Every image a boot wrote is checked with e2fsck -fn after the VM exits.
. "$(dirname "$0")/lib.sh"
trap '"$msbvm" stop --state-dir "$state" --timeout 5 tb >/dev/null 2>&1; rm -rf "$work"' EXIT
x() { "$msbvm" exec --state-dir "$state" tb "$@"; }
# xo OPTIONS... -- CMD...: exec with options (they come before the name)
xo() {
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	"$msbvm" exec --state-dir "$state" "${opts[@]}" tb "$@"
}

tools/mkrootfs.sh "$work/root.ext4" tests/integration/init-smoke.sh 64 >/dev/null ||
	{ echo "Bail out! rootfs"; exit 1; }
fsstress=$top/build/guest/fsstress
[ -x "$fsstress" ] || make --no-print-directory -s build/guest/fsstress ||
	{ echo "Bail out! build/guest/fsstress"; exit 1; }
# the scratch disk for the stress run (vdb in boot B)
truncate -s 128M "$work/stress.ext4"
mkfs.ext4 -q -F -L msbvm-stress "$work/stress.ext4" || { echo "Bail out! mkfs"; exit 1; }

echo "# boot A: msbvm run --rootfs IMG -- CMD (foreground)"
"$msbvm" run --state-dir "$state" --name ta --rootfs "$work/root.ext4" -- \
	sh -c 'echo to-stdout; echo to-stderr >&2; cat /proc/1/comm
		echo "Kernel panic - not syncing: fake, printed by CMD" >/dev/console; exit 42' \
	>"$work/a.out" 2>"$work/a.err" </dev/null
rc=$?
check "run -- CMD exits with CMD's status (42, got $rc)" [ $rc = 42 ]
check "a fake panic line CMD printed on the console is no panic" \
	bash -c "! grep -q 'guest kernel panic' '$work/a.err'"
check "stdout carries only the command's stdout" [ "$(head -1 "$work/a.out")" = to-stdout ]
check "stderr carries the command's stderr" grep -qx to-stderr "$work/a.err"
check "the kernel log is not on stdout" bash -c "! grep -q 'Linux version\|agentd:' '$work/a.out'"
check "agentd is PID 1 (/proc/1/comm = init)" [ "$(sed -n 2p "$work/a.out")" = init ]
check "state directory removed after the run" [ ! -e "$state/ta" ]
fsck_clean "$work/root.ext4" "root after boot A"

echo "# boot B: msbvm run -d, then exec/cp/socat into the running VM"
start=$(date +%s.%N)
"$msbvm" run -d --state-dir "$state" --name tb --rootfs "$work/root.ext4" \
	--disk "$work/stress.ext4" >"$work/b.out" 2>"$work/b.err"
rc=$?
check "run -d returns 0 once the agent is ready (rc=$rc)" [ $rc = 0 ]
check "run -d prints the VM name" [ "$(cat "$work/b.out")" = tb ]
echo "# ready after $(echo "$(date +%s.%N) - $start" | bc) s"
check "ls lists the VM as running" bash -c "'$msbvm' ls --state-dir '$state' | grep -q '^tb .*running'"
check "state dir has kernel.log, vsock.sock and pid" \
	[ -f "$state/tb/kernel.log" -a -S "$state/tb/vsock.sock" -a -f "$state/tb/pid" ]
# seccomp (docs/security.md): every thread the library started for the VM
# runs under its filter (Seccomp: 2); the main thread is the command's
vmm=$(cat "$state/tb/pid")
sc=$(for t in /proc/$vmm/task/*; do echo "$(cat $t/comm)=$(sed -n 's/^Seccomp:\t//p' $t/status)"; done | sort | tr '\n' ' ')
echo "# VMM threads: $sc"
check "seccomp mode 2 on the vcpu, io and vsock threads ($sc)" \
	bash -c "echo '$sc' | grep -q 'msbvm-vcpu=2' && echo '$sc' | grep -q 'msbvm-io=2' &&
		 echo '$sc' | grep -q 'msbvm-vsock=2' && ! echo '$sc' | grep -q 'msbvm-[a-z]*=[01]'"
# a device thread making a forbidden system call (test hook): the VMM
# dies, and msbvm run says which thread and syscall
cp --sparse=always "$work/root.ext4" "$work/sc.ext4" # tb holds root.ext4's lock
MSBVM_TEST_SECCOMP=io timeout 60 "$top/build/hooks/msbvm" run --state-dir "$state" \
	--name tsc --rootfs "$work/sc.ext4" -- true >/dev/null 2>"$work/sc.err"; rc=$?
check "forbidden syscall on the I/O thread: exit 159 + 'seccomp violation in msbvm-io: syscall getppid' (rc=$rc: $(head -c 200 "$work/sc.err"))" \
	bash -c "[ $rc = 159 ] && grep -q 'seccomp violation in msbvm-io: syscall getppid' '$work/sc.err'"
"$msbvm" stop --state-dir "$state" tsc >/dev/null 2>&1
# a second VM of the same name loses without touching the live one's state
"$msbvm" run --state-dir "$state" --name tb --rootfs "$work/root.ext4" -- true \
	>/dev/null 2>"$work/dup.err"; rc=$?
check "a second run --name tb exits 2: already running (rc=$rc)" \
	bash -c "[ $rc = 2 ] && grep -q \"a VM named 'tb' is already running\" '$work/dup.err'"
check "and the live VM's state is intact" \
	[ -f "$state/tb/kernel.log" -a -S "$state/tb/vsock.sock" -a -f "$state/tb/pid" ]

for want in 0 1 42; do
	x -- sh -c "exit $want"; rc=$?
	check "exec exit code $want (got $rc)" [ $rc = $want ]
done
x -- sh -c 'exit 127' 2>"$work/e127"; rc=$?
check "a command's own exit 127 passes through with no message (rc=$rc)" \
	bash -c "[ $rc = 127 ] && [ ! -s '$work/e127' ]"
x -- sh -c 'kill -9 $$'; rc=$?
check "exec killed by SIGKILL -> 137 (got $rc)" [ $rc = 137 ]
x -- sh -c 'echo out; echo err >&2' >"$work/o" 2>"$work/e"
check "exec stdout and stderr are separate" [ "$(cat "$work/o")/$(cat "$work/e")" = out/err ]
x -- no-such-command 2>"$work/e"; rc=$?
check "a missing command exits 127 (got $rc)" [ $rc = 127 ]
check "... and says 'not found'" grep -q "no-such-command: not found" "$work/e"
x -- /etc/passwd 2>"$work/e"; rc=$?
check "a non-executable file exits 126 (got $rc)" [ $rc = 126 ]
xo -w /nonexistent -- true 2>"$work/e"; rc=$?
check "a bad cwd is refused with a message (rc=$rc)" grep -q "working directory /nonexistent" "$work/e"
xo -u nobody-here -- true 2>"$work/e"; rc=$?
check "an unknown user is refused with a message (rc=$rc)" grep -q "user 'nobody-here' not found" "$work/e"
out=$(xo -e FOO=bar -e PATH=/bin -w /tmp -u app -- sh -c 'echo $FOO:$PATH:$(pwd):$(id -u):$(id -g):$HOME')
check "env, cwd and user honoured ($out)" [ "$out" = "bar:/bin:/tmp:1000:1000:/home/app" ]

head -c 10485760 /dev/urandom > "$work/10m"
want=$(sha256sum < "$work/10m" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$(x -- cat < "$work/10m" | sha256sum | cut -d' ' -f1)
echo "# 10 MiB through stdin and back: $(echo "$(date +%s.%N) - $t0" | bc) s"
check "10 MiB through stdin and back, checksum equal" [ "$got" = "$want" ]

# zombies: orphans re-parented to PID 1 must be reaped by agentd
x -- sh -c 'sleep 0.1 & sleep 0.1 & sleep 0.1 & exit 0'
sleep 1
z=$(x -- sh -c "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l")
check "orphaned children are reaped (zombies: $z)" [ "$z" = 0 ]

# 20 execs in all into this VM: 16 in sequence above/below, 4 at once
for i in 1 2 3 4; do x -- sh -c "sleep 1; echo c$i" >"$work/c$i" & done
wait
check "4 concurrent execs each got their own output" \
	[ "$(cat "$work/c1" "$work/c2" "$work/c3" "$work/c4" | tr '\n' ' ')" = "c1 c2 c3 c4 " ]
seqok=0
for i in 1 2 3 4 5; do [ "$(x -- echo s$i)" = s$i ] && seqok=$((seqok + 1)); done
check "5 more sequential execs all answered ($seqok/5)" [ $seqok = 5 ]
# a daemon left holding stdout must not hang the client: EXIT follows the
# command's own exit (plus a short drain), not the daemon's
t0=$(date +%s)
out=$(x -- sh -c 'sleep 60 & echo started'); rc=$?
dt=$(( $(date +%s) - t0 ))
check "a background child holding stdout does not hang exec ($out, rc=$rc, ${dt}s)" \
	[ "$out" = started -a $rc = 0 -a $dt -lt 20 ]

# Who dies when (docs/protocol.md): what a command starts in the background
# outlives it; exec -d starts a command no client holds; a client that goes
# away while its command runs hangs it up: SIGHUP, SIGKILL 5 s later.
# nsleep N: how many `sleep N` run in the guest (busybox ps: PID USER ARGS)
nsleep() { x -- ps | grep -c " sleep $1\$"; }
# wait_nsleep N WANT: up to 30 s for that count (each ps is one exec)
wait_nsleep() {
	local i n
	for i in $(seq 30); do
		n=$(nsleep "$1")
		[ "$n" = "$2" ] && return 0
		sleep 1
	done
	echo "# sleep $1: $n running, wanted $2"
	return 1
}
# appears N CMD...: waits for the `sleep N` the exec just before left in
# the background; if it never shows, runs CMD... again, up to TRIES (3)
# times in all: on nested hosts about one busybox background job in seven
# segfaults as it starts, one in three behind `setsid` (docs/nested-kvm.md,
# open quirk); a real regression fails all tries
appears() {
	local n=$1 try j; shift
	for try in $(seq "${TRIES:-3}"); do
		[ $try = 1 ] || "$@" >/dev/null 2>&1 </dev/null
		for j in 1 2 3 4 5; do
			if [ "$(nsleep "$n")" -ge 1 ]; then
				[ $try = 1 ] || echo "# sleep $n showed up at try $try"
				return 0
			fi
			sleep 1
		done
	done
	return 1
}
out=$(x -- sh -c 'sleep 1001 & echo started'); rc=$?
check "exec of 'sleep 1001 & echo started' returns ($out, rc=$rc)" [ "$out/$rc" = started/0 ]
check "... and the background sleep is still running in the next exec" \
	appears 1001 x -- sh -c 'sleep 1001 & echo started'
# one that writes to stdout after EXIT: read into the void, no SIGPIPE
late='(sleep 2; echo late; exec sleep 1008) & echo started'
x -- sh -c "$late" >/dev/null
check "a background job writing after EXIT lives on (no SIGPIPE)" appears 1008 x -- sh -c "$late"
t0=$(date +%s.%N)
x -- true
rt=$(echo "$(date +%s.%N) - $t0" | bc)
# up to 3 starts: the detached shell may segfault as it starts on nested
# hosts (docs/nested-kvm.md); a real regression fails all three
for try in 1 2 3; do
	t0=$(date +%s.%N)
	pid=$(xo -d -- sh -c 'echo detached-out; echo detached-err >&2; exec sleep 1002'); rc=$?
	dt=$(echo "$(date +%s.%N) - $t0" | bc)
	for j in 1 2 3 4 5; do
		args=$(x -- cat /proc/$pid/cmdline 2>/dev/null | tr '\0' ' ')
		[ "$args" = "sleep 1002 " ] && break 2
		sleep 1
	done
	echo "# exec -d: pid $pid is not sleep 1002 ('$args', try $try)"
done
echo "# exec -d took $dt s, exec true $rt s"
check "exec -d exits 0 and prints the guest pid (rc=$rc, '$pid')" \
	bash -c "[ $rc = 0 ] && [[ '$pid' =~ ^[0-9]+\$ ]]"
check "exec -d returns at once, not after its command (${dt}s)" \
	[ "$(echo "$dt < 20" | bc)" = 1 ]
check "... its process runs with that pid ($args)" [ "$args" = "sleep 1002 " ]
check "... in its own session (sid = pid)" [ "$(x -- cut -d' ' -f6 /proc/$pid/stat)" = "$pid" ]
check "... its stdout and stderr in /run/msbvm/exec-$pid.log" \
	[ "$(x -- cat /run/msbvm/exec-$pid.log | tr '\n' ' ')" = "detached-out detached-err " ]
xo -d -- no-such-command >"$work/o" 2>"$work/e"; rc=$?
check "exec -d of a missing command: 127 + 'not found', no pid (rc=$rc)" \
	bash -c "[ $rc = 127 ] && [ ! -s '$work/o' ] && grep -q 'no-such-command: not found' '$work/e'"
# bg_client N CMD...: `msbvm exec tb -- CMD...` in the background (its
# pid in cpid, its stderr in $work/e) until CMD's `sleep N` runs, at most
# 3 starts: the shell may segfault as it starts on nested hosts
# (docs/nested-kvm.md); then no sleep appears and the client is gone
bg_client() {
	local n=$1 try; shift
	for try in 1 2 3; do
		"$msbvm" exec --state-dir "$state" tb -- "$@" </dev/null >/dev/null 2>"$work/e" &
		cpid=$!
		wait_nsleep "$n" 1 && kill -0 $cpid 2>/dev/null && return 0
		echo "# sleep $n did not start (try $try)"
		kill -9 $cpid 2>/dev/null; wait $cpid 2>/dev/null
	done
	return 1
}
# kill -9 of the client; the command ignores SIGHUP: SIGKILL after the grace
bg_client 1003 sh -c 'trap "" HUP; sleep 1003'
kill -9 $cpid; wait $cpid 2>/dev/null
check "kill -9 of the client: the command (ignoring SIGHUP) is gone after the grace" \
	wait_nsleep 1003 0
check "... the agent hung it up, then SIGKILLed it (kernel.log)" \
	bash -c "grep -q 'client gone: SIGHUP to process group' '$state/tb/kernel.log' &&
		grep -q 'outlived its hang-up: SIGKILL' '$state/tb/kernel.log'"
# Ctrl-C without a tty is forwarded as SIGINT; a second one hangs up
bg_client 1004 sleep 1004
kill -INT $cpid; wait $cpid; rc=$?
check "SIGINT to the client (no tty): forwarded, exit 130 (rc=$rc)" [ $rc = 130 ]
check "... and that sleep is gone" wait_nsleep 1004 0
bg_client 1005 sh -c 'trap "" INT; sleep 1005'
kill -INT $cpid; sleep 1; kill -INT $cpid; wait $cpid; rc=$?
check "a second SIGINT hangs up: exit 130, 'hung up' (rc=$rc)" \
	bash -c "[ $rc = 130 ] && grep -q 'hung up the command' '$work/e'"
check "... and the command ignoring SIGINT is gone (SIGHUP)" wait_nsleep 1005 0
# with a tty the command is its terminal's session leader: its exit hangs
# the terminal up (SIGHUP to its group), as when a login shell exits
tjobs='sleep 1006 & setsid sleep 1007 & sleep 1'
xo -t -- sh -c "$tjobs" >/dev/null 2>&1 </dev/null
# (8 tries: setsid forks and its parent exits at once, the pattern the
# quirk hits hardest, 3 of 8 measured: 8 failures in a row ~0.04%)
TRIES=8 check "-t: a job in its own session (setsid) runs on" appears 1007 xo -t -- sh -c "$tjobs"
check "-t: a plain background job ends with the command (terminal hang-up)" wait_nsleep 1006 0
x -- ps >"$work/ps"
check "sleeps 1001, 1002, 1007 and 1008 still run after all that" \
	bash -c "for n in 1001 1002 1007 1008; do grep -q \" sleep \$n\\\$\" '$work/ps' || exit 1; done"
z=$(x -- sh -c "grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l")
check "no zombies after the hang-ups and leftovers (zombies: $z)" [ "$z" = 0 ]

# files
printf 'hello\nworld\n' > "$work/put.txt"
chmod 640 "$work/put.txt"
"$msbvm" cp --state-dir "$state" "$work/put.txt" tb:/tmp/put.txt
check "cp host -> guest: content and mode" [ "$(x -- sh -c 'cat /tmp/put.txt; stat -c %a /tmp/put.txt')" = "$(printf 'hello\nworld\n640')" ]
"$msbvm" cp --state-dir "$state" tb:/etc/passwd "$work/passwd"
check "cp guest -> host" grep -q '^app:x:1000' "$work/passwd"
"$msbvm" cp --state-dir "$state" tb:/no/such "$work/nope" 2>"$work/e"; rc=$?
check "cp of a missing guest file fails with a message (rc=$rc)" \
	bash -c "[ $rc != 0 ] && grep -q 'No such file' '$work/e'"
# the destination is written beside and renamed only on success
echo keep-me >"$work/dst"
"$msbvm" cp --state-dir "$state" tb:/no/such "$work/dst" 2>/dev/null
check "a failed cp leaves an existing destination untouched" \
	bash -c "[ \"\$(cat '$work/dst')\" = keep-me ] && [ -z \"\$(ls -A '$work' | grep msbvm-)\" ]"
# a FIFO would block the single-threaded agent in open(): refused at once
x -- mkfifo /tmp/fifo
timeout 20 "$msbvm" cp --state-dir "$state" tb:/tmp/fifo "$work/fifo" 2>"$work/e"; rc=$?
check "cp of a guest FIFO is refused (rc=$rc)" \
	bash -c "[ $rc != 0 -a $rc != 124 ] && grep -q 'not a regular file: /tmp/fifo' '$work/e'"
check "... and the agent still serves" [ "$(timeout 20 "$msbvm" exec --state-dir "$state" tb -- echo alive)" = alive ]

# the vsock Unix socket speaks the usual CONNECT protocol (socat works);
# HELLO must carry the VM's control token (docs/protocol.md
# "Authentication"), kept for clients in the state directory's "token"
sock=$state/tb/vsock.sock
tok=$(cat "$state/tb/token")
check "the state dir's token file: 64 hex digits, mode 0600, ours" \
	bash -c "[[ '$tok' =~ ^[0-9a-f]{64}\$ ]] && [ \"\$(stat -c %a:%u '$state/tb/token')\" = 600:$(id -u) ]"
# HELLO payload "version=1\0token=T\0": 81 bytes (0x51)
hello="CONNECT 1024\n\x51\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00version=1\x00token=$tok\x00"
printf "$hello" | socat -t 3 - UNIX-CONNECT:"$sock" > "$work/socat" 2>&1
check "socat reaches the guest listener (OK line + agent HELLO, with the token)" \
	bash -c "head -1 '$work/socat' | grep -q '^OK [0-9]*\$' && grep -aq msbvm-agentd '$work/socat'"
# without the token, or with a wrong one: ERROR kind=auth, connection
# closed (socat returns at once), nothing run; logged once, not 6 times
nref0=$(grep -c "without the VM's control token" "$state/tb/kernel.log")
notok='CONNECT 1024\n\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00version=1\x00'
exec1='\x1a\x00\x00\x00\x0a\x00\x00\x00\x02\x00\x00\x00arg=touch\x00arg=/tmp/noauth\x00'
t0=$(date +%s)
socat -t 3 - UNIX-CONNECT:"$sock" < <(printf "$notok$exec1"; sleep 10) > "$work/notok" 2>&1
dt=$(( $(date +%s) - t0 ))
check "raw client without a token: ERROR kind=auth, no HELLO" \
	bash -c "grep -aq 'kind=auth' '$work/notok' && ! grep -aq msbvm-agentd '$work/notok'"
check "... the agent closed the connection (${dt}s < 10 s) and ran nothing" \
	bash -c "[ $dt -lt 10 ] && '$msbvm' exec --state-dir '$state' tb -- test ! -e /tmp/noauth"
bad=$(printf '%s' "$tok" | tr '0-9a-f' '1-9a-f0')
pids=
for i in 1 2 3 4 5; do
	printf "CONNECT 1024\n\x51\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00version=1\x00token=$bad\x00" |
		socat -t 3 - UNIX-CONNECT:"$sock" > "$work/badtok$i" 2>&1 &
	pids="$pids $!"
done
wait $pids
check "5 clients with a wrong token: all ERROR kind=auth" \
	bash -c "[ \$(cat '$work'/badtok? | grep -ac 'kind=auth') = 5 ]"
nref=$(( $(grep -c "without the VM's control token" "$state/tb/kernel.log") - nref0 ))
check "the 6 refusals were logged on 1 line, not 6 ($nref)" [ "$nref" = 1 ]
# where a guest user could look for the token: not on the command line,
# not in any file uid 1000 can read, not in agentd's environment
x -- cat /proc/cmdline >"$work/cmdline"
check "the token is not in the guest's /proc/cmdline" \
	bash -c "[ -s '$work/cmdline' ] && ! grep -q '$tok' '$work/cmdline'"
# (regular files only: grep -r would block on the FIFO made above)
xo -u 1000 -- sh -c "grep -l '$tok' /proc/cmdline /proc/1/environ /proc/1/cmdline 2>/dev/null
	find /run /tmp /etc /home /root /msbvm -type f -exec grep -l '$tok' {} + 2>/dev/null
	cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable" >"$work/leak" 2>&1
check "uid 1000 finds the token nowhere ($(tr '\n' ' ' <"$work/leak"))" [ ! -s "$work/leak" ]
# the same search does find a copy it can read (the check has teeth)
x -- sh -c "echo $tok > /tmp/canary; chmod 644 /tmp/canary"
xo -u 1000 -- sh -c "find /run /tmp /etc /home -type f -exec grep -l '$tok' {} + 2>/dev/null" >"$work/canary"
x -- rm -f /tmp/canary
check "... while a readable copy in /tmp is found ($(tr '\n' ' ' <"$work/canary"))" \
	grep -qx /tmp/canary "$work/canary"
x -- sh -c "grep -l '$tok' /proc/1/environ; test -e /msbvm/config.dtb && echo config-present" >"$work/leak0" 2>&1
check "nor in agentd's environment or a boot config file, as root ($(tr '\n' ' ' <"$work/leak0"))" \
	[ ! -s "$work/leak0" ]
# EXEC with a key over 16 bytes after two args: refused whole (it used to
# end the parse there and run `touch /tmp/partial`)
(printf "$hello"; printf '\x32\x00\x00\x00\x0a\x00\x00\x00\x02\x00\x00\x00'
 printf 'arg=touch\x00arg=/tmp/partial\x00zzzzzzzzzzzzzzzzzzzz=1\x00') |
	socat -t 3 - UNIX-CONNECT:"$sock" > "$work/longkey" 2>&1
check "EXEC with an overlong key: bad_request, nothing run" \
	bash -c "grep -aq bad_request '$work/longkey' && '$msbvm' exec --state-dir '$state' tb -- test ! -e /tmp/partial"

# hostile peers against agentd: the agent drops them and keeps serving
printf 'CONNECT 1024\n\xff\xff\xff\xff\x01\x00\x00\x00\x00\x00\x00\x00' |
	socat -t 3 - UNIX-CONNECT:"$sock" > /dev/null 2>&1
printf 'CONNECT 1024\n\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00vers' |
	socat -t 2 - UNIX-CONNECT:"$sock" > /dev/null 2>&1
head -c 200000 /dev/urandom | (printf 'CONNECT 1024\n'; cat) |
	socat -t 3 - UNIX-CONNECT:"$sock" > /dev/null 2>&1
# slow drip: a HELLO one byte at a time, then a PING
(printf 'CONNECT 1024\n'; for b in 51 00 00 00 01 00 00 00 00 00 00 00; do
	printf "\x$b"; sleep 0.2; done; printf "version=1\0token=$tok\0"; sleep 1) |
	socat -t 5 - UNIX-CONNECT:"$sock" > "$work/drip" 2>&1
check "a slow-drip HELLO is still answered" grep -aq msbvm-agentd "$work/drip"
# a peer that never reads: GET of a big file, nobody reading
x -- sh -c 'dd if=/dev/zero of=/tmp/big bs=1M count=8 2>/dev/null'
(printf "$hello"; printf '\x0e\x00\x00\x00\x15\x00\x00\x00\x02\x00\x00\x00path=/tmp/big\x00'; sleep 8) |
	socat -u - UNIX-CONNECT:"$sock" 2>/dev/null &
noread=$!
sleep 3
check "agent still serves during hostile peers (exec echo)" [ "$(x -- echo alive)" = alive ]
kill $noread 2>/dev/null; wait $noread 2>/dev/null
grep -q "frame of 4294967295 bytes is over" "$state/tb/kernel.log"
check "the 4 GiB frame was refused by size (agent log)" [ $? = 0 ]

# File-system stress on the scratch ext4 disk (/dev/vdb), mounted with
# -o discard so freed blocks reach the device as DISCARD requests: two
# writers and a reader for $secs s (files checked against the size and
# hash in their names), a full verify, then the same verify after a
# remount (page cache gone), and after the VM is gone e2fsck and a verify
# of the files debugfs copies out of the image on the host.
secs=40
seed=$$$RANDOM
"$msbvm" cp --state-dir "$state" "$fsstress" tb:/tmp/fsstress
x -- mount -o discard /dev/vdb /mnt 2>"$work/e"; rc=$?
check "scratch ext4 disk mounts with -o discard (rc=$rc $(cat "$work/e"))" \
	bash -c "[ $rc = 0 ] && '$msbvm' exec --state-dir '$state' tb -- grep -q '^/dev/vdb /mnt ext4 .*discard' /proc/mounts"
x -- cat /sys/block/vdb/queue/discard_max_bytes /sys/block/vdb/queue/write_zeroes_max_bytes \
	>"$work/dq" 2>&1
check "the guest sees DISCARD and WRITE_ZEROES on vdb ($(tr '\n' ' ' <"$work/dq"))" \
	bash -c "[ \$(sed -n 1p '$work/dq') -gt 0 ] && [ \$(sed -n 2p '$work/dq') -gt 0 ]"
stat0=$(x -- cat /sys/block/vdb/stat)
x -- /tmp/fsstress /mnt/s $secs $seed >"$work/stress" 2>&1; rc=$?
sed 's/^/# guest: /' "$work/stress"
check "fsstress: $secs s of 2 writers + 1 reader, then verify: no mismatch (rc=$rc)" \
	bash -c "[ $rc = 0 ] && grep -q '^fsstress: OK' '$work/stress'"
stat1=$(x -- cat /sys/block/vdb/stat)
# /sys/block/vdb/stat: field 1 reads, 5 writes, 12 discards (I/Os completed)
set -- $stat0; r0=$1 w0=$5 d0=${12:-0}
set -- $stat1; r1=$1 w1=$5 d1=${12:-0}
echo "# vdb requests during the stress: $((r1 - r0)) reads, $((w1 - w0)) writes, $((d1 - d0)) discards"
check "the stress run sent DISCARD requests ($((d1 - d0)))" [ $((d1 - d0)) -gt 0 ]
x -- umount /mnt; rc1=$?
x -- mount -o discard /dev/vdb /mnt; rc2=$?
x -- /tmp/fsstress verify /mnt/s >"$work/verify" 2>&1; rc=$?
sed 's/^/# guest: /' "$work/verify"
check "after umount + mount: every file verifies again (rc=$rc1/$rc2/$rc)" \
	bash -c "[ $rc1$rc2$rc = 000 ] && grep -q '^fsstress: OK' '$work/verify'"
x -- umount /mnt; rc=$?
check "scratch disk unmounts (rc=$rc)" [ $rc = 0 ]

check "kernel.log holds the guest console (agentd's lines)" grep -q "agentd: ready" "$state/tb/kernel.log"
t0=$(date +%s.%N)
"$msbvm" stop --state-dir "$state" tb; rc=$?
echo "# stop took $(echo "$(date +%s.%N) - $t0" | bc) s"
check "stop exits 0 (rc=$rc)" [ $rc = 0 ]
check "stop removed the state directory" [ ! -e "$state/tb" ]
check "ls no longer lists the VM" bash -c "! '$msbvm' ls --state-dir '$state' | grep -q '^tb '"
"$msbvm" exec --state-dir "$state" tb -- true 2>"$work/e"; rc=$?
check "exec into a stopped VM: exit 2 + 'no running VM'" \
	bash -c "[ $rc = 2 ] && grep -q \"no running VM named 'tb'\" '$work/e'"
fsck_clean "$work/root.ext4" "root after boot B"
fsck_clean "$work/stress.ext4" "scratch disk after the stress run"
mkdir "$work/dump"
debugfs -R "rdump /s $work/dump" "$work/stress.ext4" >"$work/rdump" 2>&1
"$fsstress" verify "$work/dump/s" >"$work/hostverify" 2>&1; rc=$?
sed 's/^/# host: /' "$work/hostverify"
check "the stress files copied out of the image (debugfs rdump) verify on the host (rc=$rc)" \
	bash -c "[ $rc = 0 ] && grep -q '^fsstress: OK' '$work/hostverify'"
echo "# scratch image: $(du -k "$work/stress.ext4" | cut -f1) KiB allocated of 131072 (discards punch holes)"

if [ $fails = 0 ]; then
	echo "agent integration: all passed"
	exit 0
fi
echo "agent integration: $fails failed"
for f in a.out a.err b.err; do [ -f "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }; done
[ -f "$state/tb/kernel.log" ] && { echo "--- kernel.log"; tail -30 "$state/tb/kernel.log"; }
exit 1
