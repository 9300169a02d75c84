//! `skiff info` and `skiff version`, in the shape Docker prints them.

use super::{open_store, GlobalOpts};
use crate::output::units;
use clap::Args;
use serde_json::json;
use std::io::Write;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into())
}

fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn backing_fs(path: &std::path::Path) -> String {
    match rustix::fs::statfs(path) {
        Ok(s) => match s.f_type {
            0xEF53 => "extfs".into(),
            0x58465342 => "xfs".into(),
            0x9123683E => "btrfs".into(),
            0x01021994 => "tmpfs".into(),
            0x794c7630 => "overlayfs".into(),
            other => format!("<unknown> ({other:#x})"),
        },
        Err(_) => "<unknown>".into(),
    }
}

pub fn info(g: &GlobalOpts, a: InfoArgs) -> anyhow::Result<u8> {
    let store = open_store(g)?;
    let images = store.images()?.len();
    let (total, running, paused, stopped) = skiff_engine::container::counts(&store)?;
    let uname = rustix::system::uname();
    let kernel = uname.release().to_string_lossy().into_owned();
    let arch = uname.machine().to_string_lossy().into_owned();
    let host = uname.nodename().to_string_lossy().into_owned();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = total_memory();
    let registry = skiff_registry::RegistryConfig::load().unwrap_or_else(|e| {
        eprintln!("WARNING: {e}");
        skiff_registry::RegistryConfig { tls_verify: true, ..Default::default() }
    });
    let (insecure_hosts, insecure_cidrs) = registry.insecure_for_display();
    let mut index_configs = serde_json::Map::new();
    index_configs.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": registry.mirrors, "Secure": true, "Official": true}),
    );
    for h in &insecure_hosts {
        index_configs.insert(h.clone(), json!({"Name": h, "Mirrors": [], "Secure": false, "Official": false}));
    }
    let v = json!({
        "Containers": total, "ContainersRunning": running, "ContainersPaused": paused, "ContainersStopped": stopped,
        "Images": images, "ServerVersion": env!("CARGO_PKG_VERSION"), "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", backing_fs(&g.root)], ["Supports d_type", "true"]],
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version(),
        "KernelVersion": kernel, "OperatingSystem": os_name(), "OSType": "linux", "Architecture": arch,
        "NCPU": cpus, "MemTotal": mem, "Name": host, "DockerRootDir": g.root.display().to_string(),
        "Debug": g.debug, "SecurityOptions": ["name=seccomp,profile=default"],
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": insecure_cidrs, "IndexConfigs": index_configs, "Mirrors": registry.mirrors,
        },
    });
    let mut out = std::io::stdout().lock();
    if let Some(f) = &a.format {
        let t = crate::output::template::Template::parse(f)?;
        writeln!(out, "{}", t.execute(&v)?)?;
        return Ok(0);
    }
    writeln!(out, "Client:\n Context:    default\n Debug Mode: {}\n", g.debug)?;
    writeln!(out, "Server:")?;
    writeln!(out, " Containers: {total}\n  Running: {running}\n  Paused: {paused}\n  Stopped: {stopped}")?;
    writeln!(out, " Images: {images}")?;
    writeln!(out, " Server Version: {} (skiff, daemonless)", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, " Storage Driver: overlay\n  Backing Filesystem: {}\n  Supports d_type: true", backing_fs(&g.root))?;
    writeln!(out, " Logging Driver: json-file\n Cgroup Driver: cgroupfs\n Cgroup Version: {}", cgroup_version())?;
    // As Docker lists them: apparmor only where the kernel has it.
    let apparmor = if skiff_runtime::apparmor_enabled() { "  apparmor\n" } else { "" };
    writeln!(out, " Security Options:\n{apparmor}  seccomp\n   Profile: default")?;
    writeln!(
        out,
        " Kernel Version: {kernel}\n Operating System: {}\n OSType: linux\n Architecture: {arch}",
        os_name()
    )?;
    writeln!(out, " CPUs: {cpus}\n Total Memory: {}\n Name: {host}", units::bytes_size(mem))?;
    writeln!(out, " Docker Root Dir: {}\n Debug Mode: {}", g.root.display(), g.debug)?;
    writeln!(out, " Registry: https://index.docker.io/v1/\n Experimental: false")?;
    // As Docker prints them: insecure host names, then CIDRs; then the mirrors; each only when there are any.
    if !insecure_hosts.is_empty() || !insecure_cidrs.is_empty() {
        writeln!(out, " Insecure Registries:")?;
        for r in insecure_hosts.iter().chain(&insecure_cidrs) {
            writeln!(out, "  {r}")?;
        }
    }
    if !registry.mirrors.is_empty() {
        writeln!(out, " Registry Mirrors:")?;
        for m in &registry.mirrors {
            writeln!(out, "  {m}")?;
        }
    }
    writeln!(out, " Live Restore Enabled: false")?;
    Ok(0)
}

pub fn version(_g: &GlobalOpts, a: VersionArgs) -> anyhow::Result<u8> {
    let arch = skiff_image::oci::host_architecture();
    let v = json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": "1.41", "Os": "linux", "Arch": arch},
        "Server": {"Version": env!("CARGO_PKG_VERSION"), "Os": "linux", "Arch": arch,
                   "KernelVersion": rustix::system::uname().release().to_string_lossy()},
    });
    let mut out = std::io::stdout().lock();
    if let Some(f) = &a.format {
        let t = crate::output::template::Template::parse(f)?;
        writeln!(out, "{}", t.execute(&v)?)?;
        return Ok(0);
    }
    let ver = env!("CARGO_PKG_VERSION");
    writeln!(out, "Client: skiff\n Version:           {ver}\n API version:       1.41\n OS/Arch:           linux/{arch}\n Context:           default\n")?;
    writeln!(out, "Server: skiff (daemonless)\n Engine:\n  Version:          {ver}\n  API version:      1.41 (minimum version 1.12)\n  OS/Arch:          linux/{arch}")?;
    writeln!(out, "  Kernel Version:   {}", rustix::system::uname().release().to_string_lossy())?;
    Ok(0)
}
