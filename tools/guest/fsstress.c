/* Guest-side file-system stress test (static; tests/integration/agent.sh
 * copies it into a guest and runs it on a scratch ext4 disk).
 *
 *   fsstress DIR SECONDS [SEED]   two writers + one reader for SECONDS,
 *                                 then a full verify of DIR
 *   fsstress verify DIR           the full verify alone (after a remount,
 *                                 or on the host on a debugfs rdump)
 *   fsstress verify-content DIR   after an interrupted run (a crash): every
 *                                 complete file against its name only; no
 *                                 manifests, temporary files only counted
 *
 * Writers create small files (0..64 KiB of seeded pseudo-random bytes)
 * under a temporary name ".tmp.*", fsync them and rename them to a name that
 * carries the content's size and FNV-1a 64 hash: "<tag>_<size>_<hash>".
 * They also rename files (the size and hash stay in the name, the file may
 * move to another of the writer's directories), delete files, and make and
 * remove subdirectories. The reader walks the tree meanwhile and checks
 * every complete file against its name. At the end each writer writes
 * MANIFEST.wN (the files it left, fsynced); the verify checks every file
 * against its name, every manifest entry present, and nothing else present.
 * Prints counts and rates; exits 1 on any mismatch or error (naming the
 * file), 2 on bad usage. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NWRITERS 2
#define MAXSIZE 65536
#define MAXLIVE 400	/* live files per writer: above it, delete */
#define MAXDIRS 8	/* subdirectories per writer at once */
#define PATHLEN 128
#define MAXREPORT 20	/* mismatches printed per process */

struct stats {
	uint64_t created, renamed, deleted, mkdirs, rmdirs, fsyncs;
	uint64_t bytes_written, verified, bytes_read, vanished, walks;
	uint64_t errors;
};

static struct stats *st;	/* this process's slot in shared memory */
static int content_only;	/* verify-content */
static uint64_t tmp_left;
static unsigned reported;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void report(const char *fmt, ...)
{
	st->errors++;
	if (reported++ >= MAXREPORT)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dprintf(2, "fsstress: ERROR: %s\n", line);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* "<tag>_<size>_<hash>": size in decimal, hash 16 hex digits */
static int parse_name(const char *name, size_t *size, uint64_t *hash)
{
	const char *h = strrchr(name, '_');
	if (!h || h == name || strlen(h + 1) != 16)
		return -1;
	const char *s = h - 1;
	while (s > name && *s != '_')
		s--;
	if (*s != '_' || s + 1 == h)
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s + 1, &end, 10);
	if (errno || end != h || v > MAXSIZE)
		return -1;
	*size = (size_t)v;
	*hash = strtoull(h + 1, &end, 16);
	return *end ? -1 : 0;
}

/* Read DIRFD/NAME and compare with its name. Returns 0 ok, 1 vanished
 * (ENOENT on open: a concurrent rename or delete), -1 mismatch/error. */
static int verify_file(int dirfd, const char *name, const char *path)
{
	static unsigned char buf[MAXSIZE + 1];
	size_t want;
	uint64_t hash;
	if (parse_name(name, &want, &hash) < 0) {
		report("%s: unexpected file name", path);
		return -1;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		report("%s: open: %s", path, strerror(errno));
		return -1;
	}
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			report("%s: read at %zu: %s", path, got, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0 || (got += (size_t)n) == sizeof(buf))
			break;
	}
	close(fd);
	st->bytes_read += got;
	if (got != want) {
		report("%s: size %zu, name says %zu", path, got, want);
		return -1;
	}
	uint64_t h = fnv1a(buf, got);
	if (h != hash) {
		size_t nz = 0;
		for (size_t i = 0; i < got; i++)
			nz += buf[i] == 0;
		report("%s: content hash %016" PRIx64 ", name says %016" PRIx64
		      " (%zu of %zu bytes are zero)", path, h, hash, nz, got);
		return -1;
	}
	st->verified++;
	return 0;
}

/* ---- manifest set (final verify) ---- */

