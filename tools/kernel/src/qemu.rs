//! The QEMU command line: a machine with a virtual IOMMU and the PCI topology the
//! guest tests rely on (names documented in docs/pipeline.md):
//!
//! - `rp1` root port with e1000 `solo` alone on it;
//! - `rp2` root port → `pcie-pci-bridge` `pcibr` → e1000 `grpA` (slot 1)
//!   and `grpB` (slot 2): one IOMMU group;
//! - `hotplug1`: an empty hotplug-capable root port for `device_add`;
//! - `rp4` root port → multifunction e1000 `mfA` (function 0) and `mfB`
//!   (function 1): one IOMMU group with no DMA alias, for the IOMMUs that
//!   cannot translate the bridge's alias (SMMUv3, QEMU 7.2's virtio-iommu).
//!
//! The same topology on every target; machine, IOMMU, firmware and
//! console come from the target's row in `profile::VIOMMUS`.

use crate::profile::Firmware;
pub use crate::profile::Viommu;
use std::path::PathBuf;

/// Everything one QEMU run needs.
#[derive(Debug, Clone)]
pub struct QemuSpec {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub iommu: Viommu,
    pub qmp_socket: PathBuf,
    pub memory_mb: u32,
    pub cpus: u32,
    /// Try KVM first (falls back to TCG when KVM cannot start).
    pub kvm: bool,
}

/// The guest kernel command line (documented in docs/pipeline.md).
pub fn kernel_cmdline(iommu: Viommu) -> String {
    let console = format!("console={}", iommu.profile().console);
    let mut words = vec![
        console.as_str(),
        "panic=-1",
        "oops=panic",
        "iommu.strict=1",
        "iommu.passthrough=0",
    ];
    let extra = iommu.profile().cmdline;
    if !extra.is_empty() {
        words.push(extra);
    }
    let mut line = words.join(" ");
    // NAME=value words for the guest tests (run-tests.sh gets them as its
    // environment): the target's, then SERIES_GUEST_ENV's (e.g.
    // "DMA_OWNER_CYCLES=20"), which replace the target's of the same NAME.
    let user = std::env::var(GUEST_ENV).unwrap_or_default();
    for word in guest_env_words(iommu.profile().guest_env, &user) {
        line.push(' ');
        line.push_str(&word);
    }
    line
}

/// `NAME=value` words of `target` not named in `user`, then `user`'s.
fn guest_env_words(target: &str, user: &str) -> Vec<String> {
    let name = |w: &str| w.split('=').next().unwrap_or("").to_string();
    let user: Vec<&str> = user
        .split_whitespace()
        .filter(|w| w.contains('='))
        .collect();
    target
        .split_whitespace()
        .filter(|w| w.contains('=') && !user.iter().any(|u| name(u) == name(w)))
        .chain(user.iter().copied())
        .map(str::to_string)
        .collect()
}

/// The variable whose NAME=value words are passed to the guest tests.
pub const GUEST_ENV: &str = "SERIES_GUEST_ENV";

