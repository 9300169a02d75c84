//! Times `spawn` + `wait` of `true` with Docker's default spec: `spawn_true ROOTFS [N]`.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = &args[1];
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/facts/docker-oci-config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    v["root"]["path"] = root.as_str().into();
    v["process"]["args"] = serde_json::json!(["true"]);
    v["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "bind");
    let mut times = Vec::new();
    for i in 0..n {
        v["linux"]["cgroupsPath"] = format!("/skiff-bench/{i}").into();
        let spec: skiff_runtime::oci_spec::runtime::Spec = serde_json::from_value(v.clone()).unwrap();
        let t = Instant::now();
        let opts = skiff_runtime::SpawnOptions {
            id: format!("b{i}"),
            stdio: Default::default(),
            terminal: skiff_runtime::Terminal::None,
            cgroup_root: "/sys/fs/cgroup".into(),
            wait_for_start: false,
            preserve_fds: Vec::new(),
        };
        let s = skiff_runtime::spawn(&spec, opts).unwrap();
        let t1 = t.elapsed().as_secs_f64() * 1000.0;
        skiff_runtime::wait(s.pid).unwrap();
        let t2 = t.elapsed().as_secs_f64() * 1000.0;
        let cg =
            skiff_runtime::cgroups::CgroupManager::new("/sys/fs/cgroup".as_ref(), format!("/skiff-bench/{i}").as_ref())
                .unwrap();
        cg.remove().unwrap();
        let t3 = t.elapsed().as_secs_f64() * 1000.0;
        if std::env::var_os("VERBOSE").is_some() {
            eprintln!("spawn {t1:.2} exit {t2:.2} removed {t3:.2}");
        }
        times.push(t3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("median {:.2} ms, min {:.2} ms, max {:.2} ms over {n}", times[n / 2], times[0], times[n - 1]);
}
