//! `skiff cp`: files and trees both ways, tar streams both ways (`-`), every container path resolved
//! inside the container's root.

use crate::common::{busybox, gzip};

#[test]
fn cp_copies_trees_both_ways_and_stays_inside_the_container() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let sh = |script: &str| env.run(&["exec", &id, "sh", "-c", script]).ok().stdout();
    sh("mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && chmod 750 /data/sub \
        && ln -s /etc/passwd /data/link && chown 1000:1000 /data/a && mkfifo /data/fifo && ln /data/a /data/sub/a2");

    // Out: a directory into an existing directory lands under its own name, with modes, a
    // symlink kept as a symlink (not followed), a fifo; ownership goes to the copying user
    // unless -a keeps it.
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    env.run(&["cp", &format!("{id}:/data"), out.to_str().unwrap()]).ok();
    let d = out.join("data");
    assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "two\n");
    assert_eq!(std::fs::metadata(d.join("sub")).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(std::fs::read_link(d.join("link")).unwrap(), std::path::Path::new("/etc/passwd"));
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(d.join("fifo")).unwrap().file_type()));
    assert_eq!(std::fs::metadata(d.join("a")).unwrap().uid(), 0);
    // Hard links inside the tree stay links to one file.
    assert_eq!(std::fs::metadata(d.join("a")).unwrap().ino(), std::fs::metadata(d.join("sub/a2")).unwrap().ino());
    let archived = env.path("archived");
    env.run(&["cp", "-a", &format!("{id}:/data/a"), archived.to_str().unwrap()]).ok();
    assert_eq!(std::fs::metadata(&archived).unwrap().uid(), 1000);
    // -a keeps a setuid bit along with the owner.
    sh("echo s > /data/suid && chown 1000:1000 /data/suid && chmod 4755 /data/suid");
    let suid = env.path("suid");
    env.run(&["cp", "-a", &format!("{id}:/data/suid"), suid.to_str().unwrap()]).ok();
    let m = std::fs::metadata(&suid).unwrap();
    assert_eq!((m.permissions().mode() & 0o7777, m.uid()), (0o4755, 1000));
    // "SRC/." copies the contents into the destination itself.
    let flat = env.path("flat");
    std::fs::create_dir(&flat).unwrap();
    env.run(&["cp", &format!("{id}:/data/."), flat.to_str().unwrap()]).ok();
    assert!(flat.join("sub/b").is_file() && !flat.join("data").exists());
    // A directory onto a file, or into a missing directory, fails naming the paths.
    let r = env.run(&["cp", &format!("{id}:/data"), archived.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("/data"), "{}", r.stderr());
    let r = env.run(&["cp", &format!("{id}:/data/a"), env.path("nodir/").to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("nodir"), "{}", r.stderr());
    let r = env.run(&["cp", &format!("{id}:/nothing-here"), out.to_str().unwrap()]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("/nothing-here"), "{}", r.stderr());

    // In: a host tree into the container, merged into an existing directory.
    let tree = env.path("tree");
    std::fs::create_dir_all(tree.join("deep/er")).unwrap();
    std::fs::write(tree.join("deep/er/f"), "host\n").unwrap();
    std::fs::set_permissions(tree.join("deep/er/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    env.run(&["cp", tree.to_str().unwrap(), &format!("{id}:/data")]).ok();
    assert_eq!(sh("cat /data/tree/deep/er/f; stat -c %a /data/tree/deep/er/f"), "host\n640\n");

    // A destination that is a symlink is written through as Docker does, what it names resolved
    // inside the container: a file it names, one it names that does not exist yet, one a link
    // climbing out names (it stops at the root).
    std::fs::write(env.path("payload"), "payload\n").unwrap();
    let payload = env.path("payload");
    sh("echo old > /data/target && ln -s /data/target /data/flink && ln -s /data/new /data/dangling \
        && ln -s ../../../../../data/climbed /data/climb");
    for link in ["flink", "dangling", "climb"] {
        env.run(&["cp", payload.to_str().unwrap(), &format!("{id}:/data/{link}")]).ok();
    }
    assert_eq!(sh("cat /data/target /data/new /data/climbed"), "payload\npayload\npayload\n");
    assert_eq!(sh("readlink /data/flink; readlink /data/dangling"), "/data/target\n/data/new\n");
    // A symlink naming a host path leads inside the container, never to the host file.
    let victim = env.path("victim");
    std::fs::write(&victim, "host data\n").unwrap();
    sh(&format!("ln -s {} /data/escape", victim.display()));
    let _ = env.run(&["cp", payload.to_str().unwrap(), &format!("{id}:/data/escape")]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "host data\n");
    // ... nor on the way out through a directory symlink, which resolves inside the root.
    sh("ln -s / /data/rootlink");
    let r = env.run(&["cp", &format!("{id}:/data/rootlink/release"), env.path("rel").to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(std::fs::read_to_string(env.path("rel")).unwrap(), "KatacodaPrivateBuild\n");
    env.run(&["rm", "-f", &id]).ok();
}

/// A GNU tar header of `kind`, owned by `id`:`id`, with `mode` and `size`, dated 0.
fn tar_header(kind: tar::EntryType, mode: u32, id: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(id);
    h.set_gid(id);
    h.set_mtime(0);
    h.set_size(size);
    h
}

/// `cp CONTAINER:SRC -` writes a tar stream as Docker's (directories ending in "/", hard links
/// inside the tree as links, symlinks kept); `cp - CONTAINER:DIR` extracts one (plain or gzip)
/// into an existing directory, owned by root unless -a; entries that would land outside refuse the
/// whole stream, and nothing reaches the host.
#[test]
fn cp_streams_tar_archives_both_ways() {
    let env = busybox();
    let id = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let sh = |script: &str| env.run(&["exec", &id, "sh", "-c", script]).ok().stdout();
    sh("mkdir -p /d/sub && echo hi > /d/a && ln /d/a /d/hard && ln -s a /d/link && chown 7:8 /d/a");
    let out = env.run(&["cp", &format!("{id}:/d"), "-"]).ok().out.stdout;
    let mut entries = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let (path, kind) = (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type());
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        entries.push((path, kind, link, body, e.header().uid().unwrap()));
    }
    use tar::EntryType as T;
    let want: Vec<(&str, T, Option<&str>, &str, u64)> = vec![
        ("d/", T::Directory, None, "", 0),
        ("d/a", T::Regular, None, "hi\n", 7),
        ("d/hard", T::Link, Some("d/a"), "", 7),
        ("d/link", T::Symlink, Some("a"), "", 0),
        ("d/sub/", T::Directory, None, "", 0),
    ];
    let got: Vec<(&str, T, Option<&str>, &str, u64)> =
        entries.iter().map(|(p, k, l, b, u)| (p.as_str(), *k, l.as_deref(), b.as_str(), *u)).collect();
    assert_eq!(got, want);

    // In: into an existing directory, merged; root's unless -a; gzip detected.
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut tar_header(T::Directory, 0o750, 1234, 0), "new/", std::io::empty()).unwrap();
    b.append_data(&mut tar_header(T::Regular, 0o640, 1234, 3), "new/f", &b"abc"[..]).unwrap();
    let plain = b.into_inner().unwrap();
    env.run_stdin(&["cp", "-", &format!("{id}:/d")], Some(&plain)).ok();
    assert_eq!(sh("cat /d/new/f; stat -c '%u %a' /d/new /d/new/f; cat /d/a"), "abc0 750\n0 640\nhi\n");
    env.run_stdin(&["cp", "-a", "-", &format!("{id}:/d/sub")], Some(&gzip(&plain))).ok();
    assert_eq!(sh("stat -c '%u' /d/sub/new/f"), "1234\n");
    // The stream written above, back in: its hard link is one again.
    env.run_stdin(&["cp", "-", &format!("{id}:/d/sub")], Some(&out)).ok();
    let inodes = sh("stat -c %i /d/sub/d/a /d/sub/d/hard");
    let inodes: Vec<&str> = inodes.lines().collect();
    assert_eq!(inodes.len(), 2);
    assert_eq!(inodes[0], inodes[1]);

    // Not a directory, or missing: refused, naming the destination.
    for dest in ["/d/a", "/missing"] {
        let r = env.run_stdin(&["cp", "-", &format!("{id}:{dest}")], Some(&plain));
        assert_ne!(r.code(), 0);
        assert!(r.stderr().contains(&format!("{dest}\" must be a directory")), "{}", r.stderr());
    }
    // An entry climbing out, or one through a symlink the stream itself made to a host path.
    let evil = |name: &str, link: Option<&str>| {
        let mut b = tar::Builder::new(Vec::new());
        b.append_link(&mut tar_header(T::Symlink, 0o777, 0, 0), "lnk", link.unwrap_or("/tmp")).unwrap();
        let mut h = tar_header(T::Regular, 0o644, 0, 2);
        // Written raw: the tar crate refuses to build a path with "..".
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, &b"no"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let marker = format!("skiff-cp-escape-{}", std::process::id());
    let dangling = format!("/tmp/{marker}-dir");
    for stream in [
        evil(&format!("../../../../tmp/{marker}"), None),
        evil(&format!("lnk/{marker}"), Some("/tmp")),
        evil(&format!("lnk/{marker}"), Some(&dangling)),
    ] {
        let r = env.run_stdin(&["cp", "-", &format!("{id}:/d")], Some(&stream));
        assert_ne!(r.code(), 0, "{}", r.stdout());
        assert!(r.stderr().contains(&format!("{marker} is outside of /d")), "{}", r.stderr());
        assert!(!std::path::Path::new(&dangling).exists());
        assert!(!std::path::Path::new("/tmp").join(&marker).exists());
        assert!(!env.path("root/tmp").join(&marker).exists());
    }
    assert_eq!(sh(&format!("ls /tmp/{marker} /d/{marker} 2>/dev/null; echo done")), "done\n");
    // A hard link to a host file (absolute, or climbing) would copy the host's data in: refused.
    for target in ["/etc/hostname", "../../../../../../etc/hostname"] {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar_header(T::Link, 0o644, 0, 0);
        let raw = &mut h.as_old_mut().linkname;
        raw[..target.len()].copy_from_slice(target.as_bytes());
        h.set_path("hl").unwrap();
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
        let r = env.run_stdin(&["cp", "-", &format!("{id}:/d")], Some(&b.into_inner().unwrap()));
        assert_ne!(r.code(), 0, "{target}");
        assert!(r.stderr().contains("hl is outside of /d"), "{}", r.stderr());
        assert_eq!(sh("ls /d/hl 2>/dev/null; echo done"), "done\n");
    }

    // "SRC/." names its entries "./...", as Docker does; names and link names past the header's
    // 100 bytes stay whole (GNU long-name entries).
    let long = "x".repeat(120);
    let id2 = env.run(&["run", "-d", "busybox", "sleep", "600"]).ok().stdout().trim().to_string();
    let sh2 = |script: &str| env.run(&["exec", &id2, "sh", "-c", script]).ok().stdout();
    sh2(&format!(
        "mkdir -p /e/sub && echo hi > /e/a && ln -s a /e/link && echo l > /e/sub/{long} && ln /e/sub/{long} /e/sub/z"
    ));
    let out = env.run(&["cp", &format!("{id2}:/e/."), "-"]).ok().out.stdout;
    let names: Vec<(String, Option<String>)> = tar::Archive::new(&out[..])
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
            (e.path().unwrap().to_string_lossy().into_owned(), link)
        })
        .collect();
    let long_path = format!("./sub/{long}");
    let want: Vec<(&str, Option<&str>)> = vec![
        ("./", None),
        ("./a", None),
        ("./link", Some("a")),
        ("./sub/", None),
        (&long_path, None),
        ("./sub/z", Some(&long_path)),
    ];
    let got: Vec<(&str, Option<&str>)> = names.iter().map(|(p, l)| (p.as_str(), l.as_deref())).collect();
    assert_eq!(got, want);
}
