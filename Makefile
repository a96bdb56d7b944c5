# msbvm build. `make` builds build/msbvm; `make test` runs everything
# (unit tests under ASan/UBSan, then the integration tests that boot guests).
# Variants: `make BUILD=debug`, `make BUILD=asan`, `make BUILD=static` (a
# self-contained binary to copy to another host); objects in build/$(BUILD).

CC ?= cc
BUILD ?= release
O := build/$(BUILD)

CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -I. -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers \
	-MMD -MP -pthread
CFLAGS_release := -O2 -g
CFLAGS_debug := -O0 -g3
CFLAGS_static := -O2 -g
CFLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
CFLAGS += $(CFLAGS_COMMON) $(CFLAGS_$(BUILD))
SAN_LDFLAGS_asan := -fsanitize=address,undefined
SAN_LDFLAGS_static := -static
LDFLAGS += -pthread $(SAN_LDFLAGS_$(BUILD))

# Layers, lowest first (README "Architecture"); every .c in a layer's
# folder is part of the library, so a new device needs no Makefile edit.
CORE_SRCS := $(wildcard proto/*.c vmm/core/*.c)
DEV_SRCS := $(wildcard vmm/hw/*.c virtio/*.c boot/*.c)
LIB_SRCS := $(wildcard vmm/lib/*.c)
# oci/: images (registry client, store, root filesystem); below vmm/lib
OCI_SRCS := $(wildcard oci/*.c)
# what oci/ links (README "Dependencies"); also in vmm/lib/msbvm.pc.in
OCI_LIBS := -lcurl -larchive -ljansson -lcrypto -lext2fs -lcom_err
# Debian has no static libcurl dependencies: the static binary has no
# images (vmm/lib/image_none.c answers -ENOTSUP)
ifeq ($(BUILD),static)
OCI_SRCS :=
OCI_LIBS :=
CFLAGS += -DMSBVM_NO_IMAGES
# nor a static libslirp (glib): --net user answers -ENOTSUP there
CFLAGS += -DMSBVM_NO_NET
endif
# The library's dependencies (README "Dependencies"): libfdt builds
# agentd's boot configuration; libslirp is virtio-net's user-mode
# network (NAT, DHCP, DNS, port forwards); libseccomp the per-thread
# seccomp filters (vmm/lib/seccomp.c); then what oci/ needs.
LIB_LDLIBS := -lfdt -lslirp -lseccomp $(OCI_LIBS)
LIB_LDLIBS_static := -lfdt -lseccomp -ljansson
LDLIBS_LIB := $(or $(LIB_LDLIBS_$(BUILD)),$(LIB_LDLIBS))
VMM_SRCS := $(CORE_SRCS) $(DEV_SRCS) $(OCI_SRCS) $(LIB_SRCS)
CLI_SRCS := $(wildcard vmm/cli/*.c)
MAIN_SRCS := $(CLI_SRCS)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

VMM_OBJS := $(VMM_SRCS:%.c=$(O)/%.o)
VERSION := 0.2.0
SONAME := libmsbvm.so.0
UNIT_BINS := $(UNIT_TESTS:%=build/asan/tests/%)

.PHONY: all test unit integration kernel initramfs clean deps run shell fuzz fuzz-ci agentd lib install tsan
all: build/msbvm build/msbvm-full build/agentd.cpio

build/msbvm: $(O)/msbvm
	@[ "$(O)/msbvm" = "$@" ] || ln -sfn $(BUILD)/msbvm $@

# The command is a client of the library: it links libmsbvm.a and sees
# only include/msbvm.h (tools/check-layers.sh). Two builds
# (vmm/cli/forward.c): msbvm without the image stack (--as-needed drops
# the libraries nothing it links uses), msbvm-full with it, to which msbvm
# hands image commands.
CLI_FULL_ONLY := vmm/cli/images.c vmm/cli/run_image.c vmm/cli/forward.c
CLI_LEAN_OBJS := $(filter-out $(CLI_FULL_ONLY:%.c=$(O)/%.o),$(MAIN_SRCS:%.c=$(O)/%.o)) \
	$(O)/lean/vmm/cli/forward.o
$(O)/lean/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DMSBVM_CLI_LEAN -c -o $@ $<
$(O)/msbvm: $(CLI_LEAN_OBJS) $(O)/libmsbvm.a
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(LDLIBS_LIB)
$(O)/msbvm-full: $(MAIN_SRCS:%.c=$(O)/%.o) $(O)/libmsbvm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB)
build/msbvm-full: $(O)/msbvm-full
	@[ "$(O)/msbvm-full" = "$@" ] || ln -sfn $(BUILD)/msbvm-full $@

# The same command with the test hooks (#ifdef MSBVM_TEST_HOOKS) compiled
# in: only tests run it (e.g. a corrupt boot configuration for agentd).
HOOK_SRCS := vmm/lib/bootcfg.c vmm/lib/seccomp.c
build/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DMSBVM_TEST_HOOKS -c -o $@ $<
build/hooks/msbvm: $(MAIN_SRCS:%.c=$(O)/%.o) $(HOOK_SRCS:%.c=build/hooks/%.o) \
		$(filter-out $(HOOK_SRCS:%.c=$(O)/%.o),$(VMM_OBJS))
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB)

$(O)/libmsbvm.a: $(VMM_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The shared library: position-independent objects, only msbvm_* exported
# (vmm/lib/libmsbvm.map), soname libmsbvm.so.0.
PIC := build/pic
$(PIC)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O2 -g -fPIC -c -o $@ $<

$(PIC)/libmsbvm.so.$(VERSION): $(VMM_SRCS:%.c=$(PIC)/%.o) vmm/lib/libmsbvm.map
	$(CC) -shared -pthread -Wl,-soname,$(SONAME) \
		-Wl,--version-script=vmm/lib/libmsbvm.map -o $@ $(filter %.o,$^) \
		$(LIB_LDLIBS)

lib: $(O)/libmsbvm.a $(PIC)/libmsbvm.so.$(VERSION)

# make install PREFIX=DIR: bin/msbvm, include/msbvm.h, lib/libmsbvm.{a,so},
# lib/pkgconfig/msbvm.pc, and the guest kernel + agent initramfs in
# share/msbvm (where an installed msbvm looks for them).
PREFIX ?= /usr/local
install: all lib
	install -D -m 755 $(O)/msbvm $(DESTDIR)$(PREFIX)/bin/msbvm
	install -D -m 755 $(O)/msbvm-full $(DESTDIR)$(PREFIX)/bin/msbvm-full
	install -D -m 644 include/msbvm.h $(DESTDIR)$(PREFIX)/include/msbvm.h
	install -D -m 644 $(O)/libmsbvm.a $(DESTDIR)$(PREFIX)/lib/libmsbvm.a
	install -D -m 755 $(PIC)/libmsbvm.so.$(VERSION) \
		$(DESTDIR)$(PREFIX)/lib/libmsbvm.so.$(VERSION)
	ln -sfn libmsbvm.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(PREFIX)/lib/libmsbvm.so
	@mkdir -p $(DESTDIR)$(PREFIX)/lib/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		vmm/lib/msbvm.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/msbvm.pc
	install -D -m 644 build/agentd.cpio $(DESTDIR)$(PREFIX)/share/msbvm/agentd.cpio
	if [ -e build/vmlinux ]; then install -D -m 644 build/vmlinux \
		$(DESTDIR)$(PREFIX)/share/msbvm/vmlinux; fi

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests always build with sanitizers: they exist to catch memory bugs.
ASAN_CFLAGS := $(CFLAGS_COMMON) $(CFLAGS_asan)

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

build/asan/libmsbvm.a: $(VMM_SRCS:%.c=build/asan/%.o)
	@rm -f $@
	ar rcs $@ $^

# the command's own parsing (not main) is unit-tested too
CLI_LIB_SRCS := $(filter-out vmm/cli/main.c,$(CLI_SRCS))
build/asan/libcli.a: $(CLI_LIB_SRCS:%.c=build/asan/%.o)
	ar rcs $@ $^

# agentd's pure parts (parsers, framing) are unit-tested on the host too;
# only the tests link these objects, never the msbvm binary or library.
AGENT_LIB_SRCS := $(filter-out agentd/main.c,$(wildcard agentd/*.c))
build/asan/libagentd.a: $(AGENT_LIB_SRCS:%.c=build/asan/%.o)
	ar rcs $@ $^

TEST_LIBS := build/asan/libcli.a build/asan/libagentd.a build/asan/libmsbvm.a
build/asan/tests/%: tests/unit/%.c tests/unit/check.h tests/unit/vdrv.h $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $< $(TEST_LIBS) -pthread \
		-fsanitize=address,undefined $(LIB_LDLIBS)

unit: $(UNIT_BINS)
	@tools/check-layers.sh
	@for t in $(UNIT_BINS); do echo "== $$t"; $$t || exit 1; done
	@echo "unit tests: all passed"

# The unit tests again under ThreadSanitizer (`make tsan`, run by `make
# test`): races between device threads, the vCPU and teardown show here.
# clang: gcc 12's TSan cannot model atomic_thread_fence (virtq.c).
TSAN_CC ?= clang
TSAN_CFLAGS := $(CFLAGS_COMMON) -O1 -g -fsanitize=thread
TSAN_BINS := $(UNIT_TESTS:%=build/tsan/tests/%)
build/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	$(TSAN_CC) $(TSAN_CFLAGS) -c -o $@ $<

build/tsan/libmsbvm.a: $(VMM_SRCS:%.c=build/tsan/%.o)
	@rm -f $@
	ar rcs $@ $^
build/tsan/libcli.a: $(CLI_LIB_SRCS:%.c=build/tsan/%.o)
	@rm -f $@
	ar rcs $@ $^
build/tsan/libagentd.a: $(AGENT_LIB_SRCS:%.c=build/tsan/%.o)
	@rm -f $@
	ar rcs $@ $^

TSAN_LIBS := build/tsan/libcli.a build/tsan/libagentd.a build/tsan/libmsbvm.a
build/tsan/tests/%: tests/unit/%.c tests/unit/check.h tests/unit/vdrv.h $(TSAN_LIBS)
	@mkdir -p $(dir $@)
	$(TSAN_CC) $(TSAN_CFLAGS) -o $@ $< $(TSAN_LIBS) -pthread -fsanitize=thread \
		$(LIB_LDLIBS)

tsan: $(TSAN_BINS)
	@for t in $(TSAN_BINS); do echo "== $$t (tsan)"; \
		TSAN_OPTIONS=halt_on_error=1 $$t || exit 1; done
	@echo "unit tests under TSan: all passed"

# libFuzzer targets (clang). `make fuzz` builds; run e.g.
# build/fuzz/fuzz_virtq_blk -max_total_time=60
FUZZ_SRCS := vmm/core/err.c vmm/core/mem.c virtio/virtq.c virtio/mmio.c virtio/blk.c \
	virtio/vsock.c virtio/vsock_conn.c
FUZZ_TARGETS := fuzz_virtq_blk fuzz_proto fuzz_bootcfg fuzz_oci_ref fuzz_oci_manifest \
	fuzz_virtq_net fuzz_vfs
fuzz: $(FUZZ_TARGETS:%=build/fuzz/%)

# Every target for FUZZ_CI_SECS each from tests/fuzz/corpus/TARGET/ (run
# by `make test`): 6 x 45 s, about 5 minutes; any crash fails
# (tools/fuzz-ci.sh).
FUZZ_CI_SECS ?= 45
fuzz-ci: fuzz
	tools/fuzz-ci.sh $(FUZZ_CI_SECS) $(FUZZ_TARGETS)

build/fuzz/fuzz_virtq_net: tests/fuzz/fuzz_virtq_net.c vmm/core/err.c vmm/core/mem.c \
	virtio/virtq.c virtio/mmio.c virtio/net.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^

# virtio-fs: the FUSE server behind the transport (tests/fuzz/fuzz_vfs.c)
build/fuzz/fuzz_vfs: tests/fuzz/fuzz_vfs.c vmm/core/err.c vmm/core/mem.c \
	virtio/virtq.c virtio/mmio.c $(wildcard virtio/fs*.c)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^

build/fuzz/fuzz_virtq_blk: tests/fuzz/fuzz_virtq_blk.c $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^

build/fuzz/fuzz_proto: tests/fuzz/fuzz_proto.c proto/proto.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^

# agentd's boot configuration parser, the same source the guest runs
build/fuzz/fuzz_bootcfg: tests/fuzz/fuzz_bootcfg.c agentd/config.c agentd/config_fs.c \
		proto/proto.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^ -lfdt

# the parsers of what users and registries send (oci/)
build/fuzz/fuzz_oci_ref: tests/fuzz/fuzz_oci_ref.c oci/ref.c oci/auth.c oci/util.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^ -ljansson -lcrypto

build/fuzz/fuzz_oci_manifest: tests/fuzz/fuzz_oci_manifest.c oci/manifest.c \
		oci/config.c oci/util.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -o $@ $^ -ljansson

kernel:
	tools/build-kernel.sh

# agentd: a static musl binary (~100 KiB) so the initramfs that carries it
# unpacks in a blink even where the guest kernel is emulated. musl-gcc
# does not see the kernel UAPI headers; they are linked into build/musl-inc.
AGENT_SRCS := agentd/main.c agentd/serve.c agentd/exec.c agentd/leftover.c \
	agentd/files.c agentd/init.c agentd/net.c agentd/config.c \
	agentd/config_fs.c agentd/patch.c agentd/patch_ops.c proto/proto.c
AGENT_OBJS := $(AGENT_SRCS:%.c=build/musl/%.o)
MUSL_INC := build/musl-inc
agentd: build/agentd.cpio

$(MUSL_INC)/.stamp: Makefile
	@mkdir -p $(MUSL_INC)
	ln -sfn /usr/include/linux $(MUSL_INC)/linux
	ln -sfn /usr/include/asm-generic $(MUSL_INC)/asm-generic
	ln -sfn /usr/include/$$(gcc -print-multiarch)/asm $(MUSL_INC)/asm
	for h in fdt.h libfdt.h libfdt_env.h; do ln -sfn /usr/include/$$h $(MUSL_INC)/$$h; done
	@touch $@

build/musl/%.o: %.c $(MUSL_INC)/.stamp
	@mkdir -p $(dir $@)
	musl-gcc $(CFLAGS_COMMON) -Os -isystem $(MUSL_INC) -c -o $@ $<

# libfdt: Debian's static libfdt.a links under musl as it is (it needs
# only string functions and __stack_chk_fail, which musl has).
LIBFDT_A := /usr/lib/$(shell gcc -print-multiarch)/libfdt.a
build/musl/agentd.elf: $(AGENT_OBJS)
	musl-gcc -static -s -o $@ $^ $(LIBFDT_A)

build/agentd.cpio: build/musl/agentd.elf tools/mkagent-initramfs.sh
	tools/mkagent-initramfs.sh $@ build/musl/agentd.elf

initramfs: build/msbvm
	tools/mkinitramfs.sh build/demo-initramfs.cpio tools/demo-init.sh

# Guest-side test tools: static musl binaries a test copies into a guest.
build/guest/fsstress: tools/guest/fsstress.c
	@mkdir -p $(dir $@)
	musl-gcc -std=c11 -Wall -Wextra -Werror -Wshadow -O2 -static -s -o $@ $<
build/guest/udpecho: tools/guest/udpecho.c
	@mkdir -p $(dir $@)
	musl-gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -O2 -static -s -o $@ $<

integration: all kernel build/guest/fsstress build/guest/udpecho build/hooks/msbvm
	tests/integration/run.sh
	tests/integration/agent.sh
	tests/integration/init.sh
	tests/integration/overlay.sh
	tests/integration/embed.sh
	tests/integration/oci.sh
	tests/integration/net.sh
	tests/integration/fs.sh

# The two commands that do all set-up on a fresh machine (README):
# `make test` runs every test; `make run` boots the built-in default guest.
test:
	tools/install-deps.sh
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory tsan
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory integration

# The demo: a busybox root disk, agentd as PID 1, one command in the guest
# whose output and exit status come back as if it ran here.
build/demo-root.ext4: tools/mkrootfs.sh tools/stage-busybox.sh tools/demo-init.sh
	tools/mkrootfs.sh $@ tools/demo-init.sh 64

run:
	tools/install-deps.sh
	$(MAKE) --no-print-directory all kernel build/demo-root.ext4
	build/msbvm run --rootfs build/demo-root.ext4 -- /bin/sh -c \
		'echo "msbvm guest: $$(uname -sr), PID 1 is $$(cat /proc/1/comm), $$(hostname)"; \
		 echo "root: $$(grep " / " /proc/mounts)"'

# Interactive shell in the guest (a real pty through the agent).
shell: all kernel build/demo-root.ext4
	build/msbvm run --rootfs build/demo-root.ext4

deps:
	tools/install-deps.sh

clean:
	rm -rf build/release build/debug build/asan build/static build/fuzz build/pic build/tsan build/guest build/msbvm build/*.cpio

-include $(shell find build -name '*.d' 2>/dev/null)
