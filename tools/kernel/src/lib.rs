//! The kernel pipeline of `series`: configure and build a kernel out of
//! tree, pack an initramfs with the guest tests, boot it in QEMU under a
//! virtual IOMMU, read the console (KTAP results and kernel splats) and
//! report base against patched.

pub mod boot;
pub mod build;
pub mod console;
pub mod initramfs;
pub mod kcidb;
pub mod kconfig;
pub mod ktap;
pub mod lava;
pub mod profile;
pub mod qemu;
pub mod qmp;
pub mod report;
