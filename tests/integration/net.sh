#!/bin/bash
# virtio-net + libslirp end to end, all on loopback (no traffic leaves
# this machine).
#  no boot: bad --net / -p / --dns input and a host port in use: exit 2
#           with a message, before any guest boots;
#  boot A:  `msbvm run -d -p ...`, then through `msbvm exec`:
#           guest -> host TCP (5 MB from a python3 http.server on
#           127.0.0.1, fetched via the gateway 10.0.2.2 and via the name
#           host.msbvm.internal; checksums), the guest's resolv.conf and
#           hosts, the raw root image left unwritten (bind mounts),
#           guest -> host UDP (a DNS query to a host responder);
#           host -> guest TCP through -p (busybox httpd: a page, 5 MB,
#           100 sequential requests) and UDP through -p .../udp (echo);
#  boot B:  --net none still boots, without eth0;
#  boot C:  --overlay tmpfs --dns IP: resolv.conf/hosts written into the
#           VM's own layer (the root image still unchanged).
. "$(dirname "$0")/lib.sh"
srvpids=()
trap '"$msbvm" stop --state-dir "$state" --timeout 5 na >/dev/null 2>&1
	for p in "${srvpids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
x() { "$msbvm" exec --state-dir "$state" na "$@"; }
xd() { "$msbvm" exec --state-dir "$state" -d na "$@"; }

