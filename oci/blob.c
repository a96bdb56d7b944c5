/* Blob downloads (OCI distribution spec, "Pulling blobs"): several at once
 * on one curl multi handle; each streams into tmp/ while SHA-256 runs over
 * the same bytes, and only a blob whose size and digest match is fsync'd
 * and renamed into blobs/sha256/ (so an interrupted pull never leaves a
 * blob that looks complete, and a wrong byte never gets in). */
#include "oci_store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOB_PARALLEL 4

struct blob_job {
	const struct oci_desc *d;
	const char *name;
	CURL *cu;
	struct curl_slist *hl;
	EVP_MD_CTX *md;
	int fd;
	uint64_t got;
	bool too_long, io_err, done;
	char tmp[PATH_MAX];
};

static size_t blob_write(char *p, size_t sz, size_t n, void *opaque)
{
	struct blob_job *j = opaque;
	size_t k = sz * n, off = 0;
	ssize_t w;

	/* more than the descriptor's size is already wrong: stop reading */
	if (j->got + k > j->d->size) {
		j->too_long = true;
		return 0;
	}
	EVP_DigestUpdate(j->md, p, k);
	while (off < k) {
		if ((w = write(j->fd, p + off, k - off)) < 0) {
			if (errno == EINTR)
				continue;
			j->io_err = true;
			return 0;
		}
		off += (size_t)w;
	}
	j->got += k;
	return k;
}

/* On a terminal: one line per layer, redrawn in place (docker pull's
 * display), and a total; otherwise a line when a blob is done. */
struct blob_tty {
	bool on;
	unsigned lines;
	struct timespec last;
};

static void blob_tty_draw(struct oci_client *c, struct blob_tty *t,
			  const struct blob_job *jobs, unsigned n, bool force)
{
	uint64_t got = 0, all = 0;
	struct timespec now;
	unsigned k = 0;
	int fd = c->o->progress_fd;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - t->last.tv_sec) * 1000 +
	    (now.tv_nsec - t->last.tv_nsec) / 1000000 < 100)
		return;
	t->last = now;
	if (t->lines)
		dprintf(fd, "\033[%uA", t->lines);
	for (unsigned i = 0; i < n; i++) {
		const struct blob_job *j = &jobs[i];
		if (!j->d)
			continue;
		got += j->got;
		all += j->d->size;
		dprintf(fd, "\r\033[K%.19s: %s %.1f/%.1f MB\n", j->d->digest + 7,
			j->done ? "Download complete" : j->cu ? "Downloading" :
			"Waiting", (double)j->got / 1e6, (double)j->d->size / 1e6);
		k++;
	}
	dprintf(fd, "\r\033[Ktotal: %.1f/%.1f MB\n", (double)got / 1e6,
		(double)all / 1e6);
	t->lines = k + 1;
}

static void blob_progress(struct oci_client *c, const struct blob_job *j,
			  const char *what)
{
	if (c->o->progress_fd >= 0 && !(c->o->progress_fd_tty && *what == 'd'))
		dprintf(c->o->progress_fd, "%.19s: %s (%.1f MB)\n",
			j->d->digest + 7, what, (double)j->d->size / 1e6);
}

static int blob_start(struct oci_client *c, struct oci_store *s, CURLM *m,
		      struct blob_job *j, struct oci_err *e)
{
	char url[700];

	snprintf(j->tmp, sizeof(j->tmp), "%s/tmp/%s.%d.partial", s->root,
		 j->d->digest + 7, (int)getpid());
	j->fd = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return oci_errf(e, errno, "%s: %s", j->tmp, strerror(errno));
	if (!(j->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(j->md, EVP_sha256(), NULL) ||
	    !(j->cu = curl_easy_init()))
		return oci_errf(e, ENOMEM, "out of memory");
	snprintf(url, sizeof(url), "%s/blobs/%s", c->base, j->d->digest);
	oci_client_setup(c, j->cu, &j->hl);
	curl_easy_setopt(j->cu, CURLOPT_URL, url);
	curl_easy_setopt(j->cu, CURLOPT_HTTPHEADER, j->hl);
	curl_easy_setopt(j->cu, CURLOPT_WRITEFUNCTION, blob_write);
	curl_easy_setopt(j->cu, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->cu, CURLOPT_PRIVATE, j);
	/* the body of an error status is not the blob */
	curl_easy_setopt(j->cu, CURLOPT_FAILONERROR, 1L);
	curl_multi_add_handle(m, j->cu);
	return 0;
}

static void blob_end(CURLM *m, struct blob_job *j, bool keep_tmp)
{
	if (j->cu) {
		curl_multi_remove_handle(m, j->cu);
		curl_easy_cleanup(j->cu);
	}
	curl_slist_free_all(j->hl);
	EVP_MD_CTX_free(j->md);
	if (j->fd >= 0)
		close(j->fd);
	if (!keep_tmp && j->tmp[0])
		unlink(j->tmp);
	j->cu = NULL;
	j->hl = NULL;
	j->md = NULL;
	j->fd = -1;
	j->tmp[0] = 0;
}

/* A finished transfer: check, commit. */
static int blob_done(struct oci_client *c, struct oci_store *s,
		     struct blob_job *j, CURLcode cc, struct oci_err *e)
{
	unsigned char md[32];
	char got[OCI_DIGEST_LEN + 1], dst[PATH_MAX];
	unsigned int n = 0;
	long st = 0;

