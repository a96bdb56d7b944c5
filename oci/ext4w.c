/* Pass 2 of the base image: the surviving entries of each layer (merge.c)
 * written straight into an empty ext4 file system with libext2fs, from
 * the layer streams. No host directory in between: nothing is extracted
 * on the host, so the host file system's metadata costs nothing, and
 * owners, modes, xattrs and device nodes are written as the tar headers
 * say whether or not msbvm runs as root. The calls follow e2fsprogs'
 * misc/create_inode.c (what mke2fs -d does). */
#include "oci_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

struct ew {
	ext2_filsys fs;
	const char *lname;
	struct oci_err *e;
};

static int ew_fail(struct ew *w, errcode_t err, const char *rel, const char *what)
{
	return oci_errf(w->e, EIO, "%s: entry '%.300s': %s: %s", w->lname, rel,
			what, error_message(err));
}

static int ew_ftype(mode_t type)
{
	switch (type) {
	case AE_IFREG: return EXT2_FT_REG_FILE;
	case AE_IFDIR: return EXT2_FT_DIR;
	case AE_IFLNK: return EXT2_FT_SYMLINK;
	case AE_IFCHR: return EXT2_FT_CHRDEV;
	case AE_IFBLK: return EXT2_FT_BLKDEV;
	case AE_IFIFO: return EXT2_FT_FIFO;
	case AE_IFSOCK: return EXT2_FT_SOCK;
	}
	return EXT2_FT_UNKNOWN;
}

/* ext2fs_link, growing the directory when its blocks are full */
static errcode_t ew_link(ext2_filsys fs, ext2_ino_t dir, const char *name,
			 ext2_ino_t ino, int ftype)
{
	errcode_t err = ext2fs_link(fs, dir, name, ino, ftype);

	if (err == EXT2_ET_DIR_NO_SPACE && !(err = ext2fs_expand_dir(fs, dir)))
		err = ext2fs_link(fs, dir, name, ino, ftype);
	return err;
}

static errcode_t ew_mkdir(ext2_filsys fs, ext2_ino_t dir, const char *name)
{
	errcode_t err = ext2fs_mkdir(fs, dir, 0, name);

	if (err == EXT2_ET_DIR_NO_SPACE && !(err = ext2fs_expand_dir(fs, dir)))
		err = ext2fs_mkdir(fs, dir, 0, name);
	return err;
}

/* the directory REL's parent, made (0755 root) where a layer implied it */
static int ew_parent(struct ew *w, const char *rel, ext2_ino_t *out,
		     const char **base)
{
	ext2_ino_t dir = EXT2_ROOT_INO, ino;
	const char *p = rel, *slash;
	char name[256];
	errcode_t err;

	while ((slash = strchr(p, '/'))) {
		if ((size_t)(slash - p) >= sizeof(name))
			return oci_errf(w->e, ENAMETOOLONG, "%s: '%.300s': name "
					"too long", w->lname, rel);
		snprintf(name, sizeof(name), "%.*s", (int)(slash - p), p);
		err = ext2fs_lookup(w->fs, dir, name, strlen(name), NULL, &ino);
		if (err == EXT2_ET_FILE_NOT_FOUND) {
			if ((err = ew_mkdir(w->fs, dir, name)) ||
			    (err = ext2fs_lookup(w->fs, dir, name, strlen(name),
						 NULL, &ino)))
				return ew_fail(w, err, rel, "making its parent");
		} else if (err) {
			return ew_fail(w, err, rel, "looking up its parent");
		}
		dir = ino;
		p = slash + 1;
	}
	*out = dir;
	*base = p;
	return 0;
}

/* owner, mode, times from the header (uid/gid high halves: ext4 has 32
 * bits; nanoseconds in the large inode's *_extra, nsec << 2) */
static errcode_t ew_attrs(ext2_filsys fs, ext2_ino_t ino,
			  struct archive_entry *ent)
{
	struct ext2_inode_large in;
	struct ext2_inode *i = (struct ext2_inode *)&in;
	unsigned long uid = (unsigned long)archive_entry_uid(ent);
	unsigned long gid = (unsigned long)archive_entry_gid(ent);
	__u32 ns = (__u32)archive_entry_mtime_nsec(ent);
	errcode_t err;

	memset(&in, 0, sizeof(in));
	if ((err = ext2fs_read_inode_full(fs, ino, i, sizeof(in))))
		return err;
	in.i_mode = (__u16)((in.i_mode & S_IFMT) | (archive_entry_mode(ent) & 07777));
	in.i_uid = (__u16)uid;
	ext2fs_set_i_uid_high(in, uid >> 16);
	in.i_gid = (__u16)gid;
	ext2fs_set_i_gid_high(in, gid >> 16);
	in.i_atime = in.i_ctime = in.i_mtime = (__u32)archive_entry_mtime(ent);
	if (EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	    in.i_extra_isize >= offsetof(struct ext2_inode_large, i_crtime) -
				EXT2_GOOD_OLD_INODE_SIZE)
		in.i_atime_extra = in.i_ctime_extra = in.i_mtime_extra = ns << 2;
	return ext2fs_write_inode_full(fs, ino, i, sizeof(in));
}

