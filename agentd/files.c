/* File requests: PUT (then DATA frames up to one with EOF), GET and LIST
 * (streamed as DATA frames while the connection has room), STAT, MKDIR,
 * REMOVE. Paths are the guest's own; the agent runs as root. */
#include "agentd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool files_mode(const uint8_t *d, size_t len, mode_t def, mode_t *m)
{
	const char *s = kv_get(d, len, "mode");
	char *end;
	unsigned long v;

	*m = def;
	if (!s)
		return true;
	v = strtoul(s, &end, 8);
	if (!*s || *end || v > 07777)
		return false;
	*m = (mode_t)v;
	return true;
}

static bool files_fail(struct aconn *c, uint32_t id, const char *path, int e)
{
	return agent_reply_error(c, id, agent_errno_kind(e), "%s: %s", path,
				 strerror(e));
}

static void files_not_regular(struct aconn *c, uint32_t id, const char *path,
			      mode_t m)
{
	if (S_ISDIR(m))
		files_fail(c, id, path, EISDIR);
	else
		agent_reply_error(c, id, "not_regular", "not a regular file: %s",
				  path);
}

/* GET and PUT move bytes of regular files only: the agent is one thread,
 * and open() of a FIFO waits for a peer, a read from a tty or a pipe may
 * never end. Checked before the open (opening some devices acts: a tape
 * rewinds, a watchdog arms) and again on the opened fd (the path may have
 * changed in between). Symlinks are followed, as cp does. O_NONBLOCK
 * makes that open return even for a FIFO; ENXIO is a FIFO without a
 * reader (or a device without a driver). Returns the fd, or -1 replied. */
static int files_open(struct aconn *c, uint32_t id, const char *path,
		      int flags, mode_t mode)
{
	struct stat st;
	int fd, e;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		files_not_regular(c, id, path, st.st_mode);
		return -1;
	}
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == ENXIO)
			files_not_regular(c, id, path, S_IFIFO);
		else
			files_fail(c, id, path, errno);
		return -1;
	}
	e = fstat(fd, &st) < 0 ? errno : 0;
	if (e || !S_ISREG(st.st_mode)) {
		if (e)
			files_fail(c, id, path, e);
		else
			files_not_regular(c, id, path, st.st_mode);
		close(fd);
		return -1;
	}
	/* some file systems (FUSE, network ones) honour O_NONBLOCK on regular
	 * files too, and the transfer loops take EAGAIN for an error */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static void files_stat(struct aconn *c, uint32_t id, const char *path)
{
	static struct kvbuf kv;
	struct stat st;

	if (lstat(path, &st) < 0) {
		files_fail(c, id, path, errno);
		return;
	}
	kv_init(&kv);
	kv_add(&kv, "type", S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" :
	       S_ISLNK(st.st_mode) ? "link" : "other");
	kv_addf(&kv, "size", "%lld", (long long)st.st_size);
	kv_addf(&kv, "mode", "%o", (unsigned)(st.st_mode & 07777));
	kv_addf(&kv, "uid", "%u", (unsigned)st.st_uid);
	kv_addf(&kv, "gid", "%u", (unsigned)st.st_gid);
	kv_addf(&kv, "mtime", "%lld", (long long)st.st_mtime);
	pconn_send(&c->pc, P_OK, 0, id, kv.buf, kv.len);
}

static int files_rm_one(const char *p, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 ? -1 : 0;
}

static int files_mkdir(const char *path, mode_t mode, bool parents)
{
	char buf[4096];

	if (!parents)
		return mkdir(path, mode) < 0 ? errno : 0;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? errno : 0;
}

