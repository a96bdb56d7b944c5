#!/bin/sh
# libmsbvm as an appliance host embeds it: `make install PREFIX=tmp`, build
# examples/embed.c against the installed library with pkg-config (shared
# and static), and boot two VMs at once in that one process; each runs two
# commands (output through a callback and through an fd, exit codes).
. "$(dirname "$0")/lib.sh"
prefix=$work/prefix
pc=$prefix/lib/pkgconfig

make --no-print-directory -s install PREFIX="$prefix" >"$work/install.log" 2>&1
check "make install PREFIX=... succeeds" [ $? = 0 ]
for f in bin/msbvm include/msbvm.h lib/libmsbvm.a lib/libmsbvm.so lib/libmsbvm.so.0 \
	 lib/pkgconfig/msbvm.pc share/msbvm/agentd.cpio share/msbvm/vmlinux; do
	check "installed $f" [ -e "$prefix/$f" ]
done
soname=$(objdump -p "$prefix/lib/libmsbvm.so" | awk '/SONAME/ {print $2}')
check "soname is libmsbvm.so.0 ($soname)" [ "$soname" = libmsbvm.so.0 ]
extra=$(nm -D --defined-only "$prefix/lib/libmsbvm.so" | awk '$2 == "T" && $3 !~ /^msbvm_/' | head -3)
check "the shared library exports only msbvm_* ($extra)" [ -z "$extra" ]

cflags=$(PKG_CONFIG_PATH=$pc pkg-config --cflags msbvm)
libs=$(PKG_CONFIG_PATH=$pc pkg-config --libs msbvm)
cc -std=c11 -Wall -Wextra -Werror $cflags -o "$work/embed" examples/embed.c $libs \
	-Wl,-rpath,"$prefix/lib" 2>"$work/cc.log"
check "examples/embed.c builds against the installed library (pkg-config)" [ $? = 0 ]
cc -std=c11 -Wall -Wextra -Werror $cflags -o "$work/embed-static" examples/embed.c \
	"$prefix/lib/libmsbvm.a" $(PKG_CONFIG_PATH=$pc pkg-config --static --libs msbvm |
		sed 's/-lmsbvm//') \
	-pthread 2>>"$work/cc.log"
check "and statically against libmsbvm.a" [ $? = 0 ]
check "the shared build really uses libmsbvm.so" \
	sh -c "ldd '$work/embed' | grep -q '$prefix/lib/libmsbvm.so.0'"

# the data files from the prefix, as an installed user would
export MSBVM_KERNEL=$prefix/share/msbvm/vmlinux
export MSBVM_AGENT_INITRD=$prefix/share/msbvm/agentd.cpio
export MSBVM_STATE_DIR=$state
root=$work/root.ext4
tools/mkrootfs.sh "$root" tests/integration/init-smoke.sh 64 >/dev/null &&
	cp --sparse=always "$root" "$work/root2.ext4"
check "two busybox root images built" [ -s "$root" -a -s "$work/root2.ext4" ]
echo "# two VMs in one process, each on its own root image"
"$work/embed" "$root" "$work/root2.ext4" >"$work/out" 2>"$work/err"
rc=$?
cat "$work/out" | sed 's/^/# /'
check "embed exits 0 (rc=$rc; $(tail -c 300 "$work/err"))" [ $rc = 0 ]
for i in 0 1; do
	check "embed-$i: uname through the output callback" \
		grep -q "^embed-$i: uname -sr -> exit 0, output: Linux " "$work/out"
	check "embed-$i: second command's exit code 7" \
		grep -q "^embed-$i: sh -c 'exit 7' -> exit 7" "$work/out"
	check "embed-$i: stderr through the fd" grep -q "^to stderr" "$work/out"
	check "embed-$i: powered off" grep -q "^embed-$i: ended: powered off" "$work/out"
done
check "no state left behind" sh -c "[ -z \"\$(ls -A '$state' 2>/dev/null)\" ]"
check "both images are clean (e2fsck -fn)" sh -c "e2fsck -fn '$root' && e2fsck -fn '$work/root2.ext4'" >/dev/null 2>&1
rm -rf "$work"
echo "embed: $fails failed"
[ $fails = 0 ]
