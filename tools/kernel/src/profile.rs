//! Architectures and virtual IOMMU targets as data, after the kernel's
//! `tools/testing/kunit/qemu_configs/*.py`: one row per target holds
//! everything that differs (make ARCH and cross compiler, config
//! fragments, kernel image, QEMU binary, machine, firmware, console,
//! command line), so build, boot and report never branch on a name.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// One kernel architecture: how to build it and which QEMU runs it.
#[derive(Debug, PartialEq, Eq)]
pub struct ArchProfile {
    /// Short name, used in build directory names (`x86_64`, `arm64`).
    pub name: &'static str,
    /// `make ARCH=`.
    pub make_arch: &'static str,
    /// `make CROSS_COMPILE=` (empty: the host compiler).
    pub cross_compile: &'static str,
    /// The make target that builds the bootable image.
    pub image_target: &'static str,
    /// The image, relative to the build directory.
    pub image_path: &'static str,
    /// Fragments of the `ci` config under kernel-overlay/kernel/configs/,
    /// merged in order over tinyconfig; other configs add theirs after.
    pub ci_fragments: &'static [&'static str],
    /// The QEMU system emulator.
    pub qemu: &'static str,
    /// Debian package of that emulator (for error messages).
    pub qemu_package: &'static str,
    /// Can this host run it under KVM at all (same architecture)?
    pub kvm_possible: bool,
    /// Machine of the paused guest that probes whether KVM really works.
    pub kvm_probe_machine: &'static str,
    /// ELF `e_machine` of user-space binaries for the guest.
    pub elf_machine: u16,
    /// The guest's static busybox.
    pub busybox: BusyboxSource,
    /// Libraries the guest tests link (libcap) unpacked by the busybox
    /// script under `~/.cache/series/<path>` when the cross toolchain has
    /// none: (sysroot, its library directory).
    pub user_sysroot: Option<(&'static str, &'static str)>,
}

/// Where the guest's busybox comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum BusyboxSource {
    /// An installed file (Debian's busybox-static of the host).
    Host(&'static str),
    /// Unpacked by a ci/ script into `~/.cache/series/<path>`.
    Fetched {
        script: &'static str,
        cache_path: &'static str,
    },
}

pub static X86_64: ArchProfile = ArchProfile {
    name: "x86_64",
    make_arch: "x86_64",
    cross_compile: "",
    image_target: "bzImage",
    image_path: "arch/x86/boot/bzImage",
    ci_fragments: &["series-ci.config"],
    qemu: "qemu-system-x86_64",
    qemu_package: "qemu-system-x86",
    kvm_possible: cfg!(target_arch = "x86_64"),
    kvm_probe_machine: "q35",
    elf_machine: 62,
    busybox: BusyboxSource::Host("/bin/busybox"),
    user_sysroot: None,
};

pub static ARM64: ArchProfile = ArchProfile {
    name: "arm64",
    make_arch: "arm64",
    cross_compile: if cfg!(target_arch = "aarch64") {
        ""
    } else {
        "aarch64-linux-gnu-"
    },
    image_target: "Image",
    image_path: "arch/arm64/boot/Image",
    ci_fragments: &["series-arm64-ci.config"],
    qemu: "qemu-system-aarch64",
    qemu_package: "qemu-system-arm",
    kvm_possible: cfg!(target_arch = "aarch64"),
    kvm_probe_machine: "virt",
    elf_machine: 183,
    busybox: BusyboxSource::Fetched {
        script: "ci/fetch-arm64-busybox",
        cache_path: "arm64/busybox-static/bin/busybox",
    },
    user_sysroot: Some(("arm64/sysroot", "usr/lib/aarch64-linux-gnu")),
};

pub static ARCHES: [&ArchProfile; 2] = [&X86_64, &ARM64];

impl ArchProfile {
    pub fn parse(s: &str) -> Result<&'static ArchProfile> {
        let wanted = if s == "x86" { "x86_64" } else { s };
        match ARCHES.iter().find(|a| a.name == wanted) {
            Some(a) => Ok(a),
            None => bail!(
                "unknown architecture `{s}`: use {}",
                ARCHES.map(|a| a.name).join(" or ")
            ),
        }
    }

    /// The C compiler for the guest's user-space programs.
    pub fn user_cc(&self) -> String {
        format!("{}gcc", self.cross_compile)
    }

    /// `$CC` for ci/guest/build.sh: the compiler, plus the sysroot's
    /// headers and libraries when the architecture has one under `cache`.
    pub fn guest_cc(&self, cache: &std::path::Path) -> String {
        let mut cc = self.user_cc();
        if let Some((root, lib)) = self.user_sysroot {
            let root = cache.join(root);
            cc.push_str(&format!(
                " -isystem {} -L{}",
                root.join("usr/include").display(),
                root.join(lib).display()
            ));
        }
        cc
    }

    /// The busybox path for this architecture (fetched ones under `cache`).
    pub fn busybox_path(&self, cache: &std::path::Path) -> PathBuf {
        match self.busybox {
            BusyboxSource::Host(p) => PathBuf::from(p),
            BusyboxSource::Fetched { cache_path, .. } => cache.join(cache_path),
        }
    }
}

