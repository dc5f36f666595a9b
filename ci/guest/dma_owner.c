// SPDX-License-Identifier: GPL-2.0-only
/*
 * DMA ownership of an IOMMU group shared by a kernel driver and userspace.
 *
 * Needs two PCI devices in one IOMMU group that a kernel driver can drive,
 * for instance two QEMU e1000 behind a pcie-pci-bridge.  Device A is given
 * to vfio-pci, device B is moved between "no driver" and its kernel driver.
 * The rules checked, through the VFIO group/container path and through the
 * VFIO device cdev + iommufd path:
 *
 *  - while userspace owns the group, binding a kernel driver to another
 *    device of the group fails with -EBUSY, and works once userspace let go;
 *  - while a kernel driver is bound in the group, userspace cannot claim the
 *    group (-EPERM), and can as soon as that driver is unbound;
 *  - bind/unbind cycles leave the ownership count balanced.
 *
 * Environment: DMA_OWNER_ID ("8086:100e", vendor:device of A and B),
 * DMA_OWNER_DRIVER ("e1000", the kernel driver of B), DMA_OWNER_CYCLES (200).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "kselftest.h"

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define PCI_DRIVERS	"/sys/bus/pci/drivers"
#define IOMMU_GROUPS	"/sys/kernel/iommu_groups"
#define VFIO_PCI	"vfio-pci"
#define TEST_IOVA	0x100000UL

/* Taint bits that mean the kernel hit a WARN, an oops or a bad page. */
#define TAINT_BAD	((1UL << 5) | (1UL << 7) | (1UL << 9))

struct owner_ctx {
	char dev_a[NAME_MAX + 1];
	char dev_b[NAME_MAX + 1];
	char group[NAME_MAX + 1];
	char driver[NAME_MAX + 1];
	unsigned int vendor;
	unsigned int device;
	unsigned int cycles;
	unsigned long tainted;
	void *page;
	long page_size;
};

static struct owner_ctx ctx;

struct legacy_vfio {
	int container;
	int group;
	int device;
};

struct cdev_vfio {
	int iommufd;
	int device;
	__u32 ioas_id;
};

static int write_str(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int ret = 0;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	close(fd);
	return ret;
}

static int read_str(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/* Last path component of the symlink @path, or "" when it does not exist. */
static int link_name(const char *path, char *buf, size_t size)
{
	char target[PATH_MAX];
	const char *base;
	size_t len;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		buf[0] = '\0';
		return errno == ENOENT ? 0 : -errno;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	len = strlen(base);
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, base, len + 1);
	return 0;
}

static void dev_driver(const char *dev, char *buf, size_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", dev);
	if (link_name(path, buf, size))
		buf[0] = '\0';
}

static bool driver_is(const char *dev, const char *drv)
{
	char cur[NAME_MAX + 1];

	dev_driver(dev, cur, sizeof(cur));
	return !strcmp(cur, drv ? drv : "");
}

static int drv_bind(const char *dev, const char *drv)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DRIVERS "/%s/bind", drv);
	return write_str(path, dev);
}

static int drv_unbind(const char *dev)
{
	char path[PATH_MAX];
	char cur[NAME_MAX + 1];

	dev_driver(dev, cur, sizeof(cur));
	if (!cur[0])
		return 0;
	snprintf(path, sizeof(path), PCI_DRIVERS "/%s/unbind", cur);
	return write_str(path, dev);
}

/*
 * Move @dev to driver @drv (NULL: no driver).  vfio-pci is reached through
 * driver_override, a kernel driver by clearing driver_override.
 */
