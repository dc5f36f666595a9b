# SPDX-License-Identifier: GPL-2.0-only
# Fragment for tools/testing/selftests/iommu/Makefile (the series adds these
# lines; CFLAGS there already carries $(KHDR_INCLUDES) for linux/vfio.h and
# linux/iommufd.h, and lib.mk adds -D_GNU_SOURCE):
TEST_GEN_PROGS += dma_owner

# Matching additions to tools/testing/selftests/iommu/config:
#   CONFIG_VFIO=y
#   CONFIG_VFIO_PCI=y
#   CONFIG_VFIO_CONTAINER=y
#   CONFIG_VFIO_DEVICE_CDEV=y
#   CONFIG_E1000=y	(or any driver named by DMA_OWNER_DRIVER)