/// Firmware a target boots through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// QEMU loads the kernel itself (`-kernel`): x86 boot protocol or,
    /// on arm64, the device tree QEMU generates.
    Direct,
    /// UEFI from a file (`-bios`); QEMU hands `-kernel/-initrd/-append`
    /// to it over fw_cfg and the firmware starts the kernel's EFI stub,
    /// which then finds ACPI tables (IORT on arm64) instead of a DT.
    Uefi(&'static str),
}

/// One virtual IOMMU target: a row of the run table.
#[derive(Debug, PartialEq, Eq)]
pub struct ViommuProfile {
    pub viommu: Viommu,
    pub arch: &'static ArchProfile,
    /// `-machine`.
    pub machine: &'static str,
    /// `-cpu`.
    pub cpu: &'static str,
    /// The IOMMU as a `-device` (None: built into the machine).
    pub iommu_device: Option<&'static str>,
    pub firmware: Firmware,
    /// Debian package that ships the firmware (for error messages).
    pub firmware_package: &'static str,
    /// `console=` of the guest.
    pub console: &'static str,
    /// Extra kernel command line words for this target.
    pub cmdline: &'static str,
    /// The PCIe root bus the topology hangs off.
    pub root_bus: &'static str,
    /// `NAME=value` words for the guest tests under this target, before
    /// those of `$SERIES_GUEST_ENV` (which win for the same NAME).
    pub guest_env: &'static str,
}

/// Debian qemu-efi-aarch64's firmware for the `virt` machine.
pub const AARCH64_UEFI: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/// Every target, in table column order.
pub static VIOMMUS: [ViommuProfile; 5] = [
    ViommuProfile {
        viommu: Viommu::Intel,
        arch: &X86_64,
        machine: "q35,kernel-irqchip=split",
        cpu: "max",
        iommu_device: Some("intel-iommu,intremap=on,caching-mode=on"),
        firmware: Firmware::Direct,
        firmware_package: "",
        console: "ttyS0,115200",
        cmdline: "intel_iommu=on",
        root_bus: "pcie.0",
        guest_env: "",
    },
    ViommuProfile {
        viommu: Viommu::Amd,
        arch: &X86_64,
        machine: "q35",
        cpu: "max",
        iommu_device: Some("amd-iommu"),
        firmware: Firmware::Direct,
        firmware_package: "",
        console: "ttyS0,115200",
        cmdline: "",
        root_bus: "pcie.0",
        guest_env: "",
    },
    ViommuProfile {
        viommu: Viommu::Virtio,
        arch: &X86_64,
        machine: "q35",
        cpu: "max",
        iommu_device: Some("virtio-iommu-pci"),
        firmware: Firmware::Direct,
        firmware_package: "",
        console: "ttyS0,115200",
        cmdline: "",
        root_bus: "pcie.0",
        guest_env: "",
    },
    ViommuProfile {
        viommu: Viommu::Smmuv3Dt,
        arch: &ARM64,
        machine: "virt,iommu=smmuv3",
        cpu: "max",
        iommu_device: None,
        firmware: Firmware::Direct,
        firmware_package: "",
        console: "ttyAMA0",
        // No firmware, so no ACPI tables; acpi=off says so explicitly.
        cmdline: "acpi=off",
        root_bus: "pcie.0",
        // pciehp waits 5 s after QEMU's attention button before it
        // powers a slot on or off (x86 q35 hot-plugs through ACPI): a
        // cycle costs ~11 s here against ~0.5 s on x86, so fewer cycles.
        guest_env: "HOTPLUG_CYCLES=5",
    },
    ViommuProfile {
        viommu: Viommu::Smmuv3Acpi,
        arch: &ARM64,
        machine: "virt,iommu=smmuv3",
        cpu: "max",
        iommu_device: None,
        firmware: Firmware::Uefi(AARCH64_UEFI),
        firmware_package: "qemu-efi-aarch64",
        console: "ttyAMA0",
        // The firmware offers ACPI and a DT; take ACPI (and its IORT).
        cmdline: "acpi=force",
        root_bus: "pcie.0",
        // pciehp waits 5 s after QEMU's attention button before it
        // powers a slot on or off (x86 q35 hot-plugs through ACPI): a
        // cycle costs ~11 s here against ~0.5 s on x86, so fewer cycles.
        guest_env: "HOTPLUG_CYCLES=5",
    },
];

/// The virtual IOMMU put in front of the guest's PCI devices (a key into
/// [`VIOMMUS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Viommu {
    #[serde(rename = "intel")]
    Intel,
    #[serde(rename = "amd")]
    Amd,
    #[serde(rename = "virtio")]
    Virtio,
    #[serde(rename = "smmuv3-dt")]
    Smmuv3Dt,
    #[serde(rename = "smmuv3-acpi")]
    Smmuv3Acpi,
}

