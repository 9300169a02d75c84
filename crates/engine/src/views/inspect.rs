//! Docker's `ContainerJSON`: what `docker inspect` prints for a container and the Engine API's
//! `GET /containers/{id}/json` returns, from the record, the runtime state, the image and the
//! generated spec.

use crate::error::Result;
use crate::mounts::{MountSource, Propagation};
use crate::record::Container;
use crate::state::Status;
use crate::Engine;
use serde_json::{json, Value};

fn ns_mode(m: &crate::NsMode, private: &str) -> String {
    m.docker_string(private)
}

impl Engine {
    /// Docker's `ContainerJSON` (`docker inspect`, `GET /containers/{id}/json`) for `c`.
    pub fn inspect(&self, c: &Container) -> Result<Value> {
        container_json(self, c)
    }
}

fn container_json(engine: &Engine, c: &Container) -> Result<Value> {
    let store = engine.store();
    let st = engine.status(c);
    let (pid, code, started, finished, oom) = match &st {
        Status::Created => (0, 0, String::new(), String::new(), false),
        Status::Running { pid, started } | Status::Paused { pid, started } => {
            (*pid, 0, started.clone(), String::new(), false)
        }
        Status::Exited { code, started, finished, oom_killed } => {
            (0, *code, started.clone(), finished.clone(), *oom_killed)
        }
    };
    let zero = "0001-01-01T00:00:00Z".to_string();
    let o = &c.opts;
    let dir = c.dir(store);
    let image_id = &c.image_id;
    let lower: Vec<String> = store
        .image_layers(image_id)?
        .iter()
        .rev()
        .map(|l| store.layer_dir(&l.chain_id).display().to_string())
        .collect();
    let cfg = store.config(image_id)?.config.unwrap_or_default();
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mounts: Vec<Value> = o
        .mounts
        .iter()
        .filter_map(|m| match &m.source {
            MountSource::Bind { source } => Some(json!({"Type": "bind", "Source": source, "Destination": m.target,
                "Mode": m.mode, "RW": !m.read_only, "Propagation": m.propagation.unwrap_or(Propagation::Rprivate).as_str()})),
            MountSource::Volume { name, .. } => {
                let src = store.root().join("volumes").join(name).join("_data");
                Some(json!({"Type": "volume", "Name": name, "Source": src, "Destination": m.target, "Driver": "local",
                    "Mode": m.mode, "RW": !m.read_only, "Propagation": ""}))
            }
            MountSource::Tmpfs { .. } => None,
        })
        .collect();
    let binds: Vec<String> = o.mounts.iter().filter_map(crate::Mount::bind_spec).collect();
    let tmpfs: serde_json::Map<String, Value> = o
        .mounts
        .iter()
        .filter_map(|m| match &m.source {
            MountSource::Tmpfs { options } => Some((m.target.clone(), json!(options))),
            _ => None,
        })
        .collect();
    let host_config = json!({
        "Binds": if binds.is_empty() { Value::Null } else { json!(binds) },
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": o.network.docker_string(),
        "AutoRemove": o.auto_remove,
        "CapAdd": if o.cap_add.is_empty() { Value::Null } else { json!(o.cap_add) },
        "CapDrop": if o.cap_drop.is_empty() { Value::Null } else { json!(o.cap_drop) },
        "IpcMode": ns_mode(&o.ipc, "private"),
        "PidMode": ns_mode(&o.pid, ""),
        "UTSMode": ns_mode(&o.uts, ""),
        "Privileged": o.privileged,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": if o.security_opt.is_empty() { Value::Null } else { json!(o.security_opt) },
        "Tmpfs": tmpfs,
        "ShmSize": o.shm_size.unwrap_or(67108864),
        "Runtime": o.runtime.as_deref().unwrap_or("skiff"),
        "CpuShares": o.resources.cpu_shares.unwrap_or(0),
        "Memory": o.resources.memory.unwrap_or(0),
        "NanoCpus": o.resources.nano_cpus.unwrap_or(0),
        "BlkioWeight": o.resources.blkio_weight.unwrap_or(0),
        "CpusetCpus": o.resources.cpuset_cpus.clone().unwrap_or_default(),
        "MemoryReservation": o.resources.memory_reservation.unwrap_or(0),
        "MemorySwap": o.resources.memory_swap.unwrap_or(0),
        "PidsLimit": o.resources.pids_limit,
        "Init": o.init,
        "MaskedPaths": spec["linux"]["maskedPaths"],
        "ReadonlyPaths": spec["linux"]["readonlyPaths"],
    });
    // Docker's Config.Env: the image's ENV with -e applied (not the runtime additions).
    let mut config_env = cfg.env.clone().unwrap_or_default();
    for e in &o.env {
        crate::spec::replace_or_append(&mut config_env, e);
    }
    let config = json!({
        "Hostname": spec["hostname"],
        "Domainname": "",
        "User": o.user.clone().unwrap_or(cfg.user.clone()),
        "AttachStdin": o.interactive && !o.detach,
        "AttachStdout": !o.detach,
        "AttachStderr": !o.detach,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive && !o.detach,
        "Env": config_env,
        "Cmd": if o.cmd.is_empty() { json!(cfg.cmd) } else { json!(o.cmd) },
        "Image": c.image,
        "Volumes": cfg.volumes,
        "WorkingDir": spec["process"]["cwd"],
        "Entrypoint": match &o.entrypoint { Some(e) if e.is_empty() => Value::Null, Some(e) => json!([e]), None => json!(cfg.entrypoint) },
        "OnBuild": Value::Null,
        "Labels": cfg.labels.unwrap_or_default(),
        "StopSignal": o.stop_signal,
    });
    let v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.word(),
            "Running": st.is_running(),
            "Paused": matches!(st, Status::Paused { .. }),
            "Restarting": false,
            "OOMKilled": oom,
            "Dead": false,
            "Pid": pid,
            "ExitCode": code,
            "Error": "",
            "StartedAt": if started.is_empty() { zero.clone() } else { started },
            "FinishedAt": if finished.is_empty() { zero.clone() } else { finished },
        },
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": c.log_path(store),
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": crate::apparmor::choose(
            skiff_runtime::apparmor_enabled(),
            crate::apparmor::requested(&o.security_opt),
            o.privileged
        )
        .unwrap_or_default(),
        "ExecIDs": Value::Null,
        "HostConfig": host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": lower.join(":"),
                "MergedDir": dir.join("rootfs"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
            },
            "Name": "overlay2",
        },
        "Mounts": mounts,
        "Config": config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "Ports": {},
            "SandboxKey": if pid > 0 { format!("/proc/{pid}/ns/net") } else { String::new() },
            "Networks": {},
        },
    });
    Ok(v)
}
