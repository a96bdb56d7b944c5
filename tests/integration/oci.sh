#!/bin/bash
# Images without a guest: a real registry (Debian's docker-registry) on
# loopback with test images built here (umoci + tools/../oci_mkimage.py,
# pushed with skopeo), then msbvm pull / images / inspect / rmi / login,
# the ext4 base image read back with debugfs, and hostile registries
# (oci_fake_registry.py), each of which must fail clearly, exit non-zero
# and leave the store exactly as it was. Then `msbvm run IMAGE` boots a
# busybox image three times (its config honoured by run and exec, CMD and
# --entrypoint replacing Cmd and Entrypoint, the shared base untouched).
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/sbin:/usr/sbin
export MSBVM_HOME=$work/store DOCKER_CONFIG=$work/docker
pids=
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
for t in docker-registry skopeo umoci debugfs zstd python3 curl; do
	command -v $t >/dev/null || { echo "oci.sh: $t missing (tools/install-deps.sh)"; exit 1; }
done
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }
snap() { (cd "$MSBVM_HOME" && find . | sort && cat index.json 2>/dev/null) | md5sum; }
nblobs() { ls "$MSBVM_HOME/blobs/sha256" | wc -l; }
de() { debugfs -R "$1" "$2" 2>/dev/null; }
digest_of() { build/msbvm images | awk -v r="$1" '$1 == r { print $2 }'; }

port=$(freeport)
cat > "$work/reg.yml" <<EOT
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/regdata
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOT
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
pids="$pids $!"
reg=127.0.0.1:$port
check "docker-registry serves on $reg" wait_http "http://$reg/v2/"

# the test images: two layers (gzip, by umoci), the same as zstd + plain
# tar, and an index of both
img=$work/img
mkdir -p "$img"
tests/integration/oci_mkimage.py layers "$img"
umoci init --layout "$img/lay" && umoci new --image "$img/lay:v1" &&
	umoci raw add-layer --image "$img/lay:v1" "$img/l1.tar" &&
	umoci raw add-layer --image "$img/lay:v1" "$img/l2.tar" &&
	umoci config --image "$img/lay:v1" --config.entrypoint /bin/sh \
		--config.entrypoint -c --config.cmd 'echo hi' --config.env FOO=bar \
		--config.workingdir /data --config.user 1234:5678 &&
	tests/integration/oci_mkimage.py extra "$img/lay"
check "umoci builds the test layout" [ $? = 0 ]
push() { skopeo copy -q --dest-tls-verify=false "$@" >>"$work/skopeo.log" 2>&1; }
# --preserve-digests: else skopeo gzips the plain tar layer on the way
push "oci:$img/lay:v1" "docker://$reg/test/two:v1" &&
	push --preserve-digests "oci:$img/lay:zstd" "docker://$reg/test/zstd:v1" &&
	push --preserve-digests --all "oci:$img/lay:multi" "docker://$reg/test/multi:v1"
check "skopeo pushes the three images" [ $? = 0 ]

# ---- pull, images, inspect
build/msbvm pull "$reg/test/two:v1" >"$work/p1.out" 2>"$work/p1.err"
check "pull of a two-layer image" [ $? = 0 ]
check "one progress line per blob (config + 2 layers)" \
	[ "$(grep -c ': downloaded' "$work/p1.err")" = 3 ]
build/msbvm images >"$work/images.out"
check "images lists it" grep -q "^$reg/test/two:v1 *sha256:" "$work/images.out"
d_two=$(digest_of "$reg/test/two:v1")
build/msbvm inspect "$reg/test/two:v1" >"$work/inspect.out"
check "inspect: Entrypoint" grep -q '"Entrypoint":\["/bin/sh","-c"\]' "$work/inspect.out"
check "inspect: Cmd" grep -q '"Cmd":\["echo hi"\]' "$work/inspect.out"
check "inspect: Env" grep -q '"FOO=bar"' "$work/inspect.out"
check "inspect: WorkingDir" grep -q '"WorkingDir":"/data"' "$work/inspect.out"
check "inspect: User" grep -q '"User":"1234:5678"' "$work/inspect.out"
build/msbvm inspect "$reg/test/none:v1" >/dev/null 2>"$work/e.err"
check "inspect of an unknown image fails: not found" grep -q "not found" "$work/e.err"

