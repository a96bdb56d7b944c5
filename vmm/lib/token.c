/* The control channel's per-VM token (docs/protocol.md "Authentication").
 * Anyone who can open vsock.sock reaches agentd, which runs commands as
 * root in the guest; the token makes that need a secret too. It is made
 * at create time from getrandom(2), handed to agentd in the boot
 * configuration (never the kernel command line, which every guest user
 * reads in /proc/cmdline), and kept for clients in other processes in
 * the state directory's "token" file: mode 0600, owned by the user, in a
 * directory that is 0700-ish and checked (state.h), opened with the same
 * O_NOFOLLOW helper as every other state file. */
#include "lib.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE "token"

int token_new(char out[PROTO_TOKEN_HEX + 1])
{
	unsigned char raw[PROTO_TOKEN_BYTES];
	size_t got = 0;

	/* getrandom without flags blocks only until the host's CRNG is
	 * seeded once after boot; it never returns weak bytes */
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(errno, "control token: getrandom: %s",
				       strerror(errno));
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

int token_store(const struct vmstate *s, const char *token)
{
	int fd = state_open_file(s, TOKEN_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc = 0;

	if (fd < 0)
		return fd;
	/* O_CREAT's mode is masked by the umask and ignored for a file left
	 * from an earlier run: set it on the open file */
	if (fchmod(fd, 0600) < 0 ||
	    write(fd, token, PROTO_TOKEN_HEX) != PROTO_TOKEN_HEX)
		rc = err_set(errno ? errno : EIO, "%s/%s: %s", s->dir, TOKEN_FILE,
			     strerror(errno ? errno : EIO));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(errno, "%s/%s: %s", s->dir, TOKEN_FILE, strerror(errno));
	return rc;
}

int token_load(const struct vmstate *s, char out[PROTO_TOKEN_HEX + 1])
{
	char buf[PROTO_TOKEN_HEX + 2];
	struct stat st;
	ssize_t n;
	int fd = state_open_file(s, TOKEN_FILE, O_RDONLY | O_NONBLOCK, 0);

	out[0] = '\0';
	if (fd < 0)
		return fd;
	/* checked on the open file: a regular file of ours that nobody else
	 * could have read (or planted) */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		close(fd);
		return err_set(EPERM, "%s/%s: not a regular file of uid %u with mode "
			       "0600: refusing to use it", s->dir, TOKEN_FILE,
			       (unsigned)geteuid());
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (!proto_token_valid(buf)) {
		explicit_bzero(buf, sizeof(buf));
		return err_set(EINVAL, "%s/%s: not a control token", s->dir, TOKEN_FILE);
	}
	memcpy(out, buf, PROTO_TOKEN_HEX + 1);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