static int move_to(const char *dev, const char *drv)
{
	char path[PATH_MAX];
	int ret;

	if (driver_is(dev, drv))
		return 0;
	ret = drv_unbind(dev);
	if (ret) {
		ksft_print_msg("unbind %s: %s\n", dev, strerror(-ret));
		return ret;
	}
	if (!drv)
		return driver_is(dev, NULL) ? 0 : -EBUSY;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", dev);
	ret = write_str(path, strcmp(drv, VFIO_PCI) ? "\n" : VFIO_PCI);
	if (ret) {
		ksft_print_msg("driver_override %s: %s\n", dev, strerror(-ret));
		return ret;
	}
	ret = drv_bind(dev, drv);
	if (ret) {
		ksft_print_msg("bind %s to %s: %s\n", dev, drv, strerror(-ret));
		return ret;
	}
	if (!driver_is(dev, drv)) {
		ksft_print_msg("%s: bind to %s returned 0 but no driver link\n",
			       dev, drv);
		return -ENOENT;
	}
	return 0;
}

static unsigned long read_tainted(void)
{
	char buf[64];

	if (read_str("/proc/sys/kernel/tainted", buf, sizeof(buf)))
		return 0;
	return strtoul(buf, NULL, 10);
}

/* The kernel survived: no new WARN, oops or bad page since the start. */
static bool kernel_ok(void)
{
	unsigned long now = read_tainted();
	unsigned long fresh = (now & ~ctx.tainted) & TAINT_BAD;

	if (fresh)
		ksft_print_msg("kernel got tainted: 0x%lx -> 0x%lx\n",
			       ctx.tainted, now);
	return !fresh;
}

/* The kernel bind of B must fail with -EBUSY and leave B without driver. */
static bool kernel_bind_refused(void)
{
	int ret = drv_bind(ctx.dev_b, ctx.driver);

	if (ret != -EBUSY) {
		ksft_print_msg("bind %s to %s while userspace owns the group: %s, expected %s\n",
			       ctx.dev_b, ctx.driver,
			       ret ? strerror(-ret) : "success",
			       strerror(EBUSY));
		return false;
	}
	if (!driver_is(ctx.dev_b, NULL)) {
		ksft_print_msg("%s has a driver after the refused bind\n",
			       ctx.dev_b);
		return false;
	}
	ksft_print_msg("bind %s to %s refused: %s\n", ctx.dev_b, ctx.driver,
		       strerror(-ret));
	return kernel_ok();
}

static bool kernel_bind_works(void)
{
	int ret = drv_bind(ctx.dev_b, ctx.driver);

	if (ret) {
		ksft_print_msg("bind %s to %s after release: %s\n",
			       ctx.dev_b, ctx.driver, strerror(-ret));
		return false;
	}
	if (!driver_is(ctx.dev_b, ctx.driver)) {
		ksft_print_msg("%s: no %s driver link after bind\n",
			       ctx.dev_b, ctx.driver);
		return false;
	}
	return kernel_ok();
}

static bool device_fd_alive(int fd)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info)) {
		ksft_perror("VFIO_DEVICE_GET_INFO");
		return false;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		ksft_print_msg("device fd is not a PCI device (flags 0x%x)\n",
			       info.flags);
		return false;
	}
	return true;
}

static bool setup_a_vfio_b_none(void)
{
	return !move_to(ctx.dev_a, VFIO_PCI) && !move_to(ctx.dev_b, NULL);
}

static bool setup_a_vfio_b_kernel(void)
{
	return !move_to(ctx.dev_a, VFIO_PCI) &&
	       !move_to(ctx.dev_b, ctx.driver);
}

static bool have_legacy(void)
{
	return !access("/dev/vfio/vfio", F_OK);
}

static void legacy_close(struct legacy_vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->device = -1;
	v->group = -1;
	v->container = -1;
}