static errcode_t ew_xattrs(ext2_filsys fs, ext2_ino_t ino,
			   struct archive_entry *ent)
{
	struct ext2_xattr_handle *h;
	const char *name;
	const void *val;
	size_t len;
	errcode_t err, err2;

	if (!archive_entry_xattr_reset(ent))
		return 0;
	if ((err = ext2fs_xattrs_open(fs, ino, &h)))
		return err == EXT2_ET_MISSING_EA_FEATURE ? 0 : err;
	if (!(err = ext2fs_xattrs_read(h)))
		while (!err && archive_entry_xattr_next(ent, &name, &val, &len) ==
		       ARCHIVE_OK)
			err = ext2fs_xattr_set(h, name, val, len);
	err2 = ext2fs_xattrs_close(&h);
	return err ? err : err2;
}

/* a fresh inode of MODE linked as DIR/NAME (regular files, devices) */
static errcode_t ew_new(ext2_filsys fs, ext2_ino_t dir, const char *name,
			mode_t mode, dev_t rdev, ext2_ino_t *out)
{
	struct ext2_inode in;
	ext2_ino_t ino;
	errcode_t err;

	if ((err = ext2fs_new_inode(fs, dir, (int)mode, 0, &ino)) ||
	    (err = ew_link(fs, dir, name, ino, ew_ftype(mode & S_IFMT))))
		return err;
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	memset(&in, 0, sizeof(in));
	in.i_mode = (__u16)mode;
	in.i_links_count = 1;
	if (S_ISCHR(mode) || S_ISBLK(mode)) {
		unsigned long ma = major(rdev), mi = minor(rdev);
		if (ma < 256 && mi < 256)
			in.i_block[0] = (__u32)(ma * 256 + mi);
		else
			in.i_block[1] = (__u32)((mi & 0xff) | (ma << 8) |
						((mi & ~0xffUL) << 12));
	}
	if (S_ISREG(mode) && ext2fs_has_feature_extents(fs->super))
		in.i_flags |= EXT4_EXTENTS_FL;
	if ((err = ext2fs_write_new_inode(fs, ino, &in)))
		return err;
	if (in.i_flags & EXT4_EXTENTS_FL) {
		ext2_extent_handle_t h; /* writes the empty extent header */
		if ((err = ext2fs_extent_open2(fs, ino, &in, &h)))
			return err;
		ext2fs_extent_free(h);
	}
	*out = ino;
	return 0;
}

