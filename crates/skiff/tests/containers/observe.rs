//! Looking at containers: `logs` (follow, tail, timestamps), `ps` filters and formats, and the
//! container counts `info` gives.

use crate::common::{busybox, eventually};

#[test]
fn logs_follow_tail_and_timestamps() {
    let env = busybox();
    env.run(&["run", "-d", "--name", "talk", "busybox", "sh", "-c", "for i in 1 2 3; do echo line $i; done"]).ok();
    // -f returns when the container has exited and everything is printed.
    env.run(&["wait", "talk"]).ok();
    let r = env.run(&["logs", "-f", "talk"]).ok();
    assert_eq!(r.stdout(), "line 1\nline 2\nline 3\n");
    assert_eq!(env.run(&["logs", "--tail", "1", "talk"]).ok().stdout(), "line 3\n");
    let ts = env.run(&["logs", "-t", "--tail", "1", "talk"]).ok().stdout();
    let (t, rest) = ts.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{ts}");
    assert_eq!(rest, "line 3\n");
    env.run(&["rm", "talk"]).ok();
}

#[test]
fn ps_filters_and_formats() {
    let env = busybox();
    env.run(&["create", "--name", "idle", "busybox", "true"]).ok();
    env.run(&["run", "--name", "done", "busybox", "sh", "-c", "exit 2"]);
    let up = env.run(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]).ok().stdout();
    let names = |args: &[&str]| {
        let mut v: Vec<String> = env
            .run(&[&["ps", "--format", "{{.Names}}"], args].concat())
            .ok()
            .stdout()
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), vec!["up"]);
    assert_eq!(names(&["-a"]), vec!["done", "idle", "up"]);
    assert_eq!(names(&["-f", "status=exited"]), vec!["done"]);
    assert_eq!(names(&["-f", "status=created"]), vec!["idle"]);
    assert_eq!(names(&["-a", "-f", "exited=2"]), vec!["done"]);
    assert_eq!(names(&["-a", "-f", "name=id"]), vec!["idle"]);
    assert_eq!(names(&["-a", "-f", &format!("id={}", &up[..8])]), vec!["up"]);
    let q = env.run(&["ps", "-q", "--no-trunc"]).ok().stdout();
    assert_eq!(q, up);
    let j = env.run(&["ps", "--format", "{{json .}}"]).ok().stdout();
    let v: serde_json::Value = serde_json::from_str(j.trim()).unwrap();
    assert_eq!(
        (v["Names"].as_str(), v["State"].as_str(), v["Image"].as_str()),
        (Some("up"), Some("running"), Some("busybox"))
    );
    let t = env.run(&["ps", "-a", "--format", "table {{.Names}}\t{{.Status}}"]).ok().stdout();
    assert!(t.starts_with("NAMES     STATUS\n"), "{t:?}");
    assert!(t.contains("Exited (2) ") && t.contains("Created"), "{t}");
    let raw = std::fs::read_to_string(env.root().join(format!("containers/{0}/{0}-json.log", up.trim())));
    assert!(raw.map(|r| r.is_empty()).unwrap_or(true));
}

#[test]
fn info_counts_follow_the_monitor() {
    let env = busybox();
    env.run(&["run", "-d", "busybox", "true"]).ok();
    // No skiff command looks at the container: its monitor records the exit in the metadata.
    let info = eventually("info to count the stopped container", || {
        let i = env.run(&["info"]).ok().stdout();
        i.contains("  Stopped: 1").then_some(i)
    });
    assert!(info.contains(" Containers: 1\n  Running: 0"), "{info}");
}