# ---- the ext4 base image
# rootfs_ok IMAGE WHAT: the merged layers, with owners and modes
rootfs_ok() {
	local f=$1 w=$2
	check "$w: ext4 exists, read-only file" [ -f "$f" -a ! -w "$f" -o -f "$f" -a "$(stat -c %a "$f")" = 444 ]
	check "$w: whiteout applied (del/gone gone, del/kept kept)" \
		sh -c "de() { debugfs -R \"\$1\" '$f' 2>/dev/null; }; de 'ls /del' | grep -q kept && ! de 'ls /del' | grep -q gone"
	check "$w: opaque dir holds only the upper layer's file" \
		[ "$(de 'ls -l /opq' "$f" | awk 'NF && $NF != "." && $NF != ".." { printf "%s ", $NF }')" = "new " ]
	check "$w: owner 1234:5678 mode 0640 kept" \
		sh -c "debugfs -R 'stat /owned' '$f' 2>/dev/null | grep -q 'User:  1234   Group:  5678' &&
			debugfs -R 'stat /owned' '$f' 2>/dev/null | grep -q 'Mode:  0640'"
	check "$w: setuid bit kept" sh -c "debugfs -R 'stat /suid' '$f' 2>/dev/null | grep -q 'Mode:  04755'"
	check "$w: upper layer's file owned 100:100 mode 0600" \
		sh -c "debugfs -R 'stat /data/file' '$f' 2>/dev/null | grep -q 'User:   100   Group:   100' &&
			debugfs -R 'stat /data/file' '$f' 2>/dev/null | grep -q 'Mode:  0600'"
	check "$w: symlink bin/sh -> busybox" \
		sh -c "debugfs -R 'stat /bin/sh' '$f' 2>/dev/null | grep -q 'Fast link dest: \"busybox\"'"
	check "$w: hard link bin/hl is bin/busybox (2 links)" \
		[ "$(de 'ls -l /bin' "$f" | awk '$NF == "hl" || $NF == "busybox" { print $1 }' | sort -u | wc -l)" = 1 ]
	check "$w: xattr user.test kept" sh -c "debugfs -R 'ea_list /xattr' '$f' 2>/dev/null | grep -q 'user.test.*hello'"
	check "$w: character device dev/null 1:3 (written without mknod)" \
		sh -c "debugfs -R 'stat /dev/null' '$f' 2>/dev/null | grep -q 'Type: character special' &&
			debugfs -R 'stat /dev/null' '$f' 2>/dev/null | grep -q 'Device major/minor number: 01:03'"
	check "$w: FIFO dev/fifo" sh -c "debugfs -R 'stat /dev/fifo' '$f' 2>/dev/null | grep -q 'Type: FIFO'"
	check "$w: directory mtime from the tar header" \
		sh -c "debugfs -R 'stat /opq' '$f' 2>/dev/null | grep -q 'mtime:.*2023'"
	check "$w: e2fsck -fn clean" e2fsck -fn "$f" >/dev/null 2>&1
}
base_two=$MSBVM_HOME/images/${d_two#sha256:}.ext4
rootfs_ok "$base_two" "gzip image"
check "pull printed the base image path" grep -q "Base image: $base_two" "$work/p1.out"

# ---- pulling again downloads nothing; the base image is not rebuilt
m0=$(stat -c %Y.%i "$base_two"); n0=$(nblobs)
build/msbvm pull "$reg/test/two:v1" >/dev/null 2>"$work/p2.err"
check "second pull succeeds" [ $? = 0 ]
check "second pull downloads nothing (3 already exist)" \
	[ "$(grep -c ': downloaded' "$work/p2.err")" = 0 -a "$(grep -c 'already exists' "$work/p2.err")" = 3 ]
check "second pull: same blobs, same base image" [ "$(nblobs)" = "$n0" -a "$(stat -c %Y.%i "$base_two")" = "$m0" ]

# ---- two pulls at once (zstd + plain tar layers): both succeed, each blob once
build/msbvm pull "$reg/test/zstd:v1" >/dev/null 2>"$work/c1.err" & c1=$!
build/msbvm pull "$reg/test/zstd:v1" >/dev/null 2>"$work/c2.err" & c2=$!
wait $c1; r1=$?; wait $c2; r2=$?
check "two concurrent pulls both succeed ($r1 $r2)" [ $r1 = 0 -a $r2 = 0 ]
check "and download each blob once (3 in all)" \
	[ "$(cat "$work/c1.err" "$work/c2.err" | grep -c ': downloaded')" = 3 ]
d_zstd=$(digest_of "$reg/test/zstd:v1")
rootfs_ok "$MSBVM_HOME/images/${d_zstd#sha256:}.ext4" "zstd + plain tar image"
check "zstd image config (Env ZSTD=1)" sh -c "build/msbvm inspect $reg/test/zstd:v1 | grep -q ZSTD=1"

# ---- an index: linux/amd64 by default, --platform, a missing platform
build/msbvm pull -q "$reg/test/multi:v1" >/dev/null 2>&1
check "index: pull picks linux/amd64" [ "$(digest_of "$reg/test/multi:v1")" = "$d_two" ]
build/msbvm pull -q --platform linux/arm64 "$reg/test/multi:v1" >/dev/null 2>&1
check "index: --platform linux/arm64" [ "$(digest_of "$reg/test/multi:v1")" = "$d_zstd" ]
s0=$(snap)
build/msbvm pull --platform linux/s390x "$reg/test/multi:v1" >/dev/null 2>"$work/e.err"
check "index without the platform: non-zero exit" [ $? != 0 ]
check "... says so" grep -q "no linux/s390x in this image index (it has: linux/amd64, linux/arm64)" "$work/e.err"
check "... store unchanged" [ "$(snap)" = "$s0" ]
build/msbvm pull "$reg/test/nosuch:v1" >/dev/null 2>"$work/e.err"; rc=$?
check "unknown image: non-zero exit, 'not found', store unchanged" \
	sh -c "[ $rc != 0 ] && grep -q 'not found' '$work/e.err' && [ '$(snap)' = '$s0' ]"
build/msbvm pull "$reg/test/Bad" >/dev/null 2>"$work/e.err"
check "bad reference: 'must be lowercase'" grep -q "must be lowercase" "$work/e.err"
build/msbvm pull "$reg/test/nosuch:v1" >/dev/null 2>"$work/e.err"
check "unknown image: exit status 1" [ $? = 1 ]

# ---- rmi: blobs no image needs are deleted, shared ones kept
build/msbvm pull -q "$reg/test/multi:v1" >/dev/null 2>&1   # amd64 again
n0=$(nblobs)
# a running VM holds its read-only disk with flock(LOCK_SH) (virtio/blk.c)
flock -s "$MSBVM_HOME/images/${d_zstd#sha256:}.ext4" sleep 30 & holder=$!
sleep 0.2
s0=$(snap)
build/msbvm rmi "$reg/test/zstd:v1" >/dev/null 2>"$work/e.err"; rc=$?
check "rmi of an image a VM uses: refused, says so, store unchanged" \
	sh -c "[ $rc != 0 ] && grep -q 'is in use by a running VM' '$work/e.err' && [ '$(snap)' = '$s0' ]"
kill $holder; wait $holder 2>/dev/null
build/msbvm rmi "$reg/test/two:v1" >/dev/null
check "rmi of an image whose manifest another ref shares keeps its blobs" \
	[ "$(nblobs)" = "$n0" -a -f "$base_two" ]
build/msbvm rmi "$reg/test/multi:v1" >/dev/null
check "rmi of the last ref deletes its blobs and base image" \
	[ "$(nblobs)" -lt "$n0" -a ! -e "$base_two" ]
check "the other image is untouched" [ -f "$MSBVM_HOME/images/${d_zstd#sha256:}.ext4" ]
check "images no longer lists it" sh -c "! build/msbvm images | grep -q test/two"
build/msbvm rmi "$reg/test/two:v1" >/dev/null 2>"$work/e.err"; rc=$?
check "rmi of an unknown image: non-zero, not found" \
	sh -c "[ $rc != 0 ] && grep -q 'not found' '$work/e.err'"

# ---- hostile and faulty registries: clear error, non-zero, store unchanged
tests/integration/oci_fake_registry.py "$work/fake.port" >"$work/fake.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.1; done
fake=127.0.0.1:$(cat "$work/fake.port")
check "fake registry up" wait_http "http://$fake/v2/"
# hostile REPO WHAT MESSAGE
hostile() {
	local s0 rc
	s0=$(snap)
	timeout 60 build/msbvm pull "$fake/$1" >/dev/null 2>"$work/h.err"; rc=$?
	if [ $rc != 0 ] && [ $rc != 124 ] && grep -q -- "$3" "$work/h.err" && [ "$(snap)" = "$s0" ]; then
		pass "$2: exit $rc, '$(grep -m1 '^msbvm:' "$work/h.err" | head -c 160)', store unchanged"
	else
		fail "$2: exit $rc, store $( [ "$(snap)" = "$s0" ] && echo unchanged || echo CHANGED)"
		sed 's/^/#   /' "$work/h.err"
	fi
}
hostile baddigest "layer bytes do not match the digest" "layer sha256:[0-9a-f]*: digest mismatch"
hostile dotdot "tar entry ../../x" "layer 1 (sha256:[0-9a-f]*): entry '../../x' escapes the root"
hostile absolute "tar entry with an absolute path" "entry '/abs-x' escapes the root"
hostile symlink "symlink-then-write escape" "entry 'link/escaped' is written through a symlink"
check "... nothing written outside" [ ! -e /tmp/escaped -a ! -e /abs-x ]
hostile whsymlink "whiteout through a symlink" "whiteout 'link/.wh.x': path through a symlink"
hostile malformed "malformed manifest JSON" "malformed manifest JSON"
hostile huge "manifest claiming 1 GB" "claims 1073741824 bytes; more than the 4194304-byte limit"
hostile drop "connection dropped mid-blob" "download failed after [0-9]* of [0-9]* bytes"
check "... no partial file left in tmp/" [ -z "$(ls "$MSBVM_HOME/tmp")" ]
# what a killed pull leaves in tmp/ is swept by the next one
echo junk >"$MSBVM_HOME/tmp/0123.12345.partial"
build/msbvm pull -q "$reg/test/zstd:v1" >/dev/null 2>&1
check "a killed pull's partial file is removed by the next pull" [ -z "$(ls "$MSBVM_HOME/tmp")" ]
hostile schema1 "schema 1 manifest" "manifest schema 1, which is not supported"
hostile armonly "index without linux/amd64" "no linux/amd64 in this image index (it has: linux/arm64)"
hostile nosuch "unknown image" "manifest for $fake/nosuch:latest not found"
hostile good "token auth without credentials" "unauthorized: authentication required"
build/msbvm login -u user -p wrong "$fake" >/dev/null
hostile good "token auth, wrong password" "unauthorized: incorrect username or password"
check "login wrote the docker config format" \
	grep -q "\"auth\": \"$(printf user:wrong | base64)\"" "$DOCKER_CONFIG/config.json"
echo secret | build/msbvm login -u user --password-stdin "$fake" >/dev/null
build/msbvm pull -q "$fake/good" >/dev/null 2>"$work/h.err"
check "token dance with the right password: pull succeeds" [ $? = 0 ]
build/msbvm logout "$fake" >/dev/null
check "logout removes the entry" sh -c "! grep -q '$fake' '$DOCKER_CONFIG/config.json'"

# ---- TLS from a throw-away CA, with htpasswd (basic) auth
tls=$work/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=msbvm-test-ca \
	-keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1 &&
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$tls/srv.key" \
	-out "$tls/srv.csr" >/dev/null 2>&1 &&
printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/ext" &&
openssl x509 -req -in "$tls/srv.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
	-CAcreateserial -days 1 -extfile "$tls/ext" -out "$tls/srv.pem" >/dev/null 2>&1
check "throw-away CA and server certificate" [ $? = 0 ]
python3 -c 'import crypt; print("alice:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
	>"$tls/htpasswd" 2>/dev/null
tport=$(freeport)
sed -e "s|addr: .*|addr: 127.0.0.1:$tport\\n  tls:\\n    certificate: $tls/srv.pem\\n    key: $tls/srv.key|" \
	"$work/reg.yml" | sed 's/\\n/\n/g' >"$work/treg.yml"
cat >>"$work/treg.yml" <<EOT
auth:
  htpasswd:
    realm: msbvm-test
    path: $tls/htpasswd
EOT
docker-registry serve "$work/treg.yml" >"$work/treg.log" 2>&1 &
pids="$pids $!"
treg=127.0.0.1:$tport
for _ in $(seq 100); do curl -s --cacert "$tls/ca.pem" "https://$treg/v2/" >/dev/null && break; sleep 0.1; done
skopeo copy -q --dest-cert-dir "$work/none" --dest-tls-verify=false --dest-creds alice:s3cret \
	"oci:$img/lay:v1" "docker://$treg/test/two:v1" >>"$work/skopeo.log" 2>&1
check "TLS registry with htpasswd: image pushed" [ $? = 0 ]
s0=$(snap)
build/msbvm pull "$treg/test/two:v1" >/dev/null 2>"$work/t.err"; rc=$?
check "TLS without the CA: refused, says why, store unchanged" \
	sh -c "[ $rc != 0 ] && grep -qi 'certificate' '$work/t.err' && [ '$(snap)' = '$s0' ]"
build/msbvm pull --ca-cert "$tls/ca.pem" "$treg/test/two:v1" >/dev/null 2>"$work/t.err"; rc=$?
check "TLS, no credentials: 'unauthorized: authentication required'" \
	sh -c "[ $rc != 0 ] && grep -q 'unauthorized: authentication required' '$work/t.err'"
build/msbvm login -u alice -p wrong "$treg" >/dev/null
SSL_CERT_FILE=$tls/ca.pem build/msbvm pull "$treg/test/two:v1" >/dev/null 2>"$work/t.err"; rc=$?
check "TLS, wrong password: 'unauthorized: incorrect username or password', store unchanged" \
	sh -c "[ $rc != 0 ] && grep -q 'unauthorized: incorrect username or password' '$work/t.err' && [ '$(snap)' = '$s0' ]"
echo s3cret | build/msbvm login -u alice --password-stdin "$treg" >/dev/null
SSL_CERT_FILE=$tls/ca.pem build/msbvm pull -q "$treg/test/two:v1" >/dev/null 2>"$work/t.err"
check "TLS (SSL_CERT_FILE) + basic auth: pull succeeds" [ $? = 0 ]

# ---- not root: ownership and modes still come from the tar headers
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	nr=$work/nonroot
	mkdir -p "$nr" && chown 65534:65534 "$nr" && chmod 755 "$work"
	setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$nr" \
		MSBVM_HOME="$nr/store" build/msbvm pull -q "$reg/test/zstd:v1" \
		>/dev/null 2>"$work/nr.err"
	check "pull as an unprivileged user" [ $? = 0 ]
	rootfs_ok "$nr/store/images/${d_zstd#sha256:}.ext4" "unprivileged pull"
fi

# ---- numbers (not checks): 3 layers of ~17 MB, msbvm pull vs skopeo copy
python3 - "$img" <<'PY'
import io, os, sys, tarfile
for i in range(3):
    with tarfile.open("%s/big%d.tar" % (sys.argv[1], i), "w") as t:
        data = os.urandom(17 << 20)
        ti = tarfile.TarInfo("big%d" % i); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
PY
umoci new --image "$img/lay:big" && for i in 0 1 2; do
	umoci raw add-layer --image "$img/lay:big" "$img/big$i.tar" || break; done &&
	push "oci:$img/lay:big" "docker://$reg/test/big:v1"
check "bench image pushed" [ $? = 0 ]
now() { date +%s.%N; }
t0=$(now); skopeo copy -q --src-tls-verify=false "docker://$reg/test/big:v1" "dir:$work/sk" >/dev/null 2>&1; t1=$(now)
MSBVM_HOME=$work/bench build/msbvm pull -q "$reg/test/big:v1" >/dev/null 2>&1; t2=$(now)
check "bench pull" [ $? = 0 ]
rm -f "$work"/bench/images/*.ext4
t3=$(now); MSBVM_HOME=$work/bench build/msbvm pull -q "$reg/test/big:v1" >/dev/null 2>&1; t4=$(now)
t5=$(now); MSBVM_HOME=$work/bench build/msbvm pull -q "$reg/test/big:v1" >/dev/null 2>&1; t6=$(now)
mb=$(du -sm "$work/sk" | cut -f1)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" -v g="$t6" -v mb="$mb" 'BEGIN {
	printf "# bench: %d MB, 3 layers: skopeo copy %.2f s; msbvm pull %.2f s (download + base image; ratio %.2f)\n", mb, b-a, c-b, (c-b)/(b-a)
	printf "# bench: base image build alone (blobs present) %.2f s; pull with everything cached %.3f s\n", e-d, g-f }'

# ---- run IMAGE: a busybox image whose config says what to run
echo "# run IMAGE (boots 3 guests)"
# busybox's own init as /sbin/init, for the --init handoff on an image
tools/stage-busybox.sh "$work/bbroot" tests/integration/init-smoke.sh >/dev/null &&
	ln -sfn ../bin/busybox "$work/bbroot/sbin/init" &&
	printf '::sysinit:/bin/true\n::shutdown:/bin/sync\n' > "$work/bbroot/etc/inittab" &&
	mkdir -p "$work/bbroot/data" && tar -C "$work/bbroot" -cf "$work/bb.tar" . &&
	umoci init --layout "$img/bb" && umoci new --image "$img/bb:v1" &&
	umoci raw add-layer --image "$img/bb:v1" "$work/bb.tar" &&
	umoci config --image "$img/bb:v1" --config.entrypoint /bin/sh \
		--config.entrypoint -c --config.cmd 'echo image-cmd FOO=$FOO pwd=$(pwd) uid=$(id -u)' \
		--config.env FOO=bar --config.workingdir /data --config.user 1234:5678 &&
	push "oci:$img/bb:v1" "docker://$reg/test/bb:v1"
check "a busybox image is pushed" [ $? = 0 ]
# run -d (pulls on first use) and a foreground run at the same time
build/msbvm run -d --state-dir "$state" --name obb "$reg/test/bb:v1" --init /sbin/init \
	>/dev/null 2>"$work/run-d.err"; rc=$?
check "run -d --name obb IMAGE --init /sbin/init: pulled on first use and ready (rc=$rc)" [ $rc = 0 ]
check "the init handoff works on an image: /proc/1/comm is init" \
	[ "$(build/msbvm exec --state-dir "$state" obb -- cat /proc/1/comm)" = init ]
d_bb=$(digest_of "$reg/test/bb:v1")
base_bb=$MSBVM_HOME/images/${d_bb#sha256:}.ext4
sum_bb=$(md5sum < "$base_bb")
out=$(build/msbvm run --state-dir "$state" "$reg/test/bb:v1" 2>"$work/run1.err")
check "run IMAGE runs Entrypoint + Cmd with the image's Env, WorkingDir, User ($out)" \
	[ "$out" = "image-cmd FOO=bar pwd=/data uid=1234" ]
out=$(build/msbvm exec --state-dir "$state" obb -- sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)')
check "exec in an image VM gets the image's defaults too ($out)" [ "$out" = "bar /data 1234:5678" ]
out=$(build/msbvm exec --state-dir "$state" -e FOO=mine -w / -u 0 obb -- sh -c 'echo $FOO $(pwd) $(id -u)')
check "-e, -w, -u win over them ($out)" [ "$out" = "mine / 0" ]
build/msbvm exec --state-dir "$state" -u 0 obb -- sh -c 'echo new > /etc/new-file && rm /bin/ls'
check "the VM writes to its overlay (a new file, a deleted one)" \
	[ "$(build/msbvm exec --state-dir "$state" obb -- cat /etc/new-file)" = new ]
check "its scratch upper disk is sparse, in the state directory" \
	bash -c "[ -f '$state/obb/upper.ext4' ] && [ \$(du -k '$state/obb/upper.ext4' | cut -f1) -lt 65536 ]"
s0=$(snap)
build/msbvm rmi "$reg/test/bb:v1" >/dev/null 2>"$work/rmi-bb.err"; rc=$?
check "rmi of the image a running VM uses: refused, store unchanged (rc=$rc)" \
	bash -c "[ $rc != 0 ] && [ '$(snap)' = '$s0' ]"
build/msbvm stop --state-dir "$state" obb; rc=$?
check "stop (rc=$rc); the scratch disk goes with the VM" \
	bash -c "[ $rc = 0 ] && [ ! -e '$state/obb' ]"
check "the shared base image was never written" [ "$(md5sum < "$base_bb")" = "$sum_bb" ]
# patches and a script on an image VM (issue 12): written to its upper
# layer, the base image untouched
printf '#!/bin/sh\necho script-hi\n' > "$work/hi.sh"
cat > "$work/p.json" <<'JSON'
{"patches": [{"op": "text", "path": "/etc/patched", "content": "patched-ok\n"},
             {"op": "append", "path": "/etc/inittab", "content": "# appended\n"}]}
JSON
out=$(build/msbvm run --state-dir "$state" --tmpfs-upper --spec "$work/p.json" \
	--script hi="$work/hi.sh" "$reg/test/bb:v1" -- \
	'echo replaced $FOO; test -e /bin/ls && echo ls-back; cat /etc/patched; hi; tail -n 1 /etc/inittab' \
	2>"$work/run2.err")
check "CMD replaces the image's Cmd; a new VM starts from the pristine base ($(echo $out))" \
	[ "$(echo $out | cut -d' ' -f1-3)" = "replaced bar ls-back" ]
check "a spec's patches and a --script reach an image VM ($(echo $out | cut -d' ' -f4-))" \
	[ "$(echo $out | cut -d' ' -f4-)" = "patched-ok script-hi # appended" ]
check "... and the base image is still unchanged" [ "$(md5sum < "$base_bb")" = "$sum_bb" ]
[ -n "$out" ] || sed 's/^/#   /' "$work/run2.err" | head -5
out=$(build/msbvm run --state-dir "$state" "$reg/test/bb:v1" --entrypoint /bin/echo \
	-- hello 2>"$work/run3.err")
check "--entrypoint after the image replaces Entrypoint and drops Cmd ($out)" [ "$out" = hello ]
build/msbvm run --state-dir "$state" "$reg/test/nosuch:v1" -- true 2>"$work/run4.err"; rc=$?
check "run of an unknown image: non-zero, says not found (rc=$rc)" \
	bash -c "[ $rc != 0 ] && grep -qi 'not found' '$work/run4.err'"

if [ $fails = 0 ]; then
	echo "oci: all passed"
	exit 0
fi
echo "oci: $fails failed"
exit 1
