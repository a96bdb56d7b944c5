/* The virtio devices this VMM has, in one explicit table: adding a device
 * is its file (exporting one struct vdev_ops) plus one line here. */
#include "virtio.h"
#include "blk.h"
#include "fs.h"
#include "net.h"
#include "vsock.h"

#include <string.h>

const struct vdev_ops *const vdev_table[] = {
	&vblk_ops,
	&vsock_ops,
	&vnet_ops,
	&vfs_ops,
};

const unsigned vdev_table_len = sizeof(vdev_table) / sizeof(vdev_table[0]);

const struct vdev_ops *vdev_find(const char *name)
{
	if (!name)
		return NULL;
	for (unsigned i = 0; i < vdev_table_len; i++)
		if (!strcmp(vdev_table[i]->name, name))
			return vdev_table[i];
	return NULL;
}