# free TCP/UDP ports on 127.0.0.1, chosen by the kernel
read -r hport pport uport dport < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)] + [socket.socket(type=socket.SOCK_DGRAM)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

tools/mkrootfs.sh "$work/root.ext4" tests/integration/init-smoke.sh 64 >/dev/null ||
	{ echo "Bail out! rootfs"; exit 1; }

echo "# no boot: bad input is refused with exit 2"
bad() { # WHAT WANT_MSG ARGS...
	local what=$1 want=$2; shift 2
	"$msbvm" run --state-dir "$state" --rootfs "$work/root.ext4" "$@" -- true \
		>"$work/bad.out" 2>"$work/bad.err" </dev/null
	local rc=$?
	check "$what: exit 2 ($rc), says '$want'" \
		bash -c "[ $rc = 2 ] && grep -qF -- \"\$1\" '$work/bad.err'" _ "$want"
}
bad "--net bogus" "--net 'bogus': use user or none" --net bogus
for spec in 80 0:80 80:0 65536:80 8080:80/sctp 1.2.3:80:80 host:80:80 ""; do
	bad "-p '$spec'" "expected [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]" -p "$spec"
done
bad "the same host port twice" "already published" -p 8080:80 -p 8080:81
bad "-p with --net none" "need the network (--net user)" --net none -p 8080:80
bad "--dns not an address" "not an IPv4 address" --dns 10.0.2.300
bad "--dns with --net none" "need the network (--net user)" --net none --dns 10.0.2.3

# the host side: an HTTP server with a 5 MB file, a UDP DNS responder
mkdir -p "$work/www"
head -c 5000000 /dev/urandom >"$work/www/f5m"
sum5m=$(md5sum <"$work/www/f5m" | cut -d' ' -f1)
(cd "$work/www" && exec python3 -m http.server --bind 127.0.0.1 "$hport") \
	>"$work/http.log" 2>&1 </dev/null &
srvpids+=($!)
# answers every A query with 10.9.8.7 (guest -> host UDP through slirp)
python3 - "$dport" >"$work/dns.log" 2>&1 </dev/null <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    q, peer = s.recvfrom(512)
    end = q.index(b"\0", 12) + 5
    r = q[:2] + b"\x81\x80" + q[4:6] + b"\0\x01\0\0\0\0" + q[12:end]
    r += b"\xc0\x0c\0\x01\0\x01\0\0\0\x3c\0\x04" + bytes([10, 9, 8, 7])
    s.sendto(r, peer)
EOF
srvpids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$hport/" && break; sleep 0.1; done

# a host port in use: the HTTP server's
start=$(date +%s)
bad "a host port in use" "published port 127.0.0.1:$hport/tcp: cannot listen there" \
	-p "127.0.0.1:$hport:8080"
check "... refused before booting ($(($(date +%s) - start)) s)" [ $(($(date +%s) - start)) -lt 15 ]

[ -x build/guest/udpecho ] || make --no-print-directory -s build/guest/udpecho ||
	{ echo "Bail out! build/guest/udpecho"; exit 1; }
root_sum=$(debugfs -R "cat /etc/hosts" "$work/root.ext4" 2>/dev/null | md5sum)

echo "# boot A: run -d with -p tcp and udp, then exec"
start=$(date +%s.%N)
"$msbvm" run -d --state-dir "$state" --name na --rootfs "$work/root.ext4" \
	-p "127.0.0.1:$pport:8080" -p "$uport:7777/udp" >"$work/a.out" 2>"$work/a.err"
rc=$?
echo "# boot A ready after $(echo "$(date +%s.%N) - $start" | bc) s"
check "run -d with published ports returns 0 (rc=$rc)" [ $rc = 0 ]

out=$(x sh -c 'ip -4 addr show eth0; ip route; cat /sys/class/net/eth0/mtu' 2>&1)
check "eth0 is 10.0.2.15/24" grep -q "inet 10.0.2.15/24" <<<"$out"
check "default route via 10.0.2.2" grep -q "default via 10.0.2.2 dev eth0" <<<"$out"
check "eth0 MTU 1500 (VIRTIO_NET_F_MTU)" grep -qx 1500 <<<"$out"
check "resolv.conf: nameserver 10.0.2.3" [ "$(x cat /etc/resolv.conf)" = "nameserver 10.0.2.3" ]
check "hosts: host.msbvm.internal is the gateway" \
	grep -qP '^10\.0\.2\.2\thost\.msbvm\.internal$' <<<"$(x cat /etc/hosts)"
check "hosts: the VM's name" grep -qP '^127\.0\.1\.1\tna$' <<<"$(x cat /etc/hosts)"
check "a raw root disk is not written: the files are bind mounts" \
	[ "$(x sh -c 'grep -c " /etc/\(hosts\|resolv.conf\) " /proc/mounts')" = 2 ]

t0=$(date +%s.%N)
got=$(x sh -c "wget -q -O - http://10.0.2.2:$hport/f5m | md5sum" | cut -d' ' -f1)
t1=$(date +%s.%N)
check "guest -> host: 5 MB over TCP via 10.0.2.2, checksum matches" [ "$got" = "$sum5m" ]
echo "# guest -> host: 5 MB in $(echo "$t1 - $t0" | bc) s ($(echo "scale=2; 5 / ($t1 - $t0)" | bc) MB/s, exec overhead included)"
got=$(x sh -c "wget -q -O - http://host.msbvm.internal:$hport/f5m | md5sum" | cut -d' ' -f1)
check "guest -> host by name host.msbvm.internal, checksum matches" [ "$got" = "$sum5m" ]
out=$(x nslookup probe.msbvm.test "10.0.2.2:$dport" 2>&1)
check "guest -> host UDP: a DNS query to a host responder via 10.0.2.2 (10.9.8.7)" \
	grep -q "10.9.8.7" <<<"$out"
out=$(x nslookup host.msbvm.internal 2>&1)
echo "# slirp's DNS forwarder (10.0.2.3 -> the host's resolver): $(tr '\n' ' ' <<<"$out" | cut -c1-150)"

# host -> guest: busybox httpd and the UDP echo, started detached (a 5 MB
# file made of busybox copies: /dev/urandom is minutes of emulated work; a
# busybox background job sometimes dies at start on nested hosts: retry)
x sh -c 'mkdir -p /www && echo "page-from-the-guest-$$" > /www/index.html &&
	for i in 1 2 3 4; do cat /bin/busybox; done | head -c 5000000 > /www/g5m &&
	md5sum /www/g5m' >"$work/g5m.sum"
page=$(x cat /www/index.html)
"$msbvm" cp --state-dir "$state" build/guest/udpecho na:/udpecho >/dev/null
for i in 1 2 3; do
	xd httpd -f -p 8080 -h /www >/dev/null
	xd /udpecho 7777 >/dev/null
	sleep 2
	got=$(curl -s --max-time 20 "http://127.0.0.1:$pport/index.html")
	[ -n "$got" ] && break
done
check "host -> guest: -p 127.0.0.1:$pport:8080 serves the guest's page" [ "$got" = "$page" ]
t0=$(date +%s.%N)
got=$(curl -s --max-time 300 "http://127.0.0.1:$pport/g5m" | md5sum | cut -d' ' -f1)
t1=$(date +%s.%N)
check "host -> guest: 5 MB over TCP through -p, checksum matches" \
	[ "$got" = "$(cut -d' ' -f1 "$work/g5m.sum")" ]
echo "# host -> guest: 5 MB in $(echo "$t1 - $t0" | bc) s ($(echo "scale=2; 5 / ($t1 - $t0)" | bc) MB/s)"
t0=$(date +%s.%N)
ok=0
for i in $(seq 100); do
	[ "$(curl -s --max-time 20 "http://127.0.0.1:$pport/index.html")" = "$page" ] && ok=$((ok + 1))
done
t1=$(date +%s.%N)
check "100 sequential HTTP requests through -p all answered ($ok)" [ $ok = 100 ]
echo "# 100 sequential requests: $(echo "scale=1; ($t1 - $t0) * 10" | bc) ms each on average"
got=$(python3 - "$uport" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(5):
    s.sendto(b"udp-echo-%d" % i, ("127.0.0.1", int(sys.argv[1])))
    try:
        print(s.recv(100).decode()); break
    except socket.timeout:
        pass
EOF
)
check "host -> guest UDP through -p $uport:7777/udp: echoed" bash -c "[[ '$got' == udp-echo-* ]]"

out=$(x cat /proc/net/dev | grep eth0)
echo "# guest eth0 counters: $(tr -s ' ' <<<"$out")"
check "the guest counted no rx/tx errors on eth0" \
	awk '{ exit !($3 == 0 && $11 == 0) }' <<<"${out#*:}"
"$msbvm" stop --state-dir "$state" na >/dev/null 2>&1
rc=$?
check "stop with live connections and published ports: exit 0 (rc=$rc)" [ $rc = 0 ]
check "the host port is free again after stop" \
	python3 -c "import socket; socket.socket().bind(('127.0.0.1', $pport))"
check "the root image's /etc/hosts is unchanged" \
	[ "$(debugfs -R "cat /etc/hosts" "$work/root.ext4" 2>/dev/null | md5sum)" = "$root_sum" ]
fsck_clean "$work/root.ext4" "root after boot A"

echo "# boot B: --net none"
"$msbvm" run --state-dir "$state" --name nb --net none --rootfs "$work/root.ext4" -- \
	sh -c 'ls /sys/class/net; cat /etc/resolv.conf | wc -c' >"$work/b.out" 2>"$work/b.err" </dev/null
rc=$?
check "--net none boots and runs the command (rc=$rc)" [ $rc = 0 ]
check "--net none: no eth0, only lo" [ "$(head -1 "$work/b.out")" = lo ]
check "--net none: resolv.conf not touched (empty)" [ "$(sed -n 2p "$work/b.out")" = 0 ]

echo "# boot C: --overlay tmpfs --dns: the files go into the VM's own layer"
"$msbvm" run --state-dir "$state" --name nc --overlay tmpfs --dns 192.0.2.53 \
	--rootfs "$work/root.ext4" -- sh -c 'cat /etc/resolv.conf
	grep -c " /etc/\(hosts\|resolv.conf\) " /proc/mounts; cat /etc/hosts' \
	>"$work/c.out" 2>"$work/c.err" </dev/null
rc=$?
check "--overlay tmpfs boots with the network (rc=$rc)" [ $rc = 0 ]
check "--dns 192.0.2.53 is the guest's nameserver" [ "$(head -1 "$work/c.out")" = "nameserver 192.0.2.53" ]
check "overlay root: resolv.conf and hosts written, not bind-mounted" [ "$(sed -n 2p "$work/c.out")" = 0 ]
check "overlay root: hosts names host.msbvm.internal" grep -qP '^10\.0\.2\.2\thost\.msbvm\.internal$' "$work/c.out"
check "the root image's /etc/hosts is still unchanged" \
	[ "$(debugfs -R "cat /etc/hosts" "$work/root.ext4" 2>/dev/null | md5sum)" = "$root_sum" ]

if [ $fails = 0 ]; then
	echo "net integration: all passed"
	exit 0
fi
echo "net integration: $fails failed"
for f in a.err b.out b.err c.out c.err; do [ -f "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }; done
[ -f "$state/na/kernel.log" ] && { echo "--- kernel.log"; tail -30 "$state/na/kernel.log"; }
exit 1