/* Open the container and the group of A; report whether it is viable. */
static int legacy_open(struct legacy_vfio *v, bool *viable)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX];

	v->device = -1;
	v->group = -1;
	v->container = open("/dev/vfio/vfio", O_RDWR);
	if (v->container < 0) {
		ksft_perror("open /dev/vfio/vfio");
		return -errno;
	}
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		ksft_print_msg("container lacks VFIO_TYPE1v2_IOMMU\n");
		legacy_close(v);
		return -EOPNOTSUPP;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%s", ctx.group);
	v->group = open(path, O_RDWR);
	if (v->group < 0) {
		ksft_print_msg("open %s: %s\n", path, strerror(errno));
		legacy_close(v);
		return -ENOENT;
	}
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status)) {
		ksft_perror("VFIO_GROUP_GET_STATUS");
		legacy_close(v);
		return -EIO;
	}
	*viable = status.flags & VFIO_GROUP_FLAGS_VIABLE;
	return 0;
}

/* Claim the group for userspace and map one page for A. */
static int legacy_claim(struct legacy_vfio *v)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (__u64)(unsigned long)ctx.page,
		.iova = TEST_IOVA,
		.size = ctx.page_size,
	};

	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container)) {
		ksft_perror("VFIO_GROUP_SET_CONTAINER");
		return -errno;
	}
	if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		ksft_perror("VFIO_SET_IOMMU");
		return -errno;
	}
	if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &map)) {
		ksft_perror("VFIO_IOMMU_MAP_DMA");
		return -errno;
	}
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, ctx.dev_a);
	if (v->device < 0) {
		ksft_perror("VFIO_GROUP_GET_DEVICE_FD");
		return -errno;
	}
	return device_fd_alive(v->device) ? 0 : -EIO;
}

static bool have_cdev(void)
{
	return !access("/dev/iommu", F_OK) &&
	       !access("/sys/class/vfio-dev", F_OK);
}

static int cdev_name(const char *dev, char *buf, size_t size)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *dir;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vfio-dev", dev);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(buf, size, "%s", de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

static void cdev_close(struct cdev_vfio *c)
{
	if (c->device >= 0)
		close(c->device);
	if (c->iommufd >= 0)
		close(c->iommufd);
	c->device = -1;
	c->iommufd = -1;
}

/* Open /dev/iommu with one IOAS and the vfio cdev of A. */
static int cdev_open(struct cdev_vfio *c)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char name[NAME_MAX + 1];
	char path[PATH_MAX];
	int ret;

	c->device = -1;
	c->iommufd = open("/dev/iommu", O_RDWR);
	if (c->iommufd < 0) {
		ksft_perror("open /dev/iommu");
		return -errno;
	}
	if (ioctl(c->iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		ksft_perror("IOMMU_IOAS_ALLOC");
		cdev_close(c);
		return -EIO;
	}
	c->ioas_id = alloc.out_ioas_id;
	ret = cdev_name(ctx.dev_a, name, sizeof(name));
	if (ret) {
		ksft_print_msg("%s has no vfio-dev cdev: %s\n", ctx.dev_a,
			       strerror(-ret));
		cdev_close(c);
		return ret;
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	c->device = open(path, O_RDWR);
	if (c->device < 0) {
		ksft_print_msg("open %s: %s\n", path, strerror(errno));
		cdev_close(c);
		return -ENOENT;
	}
	return 0;
}

static int cdev_bind(struct cdev_vfio *c)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = c->iommufd,
	};

	return ioctl(c->device, VFIO_DEVICE_BIND_IOMMUFD, &bind) ? -errno : 0;
}

