// SPDX-License-Identifier: GPL-2.0-only
/*
 * PCIe hotplug of an e1000 under a vIOMMU, driven by the host.
 *
 * Each cycle asks the host for a QMP device_add of an e1000 on the root port
 * "hotplug1" by printing one "SERIES-QMP: <json>" line on the console, waits
 * until the new device shows up in an IOMMU group bound to e1000, then asks
 * for device_del and waits until the device and its group entry are gone.
 * Prints KTAP, one result per cycle.
 *
 * Environment: HOTPLUG_CYCLES (20), HOTPLUG_TIMEOUT (seconds per step, 20).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define IOMMU_GROUPS	"/sys/kernel/iommu_groups"
#define HP_VENDOR	0x8086
#define HP_DEVICE	0x100e
#define HP_DRIVER	"e1000"
#define HP_BUS		"hotplug1"
#define MAX_DEVS	64
#define RESEND_S	5.0

#define TAINT_BAD	((1UL << 5) | (1UL << 7) | (1UL << 9))

struct dev_list {
	char name[MAX_DEVS][NAME_MAX + 1];
	unsigned int n;
};

static double timeout_s = 20.0;
static unsigned long tainted_at_start;

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

static bool link_name(const char *path, char *buf, size_t size)
{
	char target[PATH_MAX];
	const char *base;
	size_t len;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	len = strlen(base);
	if (len >= size)
		return false;
	memcpy(buf, base, len + 1);
	return true;
}

static unsigned long read_tainted(void)
{
	char buf[64];

	if (read_str("/proc/sys/kernel/tainted", buf, sizeof(buf)))
		return 0;
	return strtoul(buf, NULL, 10);
}

static bool is_hp_device(const char *dev)
{
	char path[PATH_MAX];
	char buf[32];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", dev);
	if (read_str(path, buf, sizeof(buf)) ||
	    strtoul(buf, NULL, 16) != HP_VENDOR)
		return false;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", dev);
	if (read_str(path, buf, sizeof(buf)) ||
	    strtoul(buf, NULL, 16) != HP_DEVICE)
		return false;
	return true;
}

static void list_devices(struct dev_list *l)
{
	struct dirent *de;
	DIR *dir;

	l->n = 0;
	dir = opendir(PCI_DEVICES);
	if (!dir)
		return;
	while ((de = readdir(dir)) && l->n < MAX_DEVS) {
		if (de->d_name[0] == '.' || !is_hp_device(de->d_name))
			continue;
		snprintf(l->name[l->n], sizeof(l->name[0]), "%s", de->d_name);
		l->n++;
	}
	closedir(dir);
}

static bool in_list(const struct dev_list *l, const char *dev)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->name[i], dev))
			return true;
	return false;
}

/* A matching device present now that was not in @before. */
static bool find_new(const struct dev_list *before, char *dev, size_t size)
{
	struct dev_list now;
	unsigned int i;

	list_devices(&now);
	for (i = 0; i < now.n; i++) {
		if (!in_list(before, now.name[i])) {
			snprintf(dev, size, "%s", now.name[i]);
			return true;
		}
	}
	return false;
}

/* One write() of one line to the console, where the host watches for it. */
static void send_qmp(const char *json)
{
	char line[512];
	int len, fd;

	len = snprintf(line, sizeof(line), "SERIES-QMP: %s\n", json);
	fflush(stdout);
	fd = open("/dev/console", O_WRONLY | O_NOCTTY);
	if (fd < 0 || write(fd, line, len) != len) {
		fputs(line, stdout);
		fflush(stdout);
	}
	if (fd >= 0)
		close(fd);
}

static void send_device_add(const char *id)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"%s\",\"id\":\"%s\",\"bus\":\"%s\"}}",
		 HP_DRIVER, id, HP_BUS);
	send_qmp(json);
}

static void send_device_del(const char *id)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"%s\"}}",
		 id);
	send_qmp(json);
}

static unsigned int count_entries(const char *path)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static bool bound_in_group(const char *dev, char *group, size_t size)
{
	char path[PATH_MAX];
	char drv[NAME_MAX + 1];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group", dev);
	if (!link_name(path, group, size))
		return false;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", dev);
	return link_name(path, drv, sizeof(drv)) && !strcmp(drv, HP_DRIVER);
}

static void msleep(unsigned int ms)
{
	usleep(ms * 1000);
}

