//! cgroup v1 controllers: one directory per hierarchy (memory, cpu, cpuacct, cpuset, pids, blkio,
//! freezer, devices, ...), each file written as the kernel's cgroup-v1 documentation describes.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{keyed, read, read_u64, write, CgroupError, CgroupManager, CgroupStats, Result};

/// A cgroup file taking one rule per write(2) (devices.allow, devices.deny), opened on first use.
struct RuleFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl RuleFile {
    fn new(path: PathBuf) -> Self {
        Self { path, file: None }
    }

    fn write(&mut self, rule: &str) -> Result<()> {
        use std::io::Write;
        let err = |source| CgroupError::Write { path: self.path.clone(), value: rule.to_string(), source };
        if self.file.is_none() {
            self.file = Some(std::fs::OpenOptions::new().write(true).open(&self.path).map_err(err)?);
        }
        let f = self.file.as_mut().expect("opened above");
        match f.write(rule.as_bytes()) {
            Ok(n) if n == rule.len() => Ok(()),
            Ok(_) => Err(err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"))),
            Err(e) => Err(err(e)),
        }
    }
}

/// v1 reports "unlimited" as a huge page-aligned number.
const UNLIMITED: u64 = 0x7FFF_FFFF_FFFF_F000;

pub(super) fn create(hierarchies: &[(String, PathBuf)]) -> Result<()> {
    for (name, dir) in hierarchies {
        std::fs::create_dir_all(dir).map_err(|source| CgroupError::Create { path: dir.clone(), source })?;
        if name.split(',').any(|c| c == "cpuset") {
            fill_cpuset(dir)?;
        }
    }
    Ok(())
}

/// A new cpuset cgroup starts empty and accepts no tasks until cpus and mems are set: copy them
/// down from the nearest ancestor that has them, top first. Stops at a directory that is not a
/// cpuset cgroup (above the hierarchy's root).
fn fill_cpuset(dir: &Path) -> Result<()> {
    let mut empty = Vec::new();
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let Ok(own) = std::fs::read_to_string(dir.join(f)) else { return Ok(()) };
        if own.trim().is_empty() {
            empty.push(f);
        }
    }
    let Some(parent) = dir.parent().filter(|_| !empty.is_empty()) else { return Ok(()) };
    fill_cpuset(parent)?;
    for f in empty {
        if let Ok(p) = std::fs::read_to_string(parent.join(f)) {
            if !p.trim().is_empty() {
                write(&dir.join(f), p.trim())?;
            }
        }
    }
    Ok(())
}

fn dir(m: &CgroupManager, c: &str) -> Option<PathBuf> {
    m.dir(c)
}