struct entry {
	char path[PATHLEN];
	int seen;
};
static struct entry *man;
static size_t nman, capman;

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static int load_manifests(int root)
{
	for (int w = 0; w < NWRITERS; w++) {
		char mname[32];
		snprintf(mname, sizeof(mname), "MANIFEST.w%d", w);
		int fd = openat(root, mname, O_RDONLY | O_CLOEXEC);
		FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
		if (!f) {
			report("%s: %s", mname, strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		char line[PATHLEN + 2];
		int done = 0;
		while (fgets(line, sizeof(line), f)) {
			size_t n = strlen(line);
			if (n && line[n - 1] == '\n')
				line[--n] = 0;
			if (!strcmp(line, "END")) {
				done = 1;
				break;
			}
			if (!n || n >= PATHLEN) {
				report("%s: bad line '%s'", mname, line);
				continue;
			}
			if (nman == capman) {
				capman = capman ? capman * 2 : 1024;
				man = realloc(man, capman * sizeof(*man));
				if (!man) {
					perror("fsstress: realloc");
					exit(1);
				}
			}
			memcpy(man[nman].path, line, n + 1);
			man[nman++].seen = 0;
		}
		fclose(f);
		if (!done)
			report("%s: truncated (no END line)", mname);
	}
	qsort(man, nman, sizeof(*man), cmp_entry);
	return 0;
}

/* The reader checks each file name once: files never change after their
 * rename, and reading (a copy in the guest kernel, slow where it is
 * emulated) would otherwise crowd out the writers it is meant to race. */
#define SEENCAP 16384
static uint64_t seen[SEENCAP];
static size_t nseen;

static int first_sight(const char *name)
{
	uint64_t h = fnv1a((const unsigned char *)name, strlen(name));
	h += !h;
	size_t i = h & (SEENCAP - 1);
	for (; seen[i]; i = (i + 1) & (SEENCAP - 1))
		if (seen[i] == h)
			return 0;
	if (nseen < SEENCAP / 2) {	/* full: check it again, unrecorded */
		seen[i] = h;
		nseen++;
	}
	return 1;
}

/* Walk DIRFD (path PREFIX relative to the stress root) and verify every
 * complete file (the reader: every file not seen before). final: nothing runs concurrently, so a vanished file, a
 * leftover temporary file or a file no manifest lists is an error. */
static void walk(int dirfd, const char *prefix, int final)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		report("%s: fdopendir: %s", *prefix ? prefix : ".", strerror(errno));
		close(dirfd);
		return;
	}
	struct dirent *e;
	char path[PATHLEN];
	for (errno = 0; (e = readdir(d)); errno = 0) {
		const char *n = e->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "lost+found"))
			continue;
		if (!*prefix && !strncmp(n, "MANIFEST.", 9))
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", n) >=
		    (int)sizeof(path)) {
			report("%s/%s: path too long", prefix, n);
			continue;
		}
		unsigned char type = e->d_type;
		if (type == DT_UNKNOWN) {
			struct stat sb;
			if (fstatat(dirfd, n, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno != ENOENT || final)
					report("%s: stat: %s", path, strerror(errno));
				continue;
			}
			type = S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : DT_LNK;
		}
		if (type == DT_DIR) {
			int sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub < 0) {
				if (errno != ENOENT || final)
					report("%s: open dir: %s", path, strerror(errno));
				continue;
			}
			walk(sub, path, final);
			continue;
		}
		if (type != DT_REG) {
			report("%s: not a regular file or directory (type %d)", path, type);
			continue;
		}
		if (!strncmp(n, ".tmp.", 5)) {
			tmp_left++;
			if (final && !content_only)
				report("%s: temporary file left over", path);
			continue;
		}
		if (!final && !first_sight(n))
			continue;
		int r = verify_file(dirfd, n, path);
		if (r == 1 && final)
			report("%s: listed but cannot be opened (ENOENT)", path);
		if (r == 1)
			st->vanished++;
		if (final && !content_only) {
			struct entry key;
			memcpy(key.path, path, strlen(path) + 1);
			struct entry *m = bsearch(&key, man, nman, sizeof(*man), cmp_entry);
			if (!m)
				report("%s: present but in no manifest", path);
			else
				m->seen = 1;
		}
	}
	if (errno)
		report("%s: readdir: %s", *prefix ? prefix : ".", strerror(errno));
	closedir(d);
}

/* ---- writer ---- */

struct wfile {
	char path[PATHLEN];
	int dir;	/* index into dirs, -1 = the writer's top directory */
};

struct writer {
	int id, root;
	uint64_t rng, seq;
	struct wfile *files;
	size_t nfiles;
	char dirs[MAXDIRS][PATHLEN];
	int ndirs;
	unsigned char *buf;
};

static int sys_fail(const char *what, const char *path)
{
	report("writer: %s %s: %s", what, path, strerror(errno));
	return -1;
}

static const char *dir_path(struct writer *w, int dir, char *top)
{
	return dir < 0 ? top : w->dirs[dir];
}