/* Attach A to the IOAS and map one page into it. */
static int cdev_attach(struct cdev_vfio *c)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = c->ioas_id,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = c->ioas_id,
		.user_va = (__u64)(unsigned long)ctx.page,
		.length = ctx.page_size,
		.iova = TEST_IOVA,
	};

	if (ioctl(c->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ksft_perror("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
		return -errno;
	}
	if (ioctl(c->iommufd, IOMMU_IOAS_MAP, &map)) {
		ksft_perror("IOMMU_IOAS_MAP");
		return -errno;
	}
	return device_fd_alive(c->device) ? 0 : -EIO;
}

/* Test 1: A and B are listed in one group in sysfs. */
static bool check_shared_group(void)
{
	char path[PATH_MAX];
	char drv[NAME_MAX + 1];
	struct dirent *de;
	bool ok = true;
	DIR *dir;

	snprintf(path, sizeof(path), IOMMU_GROUPS "/%s/devices", ctx.group);
	dir = opendir(path);
	if (!dir) {
		ksft_perror(path);
		return false;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		dev_driver(de->d_name, drv, sizeof(drv));
		ksft_print_msg("group %s: %s driver=%s\n", ctx.group,
			       de->d_name, drv[0] ? drv : "(none)");
	}
	closedir(dir);

	snprintf(path, sizeof(path), IOMMU_GROUPS "/%s/devices/%s",
		 ctx.group, ctx.dev_a);
	ok &= !access(path, F_OK);
	snprintf(path, sizeof(path), IOMMU_GROUPS "/%s/devices/%s",
		 ctx.group, ctx.dev_b);
	ok &= !access(path, F_OK);
	if (!ok)
		ksft_print_msg("%s and %s not both listed in group %s\n",
			       ctx.dev_a, ctx.dev_b, ctx.group);
	return ok;
}

/* Test 1: driver_override + bind puts A on vfio-pci. */
static bool check_a_to_vfio(void)
{
	char path[PATH_MAX];
	struct stat st;

	if (move_to(ctx.dev_a, VFIO_PCI))
		return false;
	snprintf(path, sizeof(path), "/dev/vfio/%s", ctx.group);
	if (stat(path, &st) || !S_ISCHR(st.st_mode)) {
		ksft_print_msg("%s missing after binding vfio-pci\n", path);
		return false;
	}
	if (!driver_is(ctx.dev_b, ctx.driver)) {
		ksft_print_msg("%s lost its driver when A moved\n", ctx.dev_b);
		return false;
	}
	return kernel_ok();
}

/* Test 2: a userspace container blocks the kernel bind until release. */
static bool check_container_blocks_kernel(void)
{
	struct legacy_vfio v;
	bool viable = false;
	bool ok;

	if (!setup_a_vfio_b_none())
		return false;
	if (legacy_open(&v, &viable))
		return false;
	if (!viable) {
		ksft_print_msg("group %s not viable with %s unbound\n",
			       ctx.group, ctx.dev_b);
		legacy_close(&v);
		return false;
	}
	if (legacy_claim(&v)) {
		legacy_close(&v);
		return false;
	}
	ok = kernel_bind_refused() && device_fd_alive(v.device);
	legacy_close(&v);
	return kernel_bind_works() && ok;
}

/* Test 3: a bound kernel driver blocks the container until unbound. */
static bool check_kernel_blocks_container(void)
{
	struct legacy_vfio v;
	bool viable = true;
	bool ok = true;

	if (!setup_a_vfio_b_kernel())
		return false;
	if (legacy_open(&v, &viable))
		return false;
	if (viable) {
		ksft_print_msg("group %s viable while %s is on %s\n",
			       ctx.group, ctx.dev_b, ctx.driver);
		ok = false;
	}
	if (!ioctl(v.group, VFIO_GROUP_SET_CONTAINER, &v.container)) {
		ksft_print_msg("VFIO_GROUP_SET_CONTAINER succeeded while %s is on %s\n",
			       ctx.dev_b, ctx.driver);
		ok = false;
	} else if (errno != EPERM) {
		ksft_print_msg("VFIO_GROUP_SET_CONTAINER: %s, expected %s\n",
			       strerror(errno), strerror(EPERM));
		ok = false;
	} else {
		ksft_print_msg("VFIO_GROUP_SET_CONTAINER refused: %s\n",
			       strerror(errno));
	}
	if (ioctl(v.group, VFIO_GROUP_GET_DEVICE_FD, ctx.dev_a) >= 0) {
		ksft_print_msg("got a device fd for %s while %s is on %s\n",
			       ctx.dev_a, ctx.dev_b, ctx.driver);
		ok = false;
	}
	legacy_close(&v);
	if (!driver_is(ctx.dev_b, ctx.driver)) {
		ksft_print_msg("%s lost its driver\n", ctx.dev_b);
		ok = false;
	}

	/* Control: with B unbound the same steps must work. */
	if (!ok || move_to(ctx.dev_b, NULL) || legacy_open(&v, &viable))
		return false;
	ok = viable && !legacy_claim(&v);
	if (!ok)
		ksft_print_msg("group %s not usable after unbinding %s\n",
			       ctx.group, ctx.dev_b);
	legacy_close(&v);
	return kernel_bind_works() && ok;
}

/* Test 4: an iommufd-bound vfio cdev blocks the kernel bind until release. */
static bool check_iommufd_blocks_kernel(void)
{
	struct cdev_vfio c;
	bool ok;
	int ret;

	if (!setup_a_vfio_b_none() || cdev_open(&c))
		return false;
	ret = cdev_bind(&c);
	if (ret) {
		ksft_print_msg("VFIO_DEVICE_BIND_IOMMUFD with %s unbound: %s\n",
			       ctx.dev_b, strerror(-ret));
		cdev_close(&c);
		return false;
	}
	if (cdev_attach(&c)) {
		cdev_close(&c);
		return false;
	}
	ok = kernel_bind_refused() && device_fd_alive(c.device);
	cdev_close(&c);
	return kernel_bind_works() && ok;
}

/* Test 4: a bound kernel driver blocks VFIO_DEVICE_BIND_IOMMUFD. */
static bool check_kernel_blocks_iommufd(void)
{
	struct cdev_vfio c;
	bool ok = true;
	int ret;

	if (!setup_a_vfio_b_kernel() || cdev_open(&c))
		return false;
	ret = cdev_bind(&c);
	if (ret != -EPERM) {
		ksft_print_msg("VFIO_DEVICE_BIND_IOMMUFD while %s is on %s: %s, expected %s\n",
			       ctx.dev_b, ctx.driver,
			       ret ? strerror(-ret) : "success",
			       strerror(EPERM));
		ok = false;
	} else {
		ksft_print_msg("VFIO_DEVICE_BIND_IOMMUFD refused: %s\n",
			       strerror(-ret));
	}
	cdev_close(&c);
	if (!driver_is(ctx.dev_b, ctx.driver)) {
		ksft_print_msg("%s lost its driver\n", ctx.dev_b);
		ok = false;
	}

	/* Control: with B unbound the bind and attach must work. */
	if (!ok || move_to(ctx.dev_b, NULL) || cdev_open(&c))
		return false;
	ret = cdev_bind(&c);
	if (ret)
		ksft_print_msg("VFIO_DEVICE_BIND_IOMMUFD with %s unbound: %s\n",
			       ctx.dev_b, strerror(-ret));
	ok = !ret && !cdev_attach(&c);
	cdev_close(&c);
	return kernel_bind_works() && ok;
}

/* Test 5: unbind/bind @dev to @drv ctx.cycles times. */
static bool check_cycles(const char *dev, const char *drv)
{
	unsigned int i;
	int ret;

	if (move_to(dev, drv))
		return false;
	for (i = 0; i < ctx.cycles; i++) {
		ret = drv_unbind(dev);
		if (ret || !driver_is(dev, NULL)) {
			ksft_print_msg("cycle %u: unbind %s: %s\n", i, dev,
				       ret ? strerror(-ret) : "driver link left");
			return false;
		}
		ret = drv_bind(dev, drv);
		if (ret || !driver_is(dev, drv)) {
			ksft_print_msg("cycle %u: bind %s to %s: %s\n", i, dev,
				       drv, ret ? strerror(-ret) : "no link");
			return false;
		}
	}
	return kernel_ok();
}

static bool check_cycles_kernel(void)
{
	return setup_a_vfio_b_kernel() && check_cycles(ctx.dev_b, ctx.driver);
}

static bool check_cycles_vfio(void)
{
	return move_to(ctx.dev_b, NULL) == 0 &&
	       check_cycles(ctx.dev_a, VFIO_PCI);
}

/* Test 5: after the cycles, every rule above still holds. */
static bool check_rules_after_cycles(void)
{
	bool ok = true;

	if (have_legacy()) {
		ok &= check_container_blocks_kernel();
		ok &= check_kernel_blocks_container();
	}
	if (have_cdev()) {
		ok &= check_iommufd_blocks_kernel();
		ok &= check_kernel_blocks_iommufd();
	}
	return ok;
}

static bool check_restore(void)
{
	char path[PATH_MAX];
	bool ok;

	ok = !move_to(ctx.dev_a, ctx.driver) && !move_to(ctx.dev_b, ctx.driver);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override",
		 ctx.dev_a);
	ok &= !write_str(path, "\n");
	return kernel_ok() && ok;
}