pub(super) fn apply(m: &CgroupManager, r: &LinuxResources, initial: bool) -> Result<()> {
    if let (Some(mem), Some(d)) = (r.memory(), dir(m, "memory")) {
        let limit = mem.limit();
        let swap = mem.swap();
        let memsw = d.join("memory.memsw.limit_in_bytes");
        let set_limit = |v: i64| write(&d.join("memory.limit_in_bytes"), &v.to_string());
        let set_swap = |v: i64| if memsw.exists() { write(&memsw, &v.to_string()) } else { Ok(()) };
        match (limit, swap) {
            (Some(l), Some(s)) => {
                // memsw must stay >= limit at every step: try one order, then the other.
                if set_limit(l).and_then(|_| set_swap(s)).is_err() {
                    set_swap(s)?;
                    set_limit(l)?;
                }
            }
            (Some(l), None) => {
                if set_limit(l).is_err() {
                    set_swap(-1)?;
                    set_limit(l)?;
                }
            }
            (None, Some(s)) => set_swap(s)?,
            (None, None) => {}
        }
        if let Some(res) = mem.reservation() {
            write(&d.join("memory.soft_limit_in_bytes"), &res.to_string())?;
        }
        if let Some(sw) = mem.swappiness() {
            write(&d.join("memory.swappiness"), &sw.to_string())?;
        }
        if mem.disable_oom_killer() == Some(true) {
            write(&d.join("memory.oom_control"), "1")?;
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(d) = dir(m, "cpu") {
            if let Some(s) = cpu.shares().filter(|s| *s != 0) {
                let f = d.join("cpu.shares");
                write(&f, &s.to_string())?;
                // The kernel clamps out-of-range shares silently; read back, as runc does, to say so.
                let got =
                    std::fs::read_to_string(&f).map_err(|source| CgroupError::Read { path: f.clone(), source })?;
                let got: u64 =
                    got.trim().parse().map_err(|_| CgroupError::Parse { path: f.clone(), value: got.trim().into() })?;
                if got != s {
                    let bound = if s > got { "maximum" } else { "minimum" };
                    return Err(CgroupError::SharesOutOfRange { bound, value: got });
                }
            }
            if let Some(p) = cpu.period().filter(|p| *p != 0) {
                write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
            }
            if let Some(q) = cpu.quota().filter(|q| *q != 0) {
                write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
        }
        if let Some(d) = dir(m, "cpuset") {
            if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
                write(&d.join("cpuset.cpus"), c)?;
            }
            if let Some(c) = cpu.mems().as_deref().filter(|c| !c.is_empty()) {
                write(&d.join("cpuset.mems"), c)?;
            }
        }
    }
    if let (Some(p), Some(d)) = (r.pids(), dir(m, "pids")) {
        let v = if p.limit() > 0 { p.limit().to_string() } else { "max".to_string() };
        write(&d.join("pids.max"), &v)?;
    }
    if let (Some(b), Some(d)) = (r.block_io(), dir(m, "blkio")) {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            let f = ["blkio.weight", "blkio.bfq.weight"].iter().map(|f| d.join(f)).find(|f| f.exists());
            match f {
                Some(f) => write(&f, &w.to_string())?,
                None => {
                    return Err(CgroupError::Write {
                        path: d.join("blkio.weight"),
                        value: w.to_string(),
                        source: std::io::Error::from_raw_os_error(libc::ENOENT),
                    })
                }
            }
        }
    }
    if initial {
        if let (Some(devs), Some(d)) = (r.devices(), dir(m, "devices")) {
            // One open file per rule list: the kernel takes each write(2) as one rule.
            let mut allow = RuleFile::new(d.join("devices.allow"));
            let mut deny = RuleFile::new(d.join("devices.deny"));
            for rule in devs.iter() {
                let t = rule.typ().map(|t| t.as_str().to_string()).unwrap_or_else(|| "a".into());
                let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_else(|| "*".into());
                let line = format!(
                    "{} {}:{} {}",
                    t,
                    num(rule.major()),
                    num(rule.minor()),
                    rule.access().clone().unwrap_or_else(|| "rwm".into())
                );
                let line = if t == "a" { "a".to_string() } else { line };
                if rule.allow() {
                    allow.write(&line)?
                } else {
                    deny.write(&line)?
                }
            }
            if !devs.is_empty() {
                // The default devices and ptys, which every container needs (runc's list).
                for (t, major, minor) in super::devices::DEFAULT_ALLOWED {
                    let minor = minor.map(|m| m.to_string()).unwrap_or_else(|| "*".into());
                    allow.write(&format!("{t} {major}:{minor} rwm"))?;
                }
            }
        }
    }
    Ok(())
}

pub(super) fn stats(m: &CgroupManager) -> Result<CgroupStats> {
    let mut s = CgroupStats::default();
    if let Some(d) = dir(m, "cpuacct") {
        s.cpu_usage_ns = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
    }
    if let Some(d) = dir(m, "memory") {
        s.memory_usage = read_u64(&d.join("memory.usage_in_bytes"))?;
        let l = read_u64(&d.join("memory.limit_in_bytes"))?;
        s.memory_limit = (l < UNLIMITED).then_some(l);
        // oom_kill appears in memory.oom_control on kernels >= 4.13.
        s.oom_kill_count = keyed(&d.join("memory.oom_control"), "oom_kill").unwrap_or(0);
    }
    if let Some(d) = dir(m, "pids") {
        s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
        let max = read(&d.join("pids.max")).unwrap_or_default();
        s.pids_limit = max.trim().parse().ok();
    }
    if let Some(d) = dir(m, "blkio") {
        let text = ["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes"]
            .iter()
            .find_map(|f| std::fs::read_to_string(d.join(f)).ok())
            .unwrap_or_default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 3 {
                let v: u64 = f[2].parse().unwrap_or(0);
                match f[1] {
                    "Read" => s.blkio_read_bytes += v,
                    "Write" => s.blkio_write_bytes += v,
                    _ => {}
                }
            }
        }
    }
    Ok(s)
}

pub(super) fn set_freezer(m: &CgroupManager, frozen: bool) -> Result<()> {
    let Some(d) = dir(m, "freezer") else {
        return Err(CgroupError::NoHierarchy(PathBuf::from("freezer")));
    };
    let f = d.join("freezer.state");
    let want = if frozen { "FROZEN" } else { "THAWED" };
    loop {
        write(&f, want)?;
        let now = read(&f)?;
        if now.trim() == want {
            return Ok(());
        }
        // FREEZING: the kernel is still working; ask again (no sleep-based timing).
        std::thread::yield_now();
    }
}