static int w_create(struct writer *w)
{
	char top[16], tmp[PATHLEN], fin[PATHLEN];
	snprintf(top, sizeof(top), "w%d", w->id);
	int dir = w->ndirs ? (int)(splitmix(&w->rng) % (uint64_t)(w->ndirs + 1)) - 1 : -1;
	const char *dp = dir_path(w, dir, top);
	size_t size = (size_t)(splitmix(&w->rng) % (MAXSIZE + 1));
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = splitmix(&w->rng);
		memcpy(w->buf + i, &v, size - i < 8 ? size - i : 8);
	}
	uint64_t seq = w->seq++;
	snprintf(tmp, sizeof(tmp), "%s/.tmp.w%d.%" PRIu64, dp, w->id, seq);
	snprintf(fin, sizeof(fin), "%s/f%d.%" PRIu64 "_%zu_%016" PRIx64, dp, w->id, seq, size,
		 fnv1a(w->buf, size));
	int fd = openat(w->root, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return sys_fail("create", tmp);
	/* one to three writes, so partial-page appends happen too */
	size_t done = 0;
	int pieces = 1 + (int)(splitmix(&w->rng) % 3);
	for (int p = 0; p < pieces && done < size; p++) {
		size_t len = p == pieces - 1 ? size - done
					     : (size_t)(splitmix(&w->rng) % (size - done + 1));
		while (len) {
			ssize_t n = write(fd, w->buf + done, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				sys_fail("write", tmp);
				close(fd);
				return -1;
			}
			done += (size_t)n;
			len -= (size_t)n;
		}
	}
	if (fsync(fd) < 0) {
		sys_fail("fsync", tmp);
		close(fd);
		return -1;
	}
	st->fsyncs++;
	if (close(fd) < 0)
		return sys_fail("close", tmp);
	if (renameat(w->root, tmp, w->root, fin) < 0)
		return sys_fail("rename", tmp);
	st->created++;
	st->bytes_written += size;
	memcpy(w->files[w->nfiles].path, fin, strlen(fin) + 1);
	w->files[w->nfiles++].dir = dir;
	/* now and then make the rename durable as well */
	if (splitmix(&w->rng) % 8 == 0) {
		int dfd = openat(w->root, dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0) {
			int e = errno;
			if (dfd >= 0)
				close(dfd);
			errno = e;
			return sys_fail("fsync dir", dp);
		}
		close(dfd);
		st->fsyncs++;
	}
	return 0;
}

static int w_rename(struct writer *w)
{
	char top[16], to[PATHLEN];
	snprintf(top, sizeof(top), "w%d", w->id);
	struct wfile *f = &w->files[splitmix(&w->rng) % w->nfiles];
	int dir = w->ndirs ? (int)(splitmix(&w->rng) % (uint64_t)(w->ndirs + 1)) - 1 : -1;
	const char *base = strrchr(f->path, '/') + 1;
	const char *sum = strchr(base, '_');	/* "_<size>_<hash>", kept */
	snprintf(to, sizeof(to), "%s/r%d.%" PRIu64 "%s", dir_path(w, dir, top), w->id,
		 w->seq++, sum);
	if (renameat(w->root, f->path, w->root, to) < 0)
		return sys_fail("rename", f->path);
	st->renamed++;
	memcpy(f->path, to, strlen(to) + 1);
	f->dir = dir;
	return 0;
}

static int w_delete_at(struct writer *w, size_t i)
{
	if (unlinkat(w->root, w->files[i].path, 0) < 0)
		return sys_fail("unlink", w->files[i].path);
	st->deleted++;
	w->files[i] = w->files[--w->nfiles];
	return 0;
}

static int w_mkdir(struct writer *w)
{
	char top[16], path[PATHLEN];
	snprintf(top, sizeof(top), "w%d", w->id);
	/* sometimes nested in an existing subdirectory */
	int parent = w->ndirs && splitmix(&w->rng) % 3 == 0
			     ? (int)(splitmix(&w->rng) % (uint64_t)w->ndirs) : -1;
	snprintf(path, sizeof(path), "%s/d%" PRIu64, dir_path(w, parent, top), w->seq++);
	if (strlen(path) > PATHLEN - 48)	/* room for a file name below */
		return 0;
	if (mkdirat(w->root, path, 0755) < 0)
		return sys_fail("mkdir", path);
	st->mkdirs++;
	memcpy(w->dirs[w->ndirs++], path, strlen(path) + 1);
	return 0;
}

