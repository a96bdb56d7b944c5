/* Guest-side block benchmark (static binary placed in the bench rootfs by
 * tools/blk-bench.sh): O_DIRECT 4 KiB sequential and random reads/writes on
 * a device, printing MiB/s and IOPS. Plain C so it runs in any rootfs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS 4096

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void run(int fd, const char *name, int write, int random, long blocks,
		long span, void *buf)
{
	double t0 = now();
	for (long i = 0; i < blocks; i++) {
		off_t off = (off_t)(random ? (long)(xorshift() % (uint64_t)span) : i) * BS;
		ssize_t n = write ? pwrite(fd, buf, BS, off) : pread(fd, buf, BS, off);
		if (n != BS) {
			perror(name);
			exit(1);
		}
	}
	if (write)
		fsync(fd);
	double dt = now() - t0;
	printf("BENCH %-10s %8.2f MiB/s %8.0f IOPS (%ld x 4 KiB in %.2f s)\n", name,
	       (double)blocks * BS / 1048576.0 / dt, (double)blocks / dt, blocks, dt);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/vdb";
	long mib = argc > 2 ? atol(argv[2]) : 16;
	long blocks = mib * 256, span = blocks;
	void *buf;
	int fd = open(dev, O_RDWR | O_DIRECT);

	if (fd < 0 || posix_memalign(&buf, BS, BS)) {
		perror(dev);
		return 1;
	}
	memset(buf, 0x5a, BS);
	run(fd, "seq-write", 1, 0, blocks, span, buf);
	run(fd, "seq-read", 0, 0, blocks, span, buf);
	run(fd, "rand-read", 0, 1, blocks / 4, span, buf);
	run(fd, "rand-write", 1, 1, blocks / 4, span, buf);
	return 0;
}