/// The QEMU arguments (without the program name).
pub fn args(spec: &QemuSpec) -> Vec<String> {
    let target = spec.iommu.profile();
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
        "-display",
        "none",
    ]);
    push(&["-machine", target.machine]);
    if let Firmware::Uefi(fw) = target.firmware {
        push(&["-bios", fw]);
    }
    if spec.kvm {
        push(&["-accel", "kvm", "-accel", "tcg"]);
    } else {
        push(&["-accel", "tcg"]);
    }
    push(&["-cpu", target.cpu]);
    let mem = spec.memory_mb.to_string();
    let smp = spec.cpus.to_string();
    push(&["-m", &mem, "-smp", &smp]);
    // The IOMMU first: intel-iommu and amd-iommu must exist before the
    // devices they translate for.
    if let Some(dev) = target.iommu_device {
        push(&["-device", dev]);
    }
    let root = target.root_bus;
    let rp1 = format!("pcie-root-port,id=rp1,bus={root},chassis=1,slot=1,addr=0x10");
    let rp2 = format!("pcie-root-port,id=rp2,bus={root},chassis=2,slot=2,addr=0x11");
    let hp = format!("pcie-root-port,id=hotplug1,bus={root},chassis=3,slot=3,addr=0x12,hotplug=on");
    push(&["-device", &rp1]);
    push(&["-device", "e1000,id=solo,bus=rp1"]);
    push(&["-device", &rp2]);
    push(&["-device", "pcie-pci-bridge,id=pcibr,bus=rp2"]);
    push(&["-device", "e1000,id=grpA,bus=pcibr,addr=0x1"]);
    push(&["-device", "e1000,id=grpB,bus=pcibr,addr=0x2"]);
    push(&["-device", &hp]);
    let rp4 = format!("pcie-root-port,id=rp4,bus={root},chassis=4,slot=4,addr=0x13");
    push(&["-device", &rp4]);
    push(&[
        "-device",
        "e1000,id=mfA,bus=rp4,addr=0x0.0,multifunction=on",
    ]);
    push(&["-device", "e1000,id=mfB,bus=rp4,addr=0x0.1"]);
    push(&[
        "-chardev",
        "stdio,id=con0,signal=off",
        "-serial",
        "chardev:con0",
    ]);
    let qmp = format!("unix:{},server=on,wait=off", spec.qmp_socket.display());
    push(&["-qmp", &qmp]);
    let kernel = spec.kernel.display().to_string();
    let initrd = spec.initrd.display().to_string();
    let cmdline = kernel_cmdline(spec.iommu);
    push(&["-kernel", &kernel, "-initrd", &initrd, "-append", &cmdline]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(iommu: Viommu) -> QemuSpec {
        QemuSpec {
            kernel: "/k".into(),
            initrd: "/i".into(),
            iommu,
            qmp_socket: "/q.sock".into(),
            memory_mb: 512,
            cpus: 2,
            kvm: false,
        }
    }

    #[test]
    fn topology_names_are_stable() {
        let joined = args(&spec(Viommu::Amd)).join(" ");
        for id in [
            "id=rp1",
            "id=solo,bus=rp1",
            "id=pcibr,bus=rp2",
            "id=grpA,bus=pcibr",
            "id=grpB,bus=pcibr",
            "id=hotplug1",
            "id=rp4",
            "id=mfA,bus=rp4,addr=0x0.0,multifunction=on",
            "id=mfB,bus=rp4,addr=0x0.1",
        ] {
            assert!(joined.contains(id), "{id} missing in {joined}");
        }
        assert!(joined.contains("-device amd-iommu"));
    }

    #[test]
    fn intel_uses_split_irqchip_and_iommu_comes_first() {
        let a = args(&spec(Viommu::Intel));
        let joined = a.join(" ");
        assert!(joined.contains("q35,kernel-irqchip=split"));
        let iommu = a.iter().position(|s| s.starts_with("intel-iommu")).unwrap();
        let first_nic = a.iter().position(|s| s.starts_with("e1000")).unwrap();
        assert!(iommu < first_nic);
        assert!(kernel_cmdline(Viommu::Intel).contains("intel_iommu=on"));
    }

    #[test]
    fn guest_env_of_the_user_replaces_the_targets_same_names() {
        assert_eq!(
            guest_env_words("HOTPLUG_CYCLES=5 A=1", "HOTPLUG_CYCLES=2 B=3 junk"),
            ["A=1", "HOTPLUG_CYCLES=2", "B=3"]
        );
        assert_eq!(
            guest_env_words("HOTPLUG_CYCLES=5", ""),
            ["HOTPLUG_CYCLES=5"]
        );
        assert!(guest_env_words("", "").is_empty());
    }

    #[test]
    fn parse_list_all_and_errors() {
        assert_eq!(
            Viommu::parse_list("virtio,intel").unwrap(),
            vec![Viommu::Virtio, Viommu::Intel]
        );
        assert!(Viommu::parse_list("arm").is_err());
    }

    #[test]
    fn smmuv3_targets_share_the_topology_and_differ_in_firmware() {
        let dt = args(&spec(Viommu::Smmuv3Dt)).join(" ");
        let acpi = args(&spec(Viommu::Smmuv3Acpi)).join(" ");
        for a in [&dt, &acpi] {
            assert!(a.contains("-machine virt,iommu=smmuv3"), "{a}");
            assert!(a.contains("id=grpB,bus=pcibr"), "{a}");
            assert!(a.contains("console=ttyAMA0"), "{a}");
            assert!(!a.contains("intel-iommu") && !a.contains("amd-iommu"));
        }
        assert!(!dt.contains("-bios") && dt.contains("acpi=off"), "{dt}");
        assert!(
            acpi.contains("-bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd"),
            "{acpi}"
        );
        assert!(acpi.contains("acpi=force"), "{acpi}");
        assert!(kernel_cmdline(Viommu::Intel).starts_with("console=ttyS0,115200 "));
    }
}