/* Remove a subdirectory with no subdirectories of its own and at most 8
 * files: its files first. */
static int w_rmdir(struct writer *w)
{
	int k = (int)(splitmix(&w->rng) % (uint64_t)w->ndirs);
	size_t len = strlen(w->dirs[k]);
	for (int j = 0; j < w->ndirs; j++)
		if (j != k && !strncmp(w->dirs[j], w->dirs[k], len) && w->dirs[j][len] == '/')
			return 0;	/* has a subdirectory: leave it */
	size_t in = 0;
	for (size_t i = 0; i < w->nfiles; i++)
		in += w->files[i].dir == k;
	if (in > 8)
		return 0;	/* keep most files alive for the final verify */
	for (size_t i = w->nfiles; i-- > 0;)
		if (w->files[i].dir == k && w_delete_at(w, i) < 0)
			return -1;
	if (unlinkat(w->root, w->dirs[k], AT_REMOVEDIR) < 0)
		return sys_fail("rmdir", w->dirs[k]);
	st->rmdirs++;
	/* move the last directory into slot k; renumber its files */
	int last = --w->ndirs;
	if (k != last) {
		memcpy(w->dirs[k], w->dirs[last], sizeof(w->dirs[k]));
		for (size_t i = 0; i < w->nfiles; i++)
			if (w->files[i].dir == last)
				w->files[i].dir = k;
	}
	return 0;
}

static int write_manifest(struct writer *w)
{
	char name[32], tmp[40];
	snprintf(name, sizeof(name), "MANIFEST.w%d", w->id);
	snprintf(tmp, sizeof(tmp), ".tmp.%s", name);
	int fd = openat(w->root, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f)
		return sys_fail("create", tmp);
	for (size_t i = 0; i < w->nfiles; i++)
		fprintf(f, "%s\n", w->files[i].path);
	fprintf(f, "END\n");
	if (fflush(f) != 0 || fsync(fd) < 0) {
		fclose(f);
		return sys_fail("write", tmp);
	}
	fclose(f);
	if (renameat(w->root, tmp, w->root, name) < 0)
		return sys_fail("rename", tmp);
	if (fsync(w->root) < 0)
		return sys_fail("fsync", ".");
	return 0;
}

static int writer(int id, int root, uint64_t seed, double deadline)
{
	struct writer w = { .id = id, .root = root, .rng = seed ^ (0x51ed2701u * (uint64_t)(id + 1)) };
	w.files = calloc(MAXLIVE + 1, sizeof(*w.files));
	w.buf = malloc(MAXSIZE + 8);
	if (!w.files || !w.buf)
		return sys_fail("malloc", "");
	char top[16];
	snprintf(top, sizeof(top), "w%d", id);
	if (mkdirat(root, top, 0755) < 0)
		return sys_fail("mkdir (must not exist yet)", top);
	int rc = 0;
	while (rc == 0 && now() < deadline) {
		unsigned r = (unsigned)(splitmix(&w.rng) % 100);
		if (w.nfiles >= MAXLIVE)
			rc = w_delete_at(&w, splitmix(&w.rng) % w.nfiles);
		else if (w.nfiles < 8 || r < 60)
			rc = w_create(&w);
		else if (r < 76)
			rc = w_rename(&w);
		else if (r < 88)
			rc = w_delete_at(&w, splitmix(&w.rng) % w.nfiles);
		else if (r < 94) {
			if (w.ndirs < MAXDIRS)
				rc = w_mkdir(&w);
		} else if (w.ndirs)
			rc = w_rmdir(&w);
	}
	if (write_manifest(&w) < 0)
		rc = -1;
	return rc;
}

