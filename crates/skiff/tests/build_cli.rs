//! `skiff build` end to end: the seed 004 hello example (a static C program,
//! `FROM scratch` / `ADD hello /` / `CMD ["/hello"]`), its output and history,
//! the cache on rebuild, contexts on stdin, and errors.

mod common;
use common::*;

fn hello_context(env: &Env) -> std::path::PathBuf {
    let ctx = env.path("hello-world");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.c"), "#include<stdio.h>\nint main()\n{\nprintf(\"hello docker\\n\");\n}\n").unwrap();
    let st = std::process::Command::new("gcc")
        .args(["-static", "hello.c", "-o", "hello"])
        .current_dir(&ctx)
        .status()
        .expect("gcc runs");
    assert!(st.success(), "gcc -static failed");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nADD hello /\nCMD [\"/hello\"]\n").unwrap();
    ctx
}

#[test]
fn seed_hello_world_builds_from_scratch() {
    let env = new_env();
    let ctx = hello_context(&env);
    let r = env.run(&["build", "-t", "xupan/hello-world", ctx.to_str().unwrap()]).ok();
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Step 1/3 : FROM scratch");
    assert_eq!(lines[1].trim_end(), " --->");
    assert_eq!(lines[2], "Step 2/3 : ADD hello /");
    let add_id = lines[3].strip_prefix(" ---> ").unwrap();
    assert_eq!(add_id.len(), 12);
    assert_eq!(lines[4], "Step 3/3 : CMD [\"/hello\"]");
    let cid = lines[5].strip_prefix(" ---> Running in ").unwrap();
    assert_eq!(lines[6], format!("Removing intermediate container {cid}"));
    let id = lines[7].strip_prefix(" ---> ").unwrap();
    assert_eq!(lines[8], format!("Successfully built {id}"));
    assert_eq!(lines[9], "Successfully tagged xupan/hello-world:latest");
    assert_eq!(lines.len(), 10);

    // `docker history`: the two entries, with their image IDs.
    let h = env.run(&["history", "xupan/hello-world"]).ok().stdout();
    let rows: Vec<&str> = h.lines().collect();
    assert_eq!(rows.len(), 3, "{h}");
    assert!(
        rows[1].starts_with(id) && rows[1].contains("/bin/sh -c #(nop)  CMD [\"/hello\"]") && rows[1].contains(" 0B"),
        "{h}"
    );
    assert!(rows[2].starts_with(add_id) && rows[2].contains("/bin/sh -c #(nop) ADD file:"), "{h}");
    let size = std::fs::metadata(ctx.join("hello")).unwrap().len();
    let full =
        env.run(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "xupan/hello-world"]).ok().stdout();
    let entries: Vec<&str> = full.lines().collect();
    assert!(entries[1].contains(" in / |"), "{full}");
    assert!(entries[1].starts_with("/bin/sh -c #(nop) ADD file:"), "{full}");
    // The config and the layer.
    let inspect: serde_json::Value =
        serde_json::from_str(&env.run(&["image", "inspect", "xupan/hello-world"]).ok().stdout()).unwrap();
    let img = &inspect[0];
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(
        img["Config"]["Env"],
        serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    );
    assert_eq!(img["ContainerConfig"]["Cmd"], serde_json::json!(["/bin/sh", "-c", "#(nop) ", "CMD [\"/hello\"]"]));
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(img["Size"].as_u64().unwrap(), size);
    assert!(img["Parent"].as_str().unwrap().starts_with(&format!("sha256:{add_id}")));

    // Rebuilding changes nothing and hits the cache for both steps.
    let before = env.run(&["images", "-a", "-q"]).stdout();
    let r = env.run(&["build", "-t", "xupan/hello-world", ctx.to_str().unwrap()]).ok();
    assert_eq!(r.stdout().matches(" ---> Using cache").count(), 2, "{}", r.stdout());
    assert!(r.stdout().contains(&format!("Successfully built {id}")));
    assert_eq!(env.run(&["images", "-a", "-q"]).stdout(), before);

    // -q prints only the ID.
    let q = env.run(&["build", "-q", ctx.to_str().unwrap()]).ok().stdout();
    assert_eq!(q.trim().len(), 71);
    assert!(q.trim().starts_with(&format!("sha256:{id}")));
}

#[test]
fn context_and_dockerfile_on_stdin() {
    let env = new_env();
    // A lone Dockerfile on stdin: an empty context.
    let r = env.run_stdin(&["build", "-t", "meta:1", "-"], Some(b"FROM scratch\nLABEL a=b\nCMD [\"x\"]\n")).ok();
    assert!(r.stdout().contains("Successfully tagged meta:1"), "{}", r.stdout());
    // A tar context on stdin.
    let tar = small_tar(&[("Dockerfile", b"FROM scratch\nCOPY f.txt /f.txt\n"), ("f.txt", b"data")]);
    let r = env.run_stdin(&["build", "-t", "fromtar", "-"], Some(&tar)).ok();
    assert!(r.stdout().contains("Step 2/2 : COPY f.txt /f.txt"), "{}", r.stdout());
    let h = env.run(&["history", "--format", "{{.Size}}", "fromtar"]).ok().stdout();
    assert_eq!(h.lines().next().unwrap(), "4B");
    // -f names another Dockerfile.
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Other.dockerfile"), "FROM scratch\nLABEL other=yes\n").unwrap();
    let r = env.run(&["build", "-f", ctx.join("Other.dockerfile").to_str().unwrap(), ctx.to_str().unwrap()]).ok();
    assert!(r.stdout().contains("Step 2/2 : LABEL other=yes"));
}

#[test]
fn build_errors_name_the_line_and_exit_1() {
    let env = new_env();
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nLABEL a=b\nFOO bar\n").unwrap();
    let r = env.run(&["build", ctx.to_str().unwrap()]).fails();
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("Dockerfile:3: unknown instruction: FOO"), "{}", r.stderr());
    let busybox = fixture("busybox.docker.tar");
    env.run(&["load", "-i", busybox.to_str().unwrap()]).ok();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY missing.txt /\n").unwrap();
    let r = env.run(&["build", ctx.to_str().unwrap()]).fails();
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains(
            "Dockerfile:2: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"
        ),
        "{}",
        r.stderr()
    );
    assert!(
        r.stdout().starts_with("Step 1/2 : FROM busybox\n ---> b8fec42fe388\nStep 2/2 : COPY missing.txt /\n"),
        "{}",
        r.stdout()
    );
}
