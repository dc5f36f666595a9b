// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test-only module for the DMA ownership series (CI only, never upstream).
 *
 * It sets up three situations that the driver core's DMA ownership claim
 * must get right and that userspace cannot create on its own.  The guest
 * test ci/guest/owner_regress.sh drives it through debugfs, in
 * /sys/kernel/debug/dma_owner_regress/:
 *
 *  bind_without_probe (write a PCI device name)
 *	Binds the device to the driver "dma_owner_regress_nodrv" with
 *	device_bind_driver(), the way a bus or driver attaches a driver to
 *	a device without probing it: no DMA ownership is claimed.  Item 1:
 *	the unbind must not release a claim that was never made.
 *  unbind (write a PCI device name)
 *	device_release_driver() of a device bound by this module.
 *  devres_result (read)
 *	The driver "dma_owner_regress_devres" (bound through driver_override)
 *	registers a devm action at probe.  At unbind the action records
 *	whether the device's IOMMU group still had a kernel DMA owner while
 *	devres teardown ran: "owned" (right: userspace could not claim the
 *	group yet), "unowned" (item 2: userspace could take the group while
 *	the driver's managed resources were still being released), or
 *	"none" (no unbind seen yet).
 *  foreign_bus (read)
 *	Registers a device on this module's own bus, which is not one of the
 *	IOMMU core's iommu_buses[], puts it into a fresh IOMMU group with
 *	iommu_group_add_device() (as VFIO's no-IOMMU mode does), deletes it,
 *	and reports whether device_del() took it out of the group:
 *	"released" (right) or "leaked" (item 4: the group keeps a pointer to
 *	a deleted device; the module then keeps the device allocated, so
 *	the module cannot be unloaded after a leak).
 */
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/iommu.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pm_runtime.h>
#include <linux/slab.h>
#include <linux/string.h>

#define PREFIX "dma_owner_regress"

static struct dentry *regress_dir;
static DEFINE_MUTEX(regress_lock);
static const char *devres_result = "none";
static unsigned int foreign_devs;

/* Item 1: a driver that is only ever attached by device_bind_driver(). */
static struct pci_driver nodrv_driver = {
	.name = PREFIX "_nodrv",
};

/* Item 2: a driver whose devres teardown checks the group's ownership. */
static void devres_check(void *data)
{
	struct device *dev = data;
	struct iommu_group *group = iommu_group_get(dev);

	if (!group) {
		devres_result = "nogroup";
		return;
	}
	devres_result = iommu_group_dma_owner_claimed(group) ? "owned" :
							       "unowned";
	dev_info(dev, "DMA ownership during devres teardown: %s\n",
		 devres_result);
	iommu_group_put(group);
}

static int devres_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	devres_result = "bound";
	return devm_add_action_or_reset(&pdev->dev, devres_check, &pdev->dev);
}

static void devres_remove(struct pci_dev *pdev)
{
}

static struct pci_driver devres_driver = {
	.name = PREFIX "_devres",
	.probe = devres_probe,
	.remove = devres_remove,
};

static struct pci_dev *pci_dev_from_user(const char __user *ubuf,
					 size_t count)
{
	unsigned int domain, bus, slot, fn;
	char buf[32];

	if (count >= sizeof(buf))
		return NULL;
	if (copy_from_user(buf, ubuf, count))
		return NULL;
	buf[count] = '\0';
	if (sscanf(buf, "%x:%x:%x.%x", &domain, &bus, &slot, &fn) != 4)
		return NULL;
	return pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
}

/*
 * Do what a successful PCI probe leaves behind (a device reference, a
 * runtime PM usage count, pci_dev->driver) so that the PCI bus's remove
 * callback finds it, but bind with device_bind_driver(): no
 * dma_configure(), so no DMA ownership claim.
 */
static ssize_t bind_without_probe_write(struct file *file,
					const char __user *ubuf,
					size_t count, loff_t *ppos)
{
	struct pci_dev *pdev = pci_dev_from_user(ubuf, count);
	struct device *dev;
	int ret;

	if (!pdev)
		return -ENODEV;
	dev = &pdev->dev;
	device_lock(dev);
	if (dev->driver) {
		ret = -EBUSY;
		goto out;
	}
	pci_dev_get(pdev);
	pm_runtime_get_noresume(dev);
	pdev->driver = &nodrv_driver;
	dev->driver = &nodrv_driver.driver;
	ret = device_bind_driver(dev);
	if (ret) {
		dev->driver = NULL;
		pdev->driver = NULL;
		pm_runtime_put_noidle(dev);
		pci_dev_put(pdev);
	}
out:
	device_unlock(dev);
	pci_dev_put(pdev);
	dev_info(dev, "device_bind_driver(%s): %d\n", nodrv_driver.name, ret);
	return ret ? ret : count;
}

static ssize_t unbind_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	struct pci_dev *pdev = pci_dev_from_user(ubuf, count);
	const struct device_driver *drv;
	int ret = 0;

	if (!pdev)
		return -ENODEV;
	drv = READ_ONCE(pdev->dev.driver);
	if (drv != &nodrv_driver.driver && drv != &devres_driver.driver)
		ret = -EINVAL;
	else
		device_release_driver(&pdev->dev);
	pci_dev_put(pdev);
	return ret ? ret : count;
}