void files_request(struct aconn *c, const struct proto_frame *f)
{
	const char *path = kv_get(f->data, f->len, "path");
	const char *flag;
	mode_t mode;
	int e = 0;

	if (!path || path[0] != '/') {
		agent_reply_error(c, f->id, "bad_request", "%s needs an absolute "
				  "path=", proto_type_name(f->type));
		return;
	}
	switch (f->type) {
	case P_STAT:
		files_stat(c, f->id, path);
		return;
	case P_MKDIR:
		flag = kv_get(f->data, f->len, "parents");
		if (!files_mode(f->data, f->len, 0755, &mode))
			break;
		e = files_mkdir(path, mode, flag && !strcmp(flag, "1"));
		goto done;
	case P_REMOVE:
		flag = kv_get(f->data, f->len, "recursive");
		if (flag && !strcmp(flag, "1"))
			e = nftw(path, files_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? errno : 0;
		else
			e = remove(path) < 0 ? errno : 0;
		goto done;
	case P_PUT:
		if (!files_mode(f->data, f->len, 0644, &mode))
			break;
		c->file_fd = files_open(c, f->id, path, O_WRONLY | O_CREAT | O_TRUNC,
					mode);
		if (c->file_fd < 0)
			return;
		c->op = OP_PUT;
		c->op_id = f->id;
		return;
	case P_GET:
		c->file_fd = files_open(c, f->id, path, O_RDONLY, 0);
		if (c->file_fd < 0)
			return;
		c->op = OP_GET;
		c->op_id = f->id;
		return;
	case P_LIST:
		if (!(c->dir = opendir(path))) {
			files_fail(c, f->id, path, errno);
			return;
		}
		c->op = OP_LIST;
		c->op_id = f->id;
		return;
	}
	if (f->type == P_MKDIR || f->type == P_PUT) {
		agent_reply_error(c, f->id, "bad_request", "mode= must be octal <= 07777");
		return;
	}
done:
	if (e)
		files_fail(c, f->id, path, e);
	else
		pconn_send(&c->pc, P_OK, 0, f->id, NULL, 0);
}

/* DATA frames of a PUT; an error ends the PUT at once (later DATA frames
 * of the same id are then refused as a request on an idle connection). */
void files_frame(struct aconn *c, const struct proto_frame *f)
{
	if (f->type != P_DATA || f->id != c->op_id) {
		agent_reply_error(c, f->id, "busy", "a PUT is in progress");
		return;
	}
	for (size_t off = 0; off < f->len;) {
		ssize_t n = write(c->file_fd, f->data + off, f->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			files_release(c);
			agent_reply_error(c, f->id, agent_errno_kind(e), "write: %s",
					  strerror(e));
			return;
		}
		off += (size_t)n;
	}
	if (f->flags & P_FLAG_EOF) {
		int e = fsync(c->file_fd) < 0 ? errno : 0;
		files_release(c);
		if (e)
			agent_reply_error(c, f->id, "io", "fsync: %s", strerror(e));
		else
			pconn_send(&c->pc, P_OK, 0, f->id, NULL, 0);
	}
}

static void files_list_pump(struct aconn *c)
{
	static struct kvbuf kv;
	struct dirent *de;
	struct stat st;
	bool end = false;

	kv_init(&kv);
	while (kv.len < PROTO_MAX_PAYLOAD - 600) {
		if (!(de = readdir(c->dir))) {
			end = true;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd((DIR *)c->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		kv_addf(&kv, "entry", "%c %lld %o %s",
			S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' :
			S_ISLNK(st.st_mode) ? 'l' : 'o', (long long)st.st_size,
			(unsigned)(st.st_mode & 07777), de->d_name);
	}
	if (kv.len)
		pconn_send(&c->pc, P_DATA, 0, c->op_id, kv.buf, kv.len);
	if (end) {
		pconn_send(&c->pc, P_OK, 0, c->op_id, NULL, 0);
		files_release(c);
	}
}

void files_pump(struct aconn *c)
{
	static uint8_t buf[PROTO_MAX_PAYLOAD];

	while ((c->op == OP_GET || c->op == OP_LIST) && pconn_can_send(&c->pc)) {
		if (c->op == OP_LIST) {
			files_list_pump(c);
			continue;
		}
		ssize_t n = read(c->file_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			agent_reply_error(c, c->op_id, "io", "read: %s", strerror(errno));
			files_release(c);
		} else {
			pconn_send(&c->pc, P_DATA, n ? 0 : P_FLAG_EOF, c->op_id, buf,
				   (size_t)n);
			if (!n)
				files_release(c);
		}
	}
}

void files_release(struct aconn *c)
{
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	if (c->dir)
		closedir(c->dir);
	c->dir = NULL;
	if (c->op == OP_PUT || c->op == OP_GET || c->op == OP_LIST)
		c->op = OP_NONE;
}