	curl_easy_getinfo(j->cu, CURLINFO_RESPONSE_CODE, &st);
	if (j->too_long)
		return oci_errf(e, EBADMSG, "%s %s: the registry sent more than "
				"the %llu bytes the manifest lists", j->name,
				j->d->digest, (unsigned long long)j->d->size);
	if (cc == CURLE_HTTP_RETURNED_ERROR)
		return oci_client_status_err(c, st, j->name, &(struct oci_buf){ 0 }, e);
	if (cc != CURLE_OK || j->io_err)
		return oci_errf(e, EIO, "%s %s: download failed after %llu of "
				"%llu bytes: %s", j->name, j->d->digest,
				(unsigned long long)j->got,
				(unsigned long long)j->d->size,
				j->io_err ? "write error" : curl_easy_strerror(cc));
	if (j->got != j->d->size)
		return oci_errf(e, EIO, "%s %s: got %llu of %llu bytes", j->name,
				j->d->digest, (unsigned long long)j->got,
				(unsigned long long)j->d->size);
	EVP_DigestFinal_ex(j->md, md, &n);
	strcpy(got, "sha256:");
	for (unsigned i = 0; i < 32; i++)
		sprintf(got + 7 + 2 * i, "%02x", md[i]);
	if (strcmp(got, j->d->digest))
		return oci_errf(e, EBADMSG, "%s %s: digest mismatch: the bytes "
				"have %s", j->name, j->d->digest, got);
	oci_store_blob_path(s, j->d->digest, dst, sizeof(dst));
	if (oci_store_commit(j->tmp, j->fd, dst, e) < 0)
		return -EIO;
	j->tmp[0] = 0;
	j->done = true;
	blob_progress(c, j, "downloaded");
	return 0;
}

static int blob_run(struct oci_client *c, struct oci_store *s, CURLM *m,
		    struct blob_job *jobs, unsigned n, bool *added,
		    struct oci_err *e)
{
	struct blob_tty tty = { .on = c->o->progress_fd >= 0 && c->o->progress_fd_tty };
	unsigned next = 0, active = 0;
	int rc = 0, running, left;
	CURLMsg *msg;

	while (!rc && (next < n || active)) {
		while (next < n && active < BLOB_PARALLEL) {
			if (!jobs[next].d) {
				next++;
				continue;
			}
			if ((rc = blob_start(c, s, m, &jobs[next++], e)) < 0)
				return rc;
			active++;
		}
		if (!active)
			break;
		curl_multi_perform(m, &running);
		while (!rc && (msg = curl_multi_info_read(m, &left))) {
			struct blob_job *j;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			rc = blob_done(c, s, j, msg->data.result, e);
			if (!rc)
				added[j - jobs] = true;
			blob_end(m, j, false);
			active--;
		}
		if (tty.on)
			blob_tty_draw(c, &tty, jobs, n, false);
		if (!rc && active)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	if (tty.on && tty.lines)
		blob_tty_draw(c, &tty, jobs, n, true);
	return rc;
}

int oci_fetch_blobs(struct oci_client *c, struct oci_store *s,
		    const struct oci_desc *d, unsigned n, const char *const *names,
		    bool *added, struct oci_err *e)
{
	struct blob_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	CURLM *m = curl_multi_init();
	int rc;

	if (!jobs || !m) {
		free(jobs);
		if (m)
			curl_multi_cleanup(m);
		return oci_errf(e, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < n; i++) {
		jobs[i].fd = -1;
		jobs[i].name = names[i];
		added[i] = false;
		if (oci_store_has_blob(s, d[i].digest, d[i].size)) {
			jobs[i].d = &d[i];
			blob_progress(c, &jobs[i], "already exists");
			jobs[i].d = NULL;
		} else {
			jobs[i].d = &d[i];
		}
	}
	rc = blob_run(c, s, m, jobs, n, added, e);
	for (unsigned i = 0; i < n; i++)
		blob_end(m, &jobs[i], false);
	curl_multi_cleanup(m);
	free(jobs);
	return rc;
}