static ssize_t devres_result_read(struct file *file, char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	char buf[16];
	int len = scnprintf(buf, sizeof(buf), "%s\n", devres_result);

	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

/* Item 4: a bus the IOMMU core does not watch. */
static const struct bus_type regress_bus = {
	.name = PREFIX,
};

static void regress_dev_release(struct device *dev)
{
	kfree(dev);
}

static const char *foreign_bus_run(void)
{
	struct iommu_group *group;
	struct device *dev;
	const char *result;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return "error-nomem";
	device_initialize(dev);
	dev->bus = &regress_bus;
	dev->release = regress_dev_release;
	ret = dev_set_name(dev, PREFIX "%u", foreign_devs++);
	if (!ret)
		ret = device_add(dev);
	if (ret) {
		put_device(dev);
		return "error-device_add";
	}

	group = iommu_group_alloc();
	if (IS_ERR(group)) {
		result = "error-group_alloc";
		goto del;
	}
	ret = iommu_group_add_device(group, dev);
	iommu_group_put(group);
	if (ret) {
		result = "error-group_add";
		goto del;
	}
	device_del(dev);
	if (dev->iommu_group) {
		/*
		 * The group still lists the device.  Taking it out now would
		 * remove sysfs links of a deleted kobject (a kernfs WARN), and
		 * freeing it would leave the group a dangling pointer: keep
		 * the reference (the device stays allocated for good) and the
		 * module, whose release function the device points to.
		 */
		result = "leaked";
		__module_get(THIS_MODULE);
		return result;
	}
	result = "released";
	put_device(dev);
	return result;
del:
	device_del(dev);
	put_device(dev);
	return result;
}

static ssize_t foreign_bus_read(struct file *file, char __user *ubuf,
				size_t count, loff_t *ppos)
{
	const char *result = "";
	char buf[32];
	int len;

	if (!*ppos) {
		mutex_lock(&regress_lock);
		result = foreign_bus_run();
		mutex_unlock(&regress_lock);
		pr_info(PREFIX ": device on a bus outside iommu_buses[]: %s\n",
			result);
	}
	len = scnprintf(buf, sizeof(buf), "%s\n", result);
	return *ppos ? 0 : simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static const struct file_operations bind_without_probe_fops = {
	.owner = THIS_MODULE,
	.write = bind_without_probe_write,
};

static const struct file_operations unbind_fops = {
	.owner = THIS_MODULE,
	.write = unbind_write,
};

static const struct file_operations devres_result_fops = {
	.owner = THIS_MODULE,
	.read = devres_result_read,
};

static const struct file_operations foreign_bus_fops = {
	.owner = THIS_MODULE,
	.read = foreign_bus_read,
};

static int __init regress_init(void)
{
	int ret;

	ret = bus_register(&regress_bus);
	if (ret)
		return ret;
	ret = pci_register_driver(&nodrv_driver);
	if (ret)
		goto err_bus;
	ret = pci_register_driver(&devres_driver);
	if (ret)
		goto err_nodrv;

	regress_dir = debugfs_create_dir(PREFIX, NULL);
	debugfs_create_file("bind_without_probe", 0200, regress_dir, NULL,
			    &bind_without_probe_fops);
	debugfs_create_file("unbind", 0200, regress_dir, NULL, &unbind_fops);
	debugfs_create_file("devres_result", 0400, regress_dir, NULL,
			    &devres_result_fops);
	debugfs_create_file("foreign_bus", 0400, regress_dir, NULL,
			    &foreign_bus_fops);
	return 0;

err_nodrv:
	pci_unregister_driver(&nodrv_driver);
err_bus:
	bus_unregister(&regress_bus);
	return ret;
}

static void __exit regress_exit(void)
{
	debugfs_remove_recursive(regress_dir);
	pci_unregister_driver(&devres_driver);
	pci_unregister_driver(&nodrv_driver);
	bus_unregister(&regress_bus);
}

module_init(regress_init);
module_exit(regress_exit);
MODULE_DESCRIPTION("CI-only tests of the driver core's DMA ownership claim");
MODULE_LICENSE("GPL");
