//! Golden parser tests: real Dockerfiles from the fixtures parsed into the
//! instructions Docker's parser makes of them (expectations written from
//! Docker's grammar, not from this parser's output).

use skiff_builder::parser::{parse, CmdLine, CopyArgs, Instruction};

/// A fixture's text.
fn fixture(rel: &str) -> String {
    std::fs::read_to_string(skiff_testutil::fixture(rel)).unwrap()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn features_dockerfile() {
    let d = parse(&fixture("features-context/Dockerfile"), "Dockerfile").unwrap();
    assert_eq!(d.escape, '\\');
    assert!(d.directives.is_empty());
    let lines: Vec<usize> = d.steps.iter().map(|s| s.line).collect();
    assert_eq!(lines, (1..=13).collect::<Vec<_>>());
    let ins: Vec<Instruction> = d.steps.iter().map(|s| s.instruction.clone()).collect();
    let run1 = "mkdir -p /data/keep /data/gone /opq && echo one > /data/keep/a && echo two > /data/gone/b && echo x > /opq/x && echo y > /opq/y && echo del > /del-me && ln -s /release /rel-link && echo hl > /hl-src && ln /hl-src /hl-dst && chmod 4755 /bin/busybox";
    let run2 = "rm -rf /data/gone /del-me && rm -rf /opq && mkdir /opq && echo z > /opq/z && mkdir -p \"/long/$(printf 'd%.0s' $(seq 1 120))\" && echo deep > \"/long/$(printf 'd%.0s' $(seq 1 120))/$(printf 'f%.0s' $(seq 1 120))\" && echo uni > \"/ünïcødé name.txt\" && chmod 0600 /data/keep/a && mkfifo /fifo";
    assert_eq!(
        ins,
        vec![
            Instruction::From { image: s("busybox"), platform: None, alias: None },
            // Values keep their quotes until expansion removes them.
            Instruction::Label(vec![(s("org.example.purpose"), s("\"layer features fixture\""))]),
            Instruction::Env(vec![(s("GREETING"), s("\"hello docker\"")), (s("PATH"), s("/usr/local/bin:/bin"))]),
            Instruction::Arg(vec![(s("BUILD_NOTE"), Some(s("fixture")))]),
            Instruction::Run { cmd: CmdLine::Shell(s(run1)), network: None, heredocs: vec![] },
            Instruction::Run { cmd: CmdLine::Shell(s(run2)), network: None, heredocs: vec![] },
            Instruction::Copy(CopyArgs {
                srcs: vec![s("hello.sh")],
                dest: s("/usr/local/bin/hello.sh"),
                ..Default::default()
            }),
            Instruction::Workdir(s("/data")),
            Instruction::User(s("1000:1000")),
            Instruction::Expose(vec![s("6379/tcp"), s("53/udp")]),
            Instruction::Volume(vec![s("/data")]),
            Instruction::Entrypoint(CmdLine::Exec(vec![s("/usr/local/bin/hello.sh")])),
            Instruction::Cmd(CmdLine::Exec(vec![s("world")])),
        ]
    );
    assert_eq!(d.steps[6].original, "COPY hello.sh /usr/local/bin/hello.sh");
}

#[test]
fn redis_dockerfile() {
    let d = parse(&fixture("redis-context/Dockerfile"), "Dockerfile").unwrap();
    let ins: Vec<Instruction> = d.steps.iter().map(|s| s.instruction.clone()).collect();
    assert_eq!(
        ins,
        vec![
            Instruction::From { image: s("debian:bookworm-redis-base"), platform: None, alias: None },
            Instruction::Env(vec![(s("REDIS_VERSION"), s("7.0"))]),
            Instruction::Run {
                // Shell form is kept verbatim: `\n` inside quotes is for the shell, not the parser.
                cmd: CmdLine::Shell(s(
                    "mkdir /data && chown redis:redis /data && printf 'bind 0.0.0.0\\nprotected-mode no\\n' > /etc/redis/skiff.conf"
                )),
                network: None,
                heredocs: vec![]
            },
            Instruction::Copy(CopyArgs {
                srcs: vec![s("docker-entrypoint.sh")],
                dest: s("/usr/local/bin/"),
                ..Default::default()
            }),
            Instruction::Volume(vec![s("/data")]),
            Instruction::Workdir(s("/data")),
            Instruction::Entrypoint(CmdLine::Exec(vec![s("docker-entrypoint.sh")])),
            Instruction::Expose(vec![s("6379")]),
            Instruction::Cmd(CmdLine::Exec(vec![s("redis-server")])),
        ]
    );
}

#[test]
fn seed_hello_dockerfile() {
    let d = parse("FROM scratch\nADD hello /\nCMD [\"/hello\"]\n", "Dockerfile").unwrap();
    assert_eq!(
        d.steps.iter().map(|s| s.instruction.clone()).collect::<Vec<_>>(),
        vec![
            Instruction::From { image: s("scratch"), platform: None, alias: None },
            Instruction::Add(CopyArgs { srcs: vec![s("hello")], dest: s("/"), ..Default::default() }),
            Instruction::Cmd(CmdLine::Exec(vec![s("/hello")])),
        ]
    );
}