enum need {
	NEED_NONE,
	NEED_LEGACY,
	NEED_CDEV,
};

struct owner_test {
	const char *name;
	bool (*fn)(void);
	enum need need;
};

static const struct owner_test tests[] = {
	{ "shared_group_in_sysfs", check_shared_group, NEED_NONE },
	{ "bind_a_to_vfio_pci", check_a_to_vfio, NEED_NONE },
	{ "container_blocks_kernel_bind", check_container_blocks_kernel,
	  NEED_LEGACY },
	{ "kernel_driver_blocks_container", check_kernel_blocks_container,
	  NEED_LEGACY },
	{ "iommufd_blocks_kernel_bind", check_iommufd_blocks_kernel,
	  NEED_CDEV },
	{ "kernel_driver_blocks_iommufd", check_kernel_blocks_iommufd,
	  NEED_CDEV },
	{ "bind_cycles_kernel_driver", check_cycles_kernel, NEED_NONE },
	{ "bind_cycles_vfio_pci", check_cycles_vfio, NEED_NONE },
	{ "rules_hold_after_cycles", check_rules_after_cycles, NEED_NONE },
	{ "restore_kernel_drivers", check_restore, NEED_NONE },
};

static void run_test(const struct owner_test *t)
{
	struct timespec a, b;
	bool pass;

	clock_gettime(CLOCK_MONOTONIC, &a);
	pass = t->fn();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ksft_print_msg("%s: %.2f s\n", t->name,
		       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	ksft_test_result(pass, "%s\n", t->name);
}

static bool read_id(const char *dev, const char *attr, unsigned int *val)
{
	char path[PATH_MAX];
	char buf[32];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", dev, attr);
	if (read_str(path, buf, sizeof(buf)))
		return false;
	*val = strtoul(buf, NULL, 16);
	return true;
}

/* Find two matching devices that share an IOMMU group: A and B. */
static bool find_pair(void)
{
	char groups[64][NAME_MAX + 1];
	char devs[64][NAME_MAX + 1];
	char path[PATH_MAX];
	unsigned int n = 0;
	unsigned int vendor, device, i, j;
	struct dirent **list;
	int count, k;
	bool found = false;

	count = scandir(PCI_DEVICES, &list, NULL, alphasort);
	if (count < 0)
		return false;
	for (k = 0; k < count; k++) {
		const char *dev = list[k]->d_name;

		if (dev[0] == '.' || n == 64 ||
		    !read_id(dev, "vendor", &vendor) ||
		    !read_id(dev, "device", &device) ||
		    vendor != ctx.vendor || device != ctx.device)
			continue;
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group",
			 dev);
		if (link_name(path, groups[n], sizeof(groups[n])) ||
		    !groups[n][0]) {
			ksft_print_msg("%04x:%04x device %s has no IOMMU group\n",
				       vendor, device, dev);
			continue;
		}
		snprintf(devs[n], sizeof(devs[n]), "%s", dev);
		ksft_print_msg("%04x:%04x device %s in IOMMU group %s\n",
			       vendor, device, dev, groups[n]);
		n++;
	}
	for (k = 0; k < count; k++)
		free(list[k]);
	free(list);

	for (i = 0; i < n && !found; i++) {
		for (j = i + 1; j < n && !found; j++) {
			if (strcmp(groups[i], groups[j]))
				continue;
			snprintf(ctx.dev_a, sizeof(ctx.dev_a), "%s", devs[i]);
			snprintf(ctx.dev_b, sizeof(ctx.dev_b), "%s", devs[j]);
			snprintf(ctx.group, sizeof(ctx.group), "%s", groups[i]);
			found = true;
		}
	}
	return found;
}