static void reader(int root, double deadline)
{
	while (now() < deadline) {
		int fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			report("reader: open .: %s", strerror(errno));
			return;
		}
		walk(fd, "", 0);
		st->walks++;
		/* let the writers have the (single, slow) CPU for a while */
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

static int verify_all(const char *dir, struct stats *s)
{
	st = s;
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		report("%s: %s", dir, strerror(errno));
		return -1;
	}
	double t0 = now();
	if (!content_only)
		load_manifests(root);
	walk(root, "", 1);	/* closes root */
	size_t missing = 0;
	for (size_t i = 0; i < nman; i++)
		if (!man[i].seen) {
			report("%s: in a manifest but missing", man[i].path);
			missing++;
		}
	double dt = now() - t0;
	printf("fsstress: verify %s: %" PRIu64 " files verified (%.1f MiB, %.2f MiB/s),",
	       dir, s->verified, mib(s->bytes_read), mib(s->bytes_read) / (dt > 0 ? dt : 1));
	if (content_only)
		printf(" contents only, %" PRIu64 " temporary files, %" PRIu64 " errors\n",
		       tmp_left, s->errors);
	else
		printf(" %zu in manifests, %zu missing, %" PRIu64 " errors\n", nman, missing,
		       s->errors);
	return s->errors ? -1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fsstress DIR SECONDS [SEED] | fsstress verify DIR\n"
			"       fsstress verify-content DIR\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* slots: writers, reader, final verify */
	struct stats *all = mmap(NULL, sizeof(struct stats) * (NWRITERS + 2),
				 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (all == MAP_FAILED) {
		perror("fsstress: mmap");
		return 1;
	}
	memset(all, 0, sizeof(struct stats) * (NWRITERS + 2));
	st = &all[NWRITERS + 1];
	content_only = argc == 3 && !strcmp(argv[1], "verify-content");
	if (argc == 3 && (content_only || !strcmp(argv[1], "verify"))) {
		int r = verify_all(argv[2], &all[NWRITERS + 1]);
		printf("fsstress: %s\n", r ? "FAILED" : "OK");
		return r ? 1 : 0;
	}
	if (argc < 3 || argc > 4)
		return usage();
	char *end;
	long secs = strtol(argv[2], &end, 10);
	if (*end || secs < 1 || secs > 86400)
		return usage();
	uint64_t seed = argc == 4 ? strtoull(argv[3], NULL, 0)
				  : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	const char *dir = argv[1];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "fsstress: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		fprintf(stderr, "fsstress: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("fsstress: seed %" PRIu64 ", %d writers + 1 reader on %s for %ld s\n", seed,
	       NWRITERS, dir, secs);
	fflush(stdout);
	double t0 = now(), deadline = t0 + (double)secs;
	pid_t pids[NWRITERS + 1];
	for (int i = 0; i <= NWRITERS; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fsstress: fork");
			return 1;
		}
		if (pids[i] == 0) {
			/* no stray writers once the run is killed */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			st = &all[i];
			if (i < NWRITERS)
				_exit(writer(i, root, seed, deadline) ? 1 : 0);
			reader(root, deadline);
			_exit(0);
		}
	}
	int bad = 0;
	for (int i = 0; i <= NWRITERS; i++) {
		int ws;
		while (waitpid(pids[i], &ws, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
			fprintf(stderr, "fsstress: %s %d %s %d\n", i < NWRITERS ? "writer" : "reader",
				i, WIFEXITED(ws) ? "exited" : "killed by signal",
				WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
			bad++;
		}
	}
	double dt = now() - t0;
	close(root);
	struct stats w = { 0 };
	for (int i = 0; i < NWRITERS; i++) {
		w.created += all[i].created;
		w.renamed += all[i].renamed;
		w.deleted += all[i].deleted;
		w.mkdirs += all[i].mkdirs;
		w.rmdirs += all[i].rmdirs;
		w.fsyncs += all[i].fsyncs;
		w.bytes_written += all[i].bytes_written;
		w.errors += all[i].errors;
	}
	uint64_t ops = w.created + w.renamed + w.deleted + w.mkdirs + w.rmdirs;
	struct stats *r = &all[NWRITERS];
	printf("fsstress: writers: %" PRIu64 " files created (%.1f files/s), %.2f MiB written"
	       " (%.3f MiB/s), %" PRIu64 " renamed, %" PRIu64 " deleted, %" PRIu64 " mkdir, %" PRIu64
	       " rmdir, %" PRIu64 " fsyncs; %" PRIu64 " ops (%.1f ops/s) in %.1f s; %" PRIu64
	       " errors\n",
	       w.created, (double)w.created / dt, mib(w.bytes_written), mib(w.bytes_written) / dt,
	       w.renamed, w.deleted, w.mkdirs, w.rmdirs, w.fsyncs, ops, (double)ops / dt, dt,
	       w.errors);
	printf("fsstress: reader: %" PRIu64 " walks, %" PRIu64 " files verified (%.2f MiB),"
	       " %" PRIu64 " vanished while open, %" PRIu64 " errors\n",
	       r->walks, r->verified, mib(r->bytes_read), r->vanished, r->errors);
	int v = verify_all(dir, &all[NWRITERS + 1]);
	int failed = bad || w.errors || r->errors || v;
	printf("fsstress: %s\n", failed ? "FAILED" : "OK");
	return failed ? 1 : 0;
}