/* the entry's data, holes and all, from the tar stream */
static int ew_data(struct ew *w, struct archive *a, ext2_ino_t ino,
		   const char *rel, __u64 size)
{
	ext2_file_t f;
	const void *buf;
	size_t n;
	la_int64_t off;
	unsigned int wrote;
	errcode_t err;
	int r;

	if ((err = ext2fs_file_open(w->fs, ino, EXT2_FILE_WRITE, &f)))
		return ew_fail(w, err, rel, "opening");
	while ((r = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK) {
		if ((err = ext2fs_file_llseek(f, (__u64)off, EXT2_SEEK_SET, NULL)))
			break;
		while (n && !(err = ext2fs_file_write(f, buf, (unsigned)n, &wrote))) {
			buf = (const char *)buf + wrote;
			n -= wrote;
		}
		if (err)
			break;
	}
	/* the size from the header: a trailing hole counts too */
	if (!err)
		err = ext2fs_file_set_size2(f, size);
	ext2fs_file_close(f);
	if (err)
		return ew_fail(w, err, rel, "writing");
	if (r != ARCHIVE_EOF)
		return oci_errf(w->e, EIO, "%s: entry '%.300s': %s", w->lname, rel,
				archive_error_string(a));
	return 0;
}

static int ew_dir(struct ew *w, ext2_ino_t dir, const char *name,
		  const char *rel, ext2_ino_t *ino)
{
	errcode_t err = ext2fs_lookup(w->fs, dir, name, strlen(name), NULL, ino);

	/* made earlier as an implied parent: now it gets its attributes */
	if (err == EXT2_ET_FILE_NOT_FOUND &&
	    !(err = ew_mkdir(w->fs, dir, name)))
		err = ext2fs_lookup(w->fs, dir, name, strlen(name), NULL, ino);
	return err ? ew_fail(w, err, rel, "making the directory") : 0;
}

static int ew_symlink(struct ew *w, ext2_ino_t dir, const char *name,
		      const char *rel, const char *target, ext2_ino_t *ino)
{
	errcode_t err = ext2fs_symlink(w->fs, dir, 0, name, target);

	if (err == EXT2_ET_DIR_NO_SPACE && !(err = ext2fs_expand_dir(w->fs, dir)))
		err = ext2fs_symlink(w->fs, dir, 0, name, target);
	if (!err)
		err = ext2fs_lookup(w->fs, dir, name, strlen(name), NULL, ino);
	return err ? ew_fail(w, err, rel, "making the symlink") : 0;
}

/* a hard link to an entry written before (tar links point backwards) */
static int ew_hardlink(struct ew *w, ext2_ino_t dir, const char *name,
		       const char *rel, const char *hl)
{
	char t[PATH_MAX];
	struct ext2_inode in;
	ext2_ino_t ino;
	errcode_t err;

	snprintf(t, sizeof(t), "%s", hl);
	oci_path_clean(t);
	err = ext2fs_namei(w->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, t, &ino);
	if (err)
		return oci_errf(w->e, ENOENT, "%s: hard link '%.300s' -> '%.300s':"
				" no such file in the image", w->lname, rel, t);
	if ((err = ext2fs_read_inode(w->fs, ino, &in)))
		return ew_fail(w, err, rel, "reading the link target");
	if (LINUX_S_ISDIR(in.i_mode))
		return oci_errf(w->e, EPERM, "%s: hard link '%.300s' to a "
				"directory", w->lname, rel);
	if ((err = ew_link(w->fs, dir, name, ino, ew_ftype(in.i_mode & S_IFMT))))
		return ew_fail(w, err, rel, "linking");
	in.i_links_count++;
	return (err = ext2fs_write_inode(w->fs, ino, &in)) ?
	       ew_fail(w, err, rel, "linking") : 0;
}

static int ew_entry(struct ew *w, struct archive *a, struct archive_entry *ent,
		    const char *rel)
{
	mode_t type = archive_entry_filetype(ent);
	const char *hl = archive_entry_hardlink(ent), *name = NULL;
	ext2_ino_t dir = 0, ino = 0;
	errcode_t err;
	int rc;

	if ((rc = ew_parent(w, rel, &dir, &name)) < 0)
		return rc;
	if (hl)
		return ew_hardlink(w, dir, name, rel, hl);
	if (type == AE_IFDIR)
		rc = ew_dir(w, dir, name, rel, &ino);
	else if (type == AE_IFLNK)
		rc = ew_symlink(w, dir, name, rel, archive_entry_symlink(ent), &ino);
	else if ((err = ew_new(w->fs, dir, name, type | 0600,
			       archive_entry_rdev(ent), &ino)))
		rc = ew_fail(w, err, rel, "creating");
	else if (type == AE_IFREG)
		rc = ew_data(w, a, ino, rel, (__u64)archive_entry_size(ent));
	if (rc < 0)
		return rc;
	if ((err = ew_attrs(w->fs, ino, ent)) || (err = ew_xattrs(w->fs, ino, ent)))
		return ew_fail(w, err, rel, "setting owner, mode or xattrs");
	return 0;
}

/* the survivors of one layer: map[path] names this layer and ordinal */
static int ew_layer(struct ew *w, const char *blob, long layer, json_t *map)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	char rel[PATH_MAX];
	long ord = 0;
	int rc = 0, r;

	if (!a)
		return oci_errf(w->e, ENOMEM, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK)
		rc = oci_errf(w->e, EIO, "%s: %s", w->lname, archive_error_string(a));
	while (!rc && (r = archive_read_next_header(a, &ent)) != ARCHIVE_EOF) {
		json_t *v;

		if (r < ARCHIVE_WARN) {
			rc = oci_errf(w->e, EBADMSG, "%s: not a valid tar: %s",
				      w->lname, archive_error_string(a));
			break;
		}
		snprintf(rel, sizeof(rel), "%s", archive_entry_pathname(ent));
		oci_path_clean(rel);
		v = json_object_get(map, rel);
		if (v && json_integer_value(json_array_get(v, 0)) == layer &&
		    json_integer_value(json_array_get(v, 1)) == ord)
			rc = ew_entry(w, a, ent, rel);
		ord++;
	}
	archive_read_free(a);
	return rc;
}

int oci_ext4_write(const char *img, const char *const *blobs,
		   const char *const *names, unsigned n, json_t *map,
		   struct oci_err *e)
{
	struct ew w = { .e = e };
	errcode_t err;
	int rc = 0;

	err = ext2fs_open2(img, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
			   unix_io_manager, &w.fs);
	if (err)
		return oci_errf(e, EIO, "%s: %s", img, error_message(err));
	if ((err = ext2fs_read_bitmaps(w.fs)))
		rc = oci_errf(e, EIO, "%s: %s", img, error_message(err));
	for (unsigned i = 0; !rc && i < n; i++) {
		w.lname = names[i];
		rc = ew_layer(&w, blobs[i], (long)i, map);
	}
	err = ext2fs_close_free(&w.fs);
	if (!rc && err)
		rc = oci_errf(e, EIO, "%s: %s", img, error_message(err));
	return rc;
}
