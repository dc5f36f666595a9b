// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_claim GROUP: try to take IOMMU group GROUP for userspace through
 * the VFIO group/container interface, the way QEMU does, and say whether
 * the kernel let us (used by owner_regress, docs/guest-tests.md).
 *
 * Exit 0: claimed (VFIO_GROUP_SET_CONTAINER succeeded), 1: refused
 * (EPERM/EBUSY: a kernel driver owns DMA in the group), 2: anything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

int main(int argc, char **argv)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	int container, group;

	if (argc != 2) {
		fprintf(stderr, "usage: %s GROUP\n", argv[0]);
		return 2;
	}
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0) {
		printf("open /dev/vfio/vfio: %s\n", strerror(errno));
		return 2;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%s", argv[1]);
	group = open(path, O_RDWR);
	if (group < 0) {
		printf("open %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status)) {
		printf("VFIO_GROUP_GET_STATUS: %s\n", strerror(errno));
		return 2;
	}
	printf("group %s %s; ", argv[1],
	       status.flags & VFIO_GROUP_FLAGS_VIABLE ? "viable" : "not viable");
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0) {
		printf("VFIO_GROUP_SET_CONTAINER: claimed\n");
		close(group);
		close(container);
		return 0;
	}
	printf("VFIO_GROUP_SET_CONTAINER: %s\n", strerror(errno));
	return errno == EPERM || errno == EBUSY ? 1 : 2;
}