/* One add/remove cycle; returns true when every step was seen. */
static bool hotplug_cycle(unsigned int cycle)
{
	char dev[NAME_MAX + 1], group[NAME_MAX + 1], id[32];
	char path[PATH_MAX];
	struct dev_list before;
	double start, sent, t_add, t_del;
	unsigned int members;
	bool sole;

	snprintf(id, sizeof(id), "hp%u", cycle);
	list_devices(&before);

	start = now_s();
	sent = start;
	send_device_add(id);
	while (!find_new(&before, dev, sizeof(dev))) {
		if (now_s() - start > timeout_s) {
			diag("%s: no new %04x:%04x device after %.0f s\n", id,
			     HP_VENDOR, HP_DEVICE, timeout_s);
			send_device_del(id);
			return false;
		}
		/* The slot may still hold the previous device: ask again. */
		if (now_s() - sent > RESEND_S) {
			sent = now_s();
			send_device_add(id);
		}
		msleep(100);
	}
	while (!bound_in_group(dev, group, sizeof(group))) {
		if (now_s() - start > timeout_s) {
			diag("%s: %s not in an IOMMU group on %s after %.0f s\n",
			     id, dev, HP_DRIVER, timeout_s);
			send_device_del(id);
			return false;
		}
		msleep(100);
	}
	t_add = now_s() - start;

	snprintf(path, sizeof(path), IOMMU_GROUPS "/%s/devices/%s", group, dev);
	if (access(path, F_OK)) {
		diag("%s: %s not listed in IOMMU group %s\n", id, dev, group);
		return false;
	}
	snprintf(path, sizeof(path), IOMMU_GROUPS "/%s/devices", group);
	members = count_entries(path);
	sole = members == 1;

	start = now_s();
	sent = start;
	send_device_del(id);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s", dev);
	while (!access(path, F_OK)) {
		if (now_s() - start > timeout_s) {
			diag("%s: %s still present %.0f s after device_del\n",
			     id, dev, timeout_s);
			return false;
		}
		/*
		 * A kernel message printed in the middle of the request line
		 * garbles it for the host (the console is shared): ask again.
		 * QEMU refuses a second device_del while one is pending.
		 */
		if (now_s() - sent > RESEND_S) {
			sent = now_s();
			send_device_del(id);
		}
		msleep(100);
	}
	/* A group of its own must vanish, else the device leaves it. */
	if (sole)
		snprintf(path, sizeof(path), IOMMU_GROUPS "/%s", group);
	else
		snprintf(path, sizeof(path), IOMMU_GROUPS "/%s/devices/%s",
			 group, dev);
	while (!access(path, F_OK)) {
		if (now_s() - start > timeout_s) {
			diag("%s: %s still present after removal of %s\n", id,
			     path, dev);
			return false;
		}
		msleep(100);
	}
	t_del = now_s() - start;

	diag("%s: %s group %s (%u member%s) add %.1f s, del %.1f s\n", id, dev,
	     group, members, members == 1 ? "" : "s", t_add, t_del);
	if ((read_tainted() & ~tainted_at_start) & TAINT_BAD) {
		diag("kernel tainted: 0x%lx\n", read_tainted());
		return false;
	}
	return true;
}

int main(void)
{
	const char *env_cycles = getenv("HOTPLUG_CYCLES");
	const char *env_timeout = getenv("HOTPLUG_TIMEOUT");
	unsigned int cycles = env_cycles ? strtoul(env_cycles, NULL, 0) : 20;
	unsigned int i, passed = 0, failed = 0;

	if (env_timeout)
		timeout_s = strtod(env_timeout, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("KTAP version 1\n");

	if (geteuid()) {
		printf("1..0 # SKIP needs root\n");
		return 4;
	}
	tainted_at_start = read_tainted();
	printf("1..%u\n", cycles);
	for (i = 1; i <= cycles; i++) {
		if (failed) {
			printf("ok %u hotplug_cycle_%u # SKIP aborted after a failed cycle\n",
			       i, i);
			continue;
		}
		if (hotplug_cycle(i)) {
			printf("ok %u hotplug_cycle_%u\n", i, i);
			passed++;
		} else {
			printf("not ok %u hotplug_cycle_%u\n", i, i);
			failed++;
		}
	}
	printf("# Totals: pass:%u fail:%u skip:%u\n", passed, failed,
	       cycles - passed - failed);
	return failed ? 1 : 0;
}