static void allow_unsafe_irqs(void)
{
	static const char * const params[] = {
		"/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
		"/sys/module/iommufd/parameters/allow_unsafe_interrupts",
	};
	unsigned int i;

	/*
	 * Ownership does not depend on MSI isolation; a vIOMMU without
	 * interrupt remapping would otherwise refuse userspace with -EPERM
	 * for an unrelated reason.
	 */
	for (i = 0; i < ARRAY_SIZE(params); i++)
		if (!access(params[i], W_OK))
			write_str(params[i], "1");
}

int main(void)
{
	const char *id = getenv("DMA_OWNER_ID");
	const char *drv = getenv("DMA_OWNER_DRIVER");
	const char *cycles = getenv("DMA_OWNER_CYCLES");
	char path[PATH_MAX];
	unsigned int i;

	ksft_print_header();

	if (sscanf(id ? id : "8086:100e", "%x:%x", &ctx.vendor,
		   &ctx.device) != 2)
		ksft_exit_fail_msg("bad DMA_OWNER_ID '%s'\n", id);
	snprintf(ctx.driver, sizeof(ctx.driver), "%s", drv ? drv : "e1000");
	ctx.cycles = cycles ? strtoul(cycles, NULL, 0) : 200;

	if (geteuid())
		ksft_exit_skip("needs root\n");
	if (access(PCI_DRIVERS "/" VFIO_PCI, F_OK))
		ksft_exit_skip("vfio-pci driver not available\n");
	snprintf(path, sizeof(path), PCI_DRIVERS "/%s", ctx.driver);
	if (access(path, F_OK))
		ksft_exit_skip("driver %s not available\n", ctx.driver);
	if (!find_pair())
		ksft_exit_skip("no IOMMU group holds two %04x:%04x devices\n",
			       ctx.vendor, ctx.device);
	ksft_print_msg("A=%s B=%s group=%s driver=%s cycles=%u\n", ctx.dev_a,
		       ctx.dev_b, ctx.group, ctx.driver, ctx.cycles);
	if (!driver_is(ctx.dev_b, ctx.driver) && move_to(ctx.dev_b, ctx.driver))
		ksft_exit_skip("%s does not bind to %s\n", ctx.dev_b,
			       ctx.driver);

	ctx.page_size = sysconf(_SC_PAGESIZE);
	ctx.page = mmap(NULL, ctx.page_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ctx.page == MAP_FAILED)
		ksft_exit_fail_perror("mmap");
	allow_unsafe_irqs();
	ctx.tainted = read_tainted();

	ksft_set_plan(ARRAY_SIZE(tests));
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		const struct owner_test *t = &tests[i];

		if (t->need == NEED_LEGACY && !have_legacy())
			ksft_test_result_skip("%s: no /dev/vfio/vfio\n",
					      t->name);
		else if (t->need == NEED_CDEV && !have_cdev())
			ksft_test_result_skip("%s: no /dev/iommu or vfio cdev\n",
					      t->name);
		else
			run_test(t);
	}
	ksft_finished();
}