impl Viommu {
    /// Every target, in table order.
    pub fn all() -> Vec<Viommu> {
        VIOMMUS.iter().map(|p| p.viommu).collect()
    }

    pub fn profile(self) -> &'static ViommuProfile {
        VIOMMUS
            .iter()
            .find(|p| p.viommu == self)
            .expect("every Viommu has a row in VIOMMUS")
    }

    pub fn arch(self) -> &'static ArchProfile {
        self.profile().arch
    }

    pub fn name(self) -> &'static str {
        match self {
            Viommu::Intel => "intel",
            Viommu::Amd => "amd",
            Viommu::Virtio => "virtio",
            Viommu::Smmuv3Dt => "smmuv3-dt",
            Viommu::Smmuv3Acpi => "smmuv3-acpi",
        }
    }

    pub fn parse(s: &str) -> Result<Viommu> {
        match VIOMMUS.iter().find(|p| p.viommu.name() == s) {
            Some(p) => Ok(p.viommu),
            None => bail!(
                "unknown vIOMMU `{s}`: use {}",
                Viommu::all()
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Parse a comma-separated list (`intel,smmuv3-dt`). `all` is every
    /// target, `x86_64`/`x86` or `arm64` every target of that architecture.
    pub fn parse_list(s: &str) -> Result<Vec<Viommu>> {
        let mut out = Vec::new();
        for word in s.split(',').map(str::trim) {
            let add: Vec<Viommu> = if word == "all" {
                Viommu::all()
            } else if let Ok(arch) = ArchProfile::parse(word) {
                Viommu::all()
                    .into_iter()
                    .filter(|v| v.arch() == arch)
                    .collect()
            } else {
                vec![Viommu::parse(word)?]
            };
            for v in add {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }
}

/// The architectures `iommus` need, in table order.
pub fn arches_of(iommus: &[Viommu]) -> Vec<&'static ArchProfile> {
    let mut out: Vec<&'static ArchProfile> = Vec::new();
    for v in iommus {
        if !out.iter().any(|a| *a == v.arch()) {
            out.push(v.arch());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_one_row_and_a_unique_name() {
        for v in Viommu::all() {
            assert_eq!(v.profile().viommu, v);
            assert_eq!(Viommu::parse(v.name()).unwrap(), v);
        }
        assert_eq!(Viommu::all().len(), VIOMMUS.len());
    }

    #[test]
    fn parse_list_by_name_arch_and_all() {
        assert_eq!(Viommu::parse_list("all").unwrap().len(), 5);
        assert_eq!(
            Viommu::parse_list("arm64").unwrap(),
            vec![Viommu::Smmuv3Dt, Viommu::Smmuv3Acpi]
        );
        assert_eq!(
            Viommu::parse_list("x86_64").unwrap(),
            vec![Viommu::Intel, Viommu::Amd, Viommu::Virtio]
        );
        assert_eq!(
            Viommu::parse_list("smmuv3-acpi,intel,intel").unwrap(),
            vec![Viommu::Smmuv3Acpi, Viommu::Intel]
        );
        let e = Viommu::parse_list("smmuv3").unwrap_err().to_string();
        assert!(e.contains("smmuv3-dt"), "{e}");
    }

    #[test]
    fn arches_follow_the_targets() {
        let a = arches_of(&[Viommu::Smmuv3Dt, Viommu::Intel, Viommu::Smmuv3Acpi]);
        assert_eq!(a, vec![&ARM64, &X86_64]);
        assert_eq!(ArchProfile::parse("x86").unwrap(), &X86_64);
        assert!(ArchProfile::parse("riscv").is_err());
    }

    #[test]
    fn guest_cc_adds_the_sysroot_only_where_there_is_one() {
        let cache = std::path::Path::new("/c");
        assert_eq!(X86_64.guest_cc(cache), "gcc");
        let arm = ARM64.guest_cc(cache);
        assert!(
            arm.contains("-isystem /c/arm64/sysroot/usr/include"),
            "{arm}"
        );
        assert!(
            arm.contains("-L/c/arm64/sysroot/usr/lib/aarch64-linux-gnu"),
            "{arm}"
        );
    }

    #[test]
    fn arm64_paths_differ_only_in_firmware_and_cmdline() {
        let dt = Viommu::Smmuv3Dt.profile();
        let acpi = Viommu::Smmuv3Acpi.profile();
        assert_eq!(dt.machine, acpi.machine);
        assert_eq!(dt.firmware, Firmware::Direct);
        assert_eq!(acpi.firmware, Firmware::Uefi(AARCH64_UEFI));
        assert!(dt.cmdline.contains("acpi=off"));
        assert!(acpi.cmdline.contains("acpi=force"));
        assert_eq!(ARM64.image_path, "arch/arm64/boot/Image");
    }
}
