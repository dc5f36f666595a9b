//! The QEMU command line: q35 with a virtual IOMMU and the PCI topology the
//! guest tests rely on (names documented in docs/pipeline.md):
//!
//! - `rp1` root port with e1000 `solo` alone on it;
//! - `rp2` root port → `pcie-pci-bridge` `pcibr` → e1000 `grpA` (slot 1)
//!   and `grpB` (slot 2): one IOMMU group;
//! - `hotplug1`: an empty hotplug-capable root port for `device_add`.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// The virtual IOMMU put in front of the guest's PCI devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Viommu {
    Intel,
    Amd,
    Virtio,
}

impl Viommu {
    pub const ALL: [Viommu; 3] = [Viommu::Intel, Viommu::Amd, Viommu::Virtio];

    pub fn name(self) -> &'static str {
        match self {
            Viommu::Intel => "intel",
            Viommu::Amd => "amd",
            Viommu::Virtio => "virtio",
        }
    }

    pub fn parse(s: &str) -> Result<Viommu> {
        match s {
            "intel" => Ok(Viommu::Intel),
            "amd" => Ok(Viommu::Amd),
            "virtio" => Ok(Viommu::Virtio),
            other => bail!("unknown vIOMMU `{other}`: use intel, amd or virtio"),
        }
    }

    /// Parse a comma-separated list (`intel,amd`); `all` means all three.
    pub fn parse_list(s: &str) -> Result<Vec<Viommu>> {
        if s == "all" {
            return Ok(Viommu::ALL.to_vec());
        }
        s.split(',').map(|p| Viommu::parse(p.trim())).collect()
    }

    /// Machine type and the IOMMU device.
    fn machine_and_device(self) -> (&'static str, &'static str) {
        match self {
            Viommu::Intel => (
                "q35,kernel-irqchip=split",
                "intel-iommu,intremap=on,caching-mode=on",
            ),
            Viommu::Amd => ("q35", "amd-iommu"),
            Viommu::Virtio => ("q35", "virtio-iommu-pci"),
        }
    }

    /// Kernel command line words that turn this IOMMU on in the guest.
    fn cmdline(self) -> &'static str {
        match self {
            Viommu::Intel => "intel_iommu=on",
            Viommu::Amd => "",
            Viommu::Virtio => "",
        }
    }
}

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
    let mut words = vec![
        "console=ttyS0,115200",
        "panic=-1",
        "oops=panic",
        "iommu.strict=1",
        "iommu.passthrough=0",
    ];
    let extra = iommu.cmdline();
    if !extra.is_empty() {
        words.push(extra);
    }
    let mut line = words.join(" ");
    // NAME=value words for the guest tests (run-tests.sh gets them as its
    // environment), e.g. SERIES_GUEST_ENV="DMA_OWNER_CYCLES=20".
    if let Ok(env) = std::env::var(GUEST_ENV) {
        for word in env.split_whitespace().filter(|w| w.contains('=')) {
            line.push(' ');
            line.push_str(word);
        }
    }
    line
}

/// The variable whose NAME=value words are passed to the guest tests.
pub const GUEST_ENV: &str = "SERIES_GUEST_ENV";

/// The QEMU arguments (without the program name).
pub fn args(spec: &QemuSpec) -> Vec<String> {
    let (machine, iommu_dev) = spec.iommu.machine_and_device();
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
        "-display",
        "none",
    ]);
    push(&["-machine", machine]);
    if spec.kvm {
        push(&["-accel", "kvm", "-accel", "tcg"]);
    } else {
        push(&["-accel", "tcg"]);
    }
    push(&["-cpu", "max"]);
    let mem = spec.memory_mb.to_string();
    let smp = spec.cpus.to_string();
    push(&["-m", &mem, "-smp", &smp]);
    // The IOMMU first: intel-iommu and amd-iommu must exist before the
    // devices they translate for.
    push(&["-device", iommu_dev]);
    push(&[
        "-device",
        "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x10",
    ]);
    push(&["-device", "e1000,id=solo,bus=rp1"]);
    push(&[
        "-device",
        "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x11",
    ]);
    push(&["-device", "pcie-pci-bridge,id=pcibr,bus=rp2"]);
    push(&["-device", "e1000,id=grpA,bus=pcibr,addr=0x1"]);
    push(&["-device", "e1000,id=grpB,bus=pcibr,addr=0x2"]);
    push(&[
        "-device",
        "pcie-root-port,id=hotplug1,bus=pcie.0,chassis=3,slot=3,addr=0x12,hotplug=on",
    ]);
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
    fn parse_list_all_and_errors() {
        assert_eq!(Viommu::parse_list("all").unwrap().len(), 3);
        assert_eq!(
            Viommu::parse_list("virtio,intel").unwrap(),
            vec![Viommu::Virtio, Viommu::Intel]
        );
        assert!(Viommu::parse_list("arm").is_err());
    }
}
