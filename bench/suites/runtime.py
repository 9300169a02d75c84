"""Suite `runtime`: starting containers, against the speed targets of the runtime issue.

- `run --rm busybox true`: median for skiff, Docker, Podman and bare `runc run` of an equivalent bundle
  (`runc spec` with the busybox rootfs, `true` as the process, a unique container id per run); targets:
  skiff at most 1/30 of docker and below bare runc. Beside them, the kernel floor: `bench/floor.c`, one C
  process making only the system calls of such a container (overlay, cgroups, namespaces, Docker's
  mounts, pivot_root, exec, teardown), a lower bound for any engine on the machine.
- the monitor of a running `run -d busybox sleep` container: the VmRSS of the container init's parent
  (skiff-monitor, Docker's containerd-shim, Podman's conmon) from /proc; target: skiff's under 1 MiB.
- 100 `run -d busybox sleep` containers: the wall time of the loop of 100 commands; target: skiff's under
  2 s. Every container is removed afterwards.

The busybox image of every tool is `../shared/fixtures/busybox-rootfs.tar` imported as `busybox:latest`
(Docker's shared daemon keeps a `busybox:latest` that already has exactly that layer, and then it is
left alone). Each timed run is checked: it exits 0, and afterwards no container of it remains (`--rm`) or
all 100 are running (`-d`); once per tool, untimed, `run --rm busybox cat /release` must print the
rootfs's release string, so a tool that does not really run containers cannot pass.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tarfile
import time
from pathlib import Path

from harness import REPO, Context, Target, Tool, ToolFailed, Workload, fmt_time, log, spawn_timed, table

TITLE = "run --rm busybox true, monitor RSS, 100 detached containers"

ROOTFS_TAR = REPO.parent / "shared" / "fixtures" / "busybox-rootfs.tar"
# The fixture's one layer (FIXTURES.md): a busybox:latest with exactly this layer is the same image content.
BUSYBOX_DIFF_ID = "sha256:4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838"
IMAGE = "busybox:latest"
RELEASE = "KatacodaPrivateBuild"
MANY = 100
PREFIX = "skiff-bench-rt"
RUNC_ROW = "runc run (bare)"
FLOOR_ROW = "kernel floor (bench/floor.c)"


# ---------------------------------------------------------------------------------------------- setup


def ensure_busybox(t: Tool) -> None:
    """busybox:latest in t's store, imported from the fixture tar (Docker's existing equal one is kept)."""
    if t.name == "docker":
        p = t.run("image", "inspect", "--format", "{{json .RootFS.Layers}}", IMAGE, check=False)
        if p.returncode == 0 and json.loads(p.stdout or "null") == [BUSYBOX_DIFF_ID]:
            return
    t.run("import", str(ROOTFS_TAR), IMAGE)
    if not t.has_image(IMAGE):
        raise ToolFailed(f"{t.name} import exited 0 but {IMAGE} is not there")


def check_runs(t: Tool) -> None:
    p = t.run("run", "--rm", IMAGE, "cat", "/release", check=False)
    if p.returncode != 0 or RELEASE not in p.stdout:
        raise ToolFailed(f"{t.name} run --rm {IMAGE} cat /release did not print {RELEASE} "
                         f"(exit {p.returncode}): {p.stderr.strip()[:120]}")


def container_ids(t: Tool, all_: bool = True, name: str = "") -> list[str]:
    args = ["ps", "-q", "--no-trunc"] + (["-a"] if all_ else [])
    if name:
        args += ["--filter", f"name={name}"]
    p = t.run(*args)
    return p.stdout.split()


def remove_ours(t: Tool) -> None:
    ids = container_ids(t, name=PREFIX)
    for k in range(0, len(ids), 50):
        t.quiet("rm", "-f", *ids[k:k + 50])


class Runc:
    """Bare `runc run` of a bundle made by `runc spec` with the busybox rootfs and `true` as the process."""

    def __init__(self, ctx: Context):
        self.exe = shutil.which("runc") or ""
        self.bundle = ctx.work / "runc-bundle"
        self.root = ctx.work / "runc-root"
        self.seq = 0
        self.reason = "" if self.exe else "runc not installed (run ../shared/tools/peers-up)"
        self.version = ""
        if not self.exe:
            return
        self.version = subprocess.run([self.exe, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        shutil.rmtree(self.bundle, ignore_errors=True)
        (self.bundle / "rootfs").mkdir(parents=True)
        with tarfile.open(ROOTFS_TAR) as tf:
            tf.extractall(self.bundle / "rootfs", filter="fully_trusted")
        subprocess.run([self.exe, "spec", "--bundle", str(self.bundle)], check=True)
        cfg_path = self.bundle / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["true"]
        cfg_path.write_text(json.dumps(cfg, indent=2))
        self.root.mkdir(parents=True, exist_ok=True)

    def argv(self, *args: str) -> list[str]:
        return [self.exe, "--root", str(self.root), *args]

    def listed(self) -> list[str]:
        p = subprocess.run(self.argv("list", "-q"), capture_output=True, text=True)
        return p.stdout.split()

    def cat_release(self) -> None:
        cfg_path = self.bundle / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["process"]["args"] = ["cat", "/release"]
        cfg_path.write_text(json.dumps(cfg))
        try:
            p = subprocess.run(self.argv("run", "--bundle", str(self.bundle), f"{PREFIX}-check"),
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
        finally:
            cfg["process"]["args"] = ["true"]
            cfg_path.write_text(json.dumps(cfg, indent=2))
        if p.returncode != 0 or RELEASE not in p.stdout:
            raise ToolFailed(f"runc run of the bundle did not print {RELEASE} (exit {p.returncode}): "
                             f"{p.stderr.strip()[:120]}")

    def timed_true(self, work: Path) -> float:
        self.seq += 1
        cid = f"{PREFIX}-{os.getpid()}-{self.seq}"
        err = work / ".runc.stderr"
        s, rc = spawn_timed(self.argv("run", "--bundle", str(self.bundle), cid), dict(os.environ), stderr=err)
        if rc != 0:
            raise ToolFailed(f"runc run {cid}: exit {rc}: {err.read_text(errors='replace').strip()[:160]}")
        if cid in self.listed():
            raise ToolFailed(f"runc run {cid} exited 0 but the container is still listed")
        return s


class Floor:
    """`bench/floor.c`, built here with the C compiler: the same container's system calls and nothing else."""

    SOURCE = REPO / "bench" / "floor.c"

    def __init__(self, ctx: Context):
        self.lowerdir = ctx.work / "floor-rootfs"
        self.scratch = ctx.work / "floor-scratch"
        self.exe = ctx.work / "floor"
        for d in (self.lowerdir, self.scratch):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        with tarfile.open(ROOTFS_TAR) as tf:
            tf.extractall(self.lowerdir, filter="fully_trusted")
        self.cgroups = cgroup_hierarchies()
        cc = shutil.which("cc") or shutil.which("gcc")
        self.reason = "" if cc else "no C compiler (cc) to build bench/floor.c"
        if cc:
            p = subprocess.run([cc, "-O2", "-Wall", "-Werror", "-o", str(self.exe), str(self.SOURCE)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                self.reason = f"building bench/floor.c failed: {p.stderr.strip()[:160]}"

    def argv(self, *command: str) -> list[str]:
        return [str(self.exe), str(self.lowerdir), str(self.scratch), *self.cgroups, "--", *command]

    def cat_release(self) -> None:
        p = subprocess.run(self.argv("cat", "/release"), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0 or RELEASE not in p.stdout:
            raise ToolFailed(f"floor did not print {RELEASE} (exit {p.returncode}): {p.stderr.strip()[:120]}")

    def timed_true(self, work: Path) -> float:
        err = work / ".floor.stderr"
        s, rc = spawn_timed(self.argv("true"), dict(os.environ), stderr=err)
        if rc != 0:
            raise ToolFailed(f"floor: exit {rc}: {err.read_text(errors='replace').strip()[:160]}")
        if any(self.scratch.iterdir()):
            raise ToolFailed(f"floor exited 0 but left files in {self.scratch}")
        return s


def cgroup_hierarchies() -> list[str]:
    """`MOUNT=OPTIONS` for floor.c: every cgroup v1 hierarchy under /sys/fs/cgroup (as skiff uses on a v1
    or hybrid host), or the v2 hierarchy where there is no v1 one."""
    v1, v2 = [], []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, post = line.split(" - ", 1)
        mount_point = pre.split()[4]
        fstype, _source, super_opts = post.split()[:3]
        if not mount_point.startswith("/sys/fs/cgroup"):
            continue
        if fstype == "cgroup":
            opts = [o for o in super_opts.split(",") if o not in ("rw", "ro")]
            v1.append(f"{mount_point}={','.join(opts)}")
        elif fstype == "cgroup2":
            v2.append(f"{mount_point}=cgroup2")
    return v1 or v2[:1]


# ---------------------------------------------------------------------------------------------- workloads


def run_true(ctx: Context, ready: list[Tool], runc: Runc, floor: Floor, w: Workload) -> None:
    for i in range(ctx.iterations):
        order = [t for t in ctx.rotation(i) if t in ready]
        log(f"run --rm iteration {i + 1}/{ctx.iterations}: {' '.join(t.name for t in order)} runc floor")
        turns: list[tuple[str, object]] = [(t.name, t) for t in order]
        # runc and the floor take their turns in the rotation too.
        for label, extra in ((RUNC_ROW, runc), (FLOOR_ROW, floor)):
            if not extra.reason:
                turns.insert(i % (len(turns) + 1), (label, extra))
        for label, t in turns:
            if isinstance(t, (Runc, Floor)):
                w.measure(label, lambda t=t: t.timed_true(ctx.work))
                continue

            def do_run(t=t, name=f"{PREFIX}-true-{i}-{t.name}"):
                s = t.timed("run", "--rm", "--name", name, IMAGE, "true")
                if container_ids(t, name=name):
                    raise ToolFailed(f"{t.name} run --rm exited 0 but container {name} is still there")
                return s
            w.measure(label, do_run)


def cgroup_move_ms() -> float | None:
    """The median time (ms) to move this process into its own cgroup after a quiet spell.

    Writing a pid to a v1 `cgroup.procs` takes the kernel's global threadgroup lock; by default its
    first writer after a quiet spell waits an RCU grace period (many milliseconds). Once any
    hierarchy has been mounted with `favordynmods`, Linux 6.18 uses per-threadgroup locking until
    reboot, and the same write takes a fraction of a millisecond. The kernel log says so once,
    but the log is a ring that later messages overwrite, so the effect is measured instead.
    """
    line = next((l for l in Path("/proc/self/cgroup").read_text().splitlines() if l.split(":")[1] == "pids"), None)
    procs = Path("/sys/fs/cgroup/pids") / line.split(":", 2)[2].lstrip("/") / "cgroup.procs" if line else None
    if procs is None or not procs.exists():
        return None
    samples = []
    for _ in range(5):
        time.sleep(0.3)
        start = time.perf_counter()
        try:
            procs.write_text(str(os.getpid()))
        except OSError:
            return None
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def cgroup_migration_note() -> str:
    """How this kernel moves processes between cgroups, which decides what Docker, Podman and runc pay."""
    mounted = any("favordynmods" in line.split()[3] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[2] in ("cgroup", "cgroup2"))
    ms = cgroup_move_ms()
    measured = f"moving a process into its own cgroup after 0.3 s of quiet took {ms:.2f} ms (median of 5)" \
        if ms is not None else "the move could not be measured"
    if mounted or (ms is not None and ms < 1.0):
        why = ("a cgroup hierarchy is mounted with favordynmods" if mounted else
               "no hierarchy is mounted with favordynmods now: it is the kernel's default, or was on earlier "
               "since boot (Linux 6.18 keeps per-threadgroup locking once on)")
        return (f"cgroup migrations on this kernel: fast ({measured}; {why}). On a default kernel the first "
                "write to `cgroup.procs` after a quiet spell waits an RCU grace period; Docker, Podman and runc "
                "make such writes, skiff's start does not (its helper moves itself with `tasks` writes). For "
                "comparison, the figures FIXTURES.md records from 2026-11-24, before any favordynmods mount on "
                "this machine: Docker 159 ms, Podman 372 ms, bare runc 19 ms.")
    return (f"cgroup migrations on this kernel: default ({measured}): the peers' writes to `cgroup.procs` wait for "
            "RCU grace periods; skiff's start does not write `cgroup.procs`.")


def vm_rss_kib(pid: int) -> tuple[int, str]:
    comm = Path(f"/proc/{pid}/comm").read_text().strip()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]), comm
    raise ToolFailed(f"no VmRSS for pid {pid}")


def monitor_rss(ctx: Context, ready: list[Tool]) -> dict[str, tuple[list[int], str, str]]:
    """Per tool: the RSS samples (KiB) of the running container's parent process, its name, an error."""
    out: dict[str, tuple[list[int], str, str]] = {t.name: ([], "", "") for t in ready}
    for i in range(ctx.iterations):
        for t in [t for t in ctx.rotation(i) if t in ready]:
            name = f"{PREFIX}-rss-{i}"
            samples, comm, err = out[t.name]
            try:
                t.run("run", "-d", "--name", name, IMAGE, "sleep", "600")
                # Let the monitor settle into its wait loop (startup pages are trimmed there).
                time.sleep(0.5)
                pid = int(t.run("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())
                if pid <= 0:
                    raise ToolFailed(f"{t.name} {name} has no pid")
                stat = Path(f"/proc/{pid}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                kib, comm = vm_rss_kib(ppid)
                samples.append(kib)
                log(f"monitor rss [{t.name}] {comm} (pid {ppid}): {kib} KiB")
            except (ToolFailed, OSError, ValueError) as e:
                err = err or str(e)
                log(f"monitor rss [{t.name}] failed: {e}")
            finally:
                t.quiet("rm", "-f", name)
            out[t.name] = (samples, comm, err)
    return out


def many_detached(ctx: Context, ready: list[Tool], w: Workload) -> None:
    for i in range(ctx.iterations):
        order = [t for t in ctx.rotation(i) if t in ready]
        log(f"{MANY} x run -d iteration {i + 1}/{ctx.iterations}: {' '.join(t.name for t in order)}")
        for t in order:
            remove_ours(t)

            def do_many(t=t, i=i):
                start = time.perf_counter()
                for k in range(MANY):
                    t.timed("run", "-d", "--name", f"{PREFIX}-{i}-{k}", IMAGE, "sleep", "600")
                total = time.perf_counter() - start
                running = len(container_ids(t, all_=False, name=f"{PREFIX}-{i}-"))
                if running != MANY:
                    raise ToolFailed(f"{t.name}: {running} of {MANY} detached containers running")
                return total
            try:
                w.measure(t.name, do_many)
            finally:
                remove_ours(t)
                left = container_ids(t, name=PREFIX)
                if left:
                    log(f"{t.name}: {len(left)} containers left after rm -f")


# ---------------------------------------------------------------------------------------------- run


def floor_line(w: Workload) -> str:
    """Where 1/30 of Docker falls against the kernel floor measured in the same run."""
    floor = w.series[FLOOR_ROW].median
    docker = w.series["docker"].median if "docker" in w.series else None
    if floor is None or docker is None:
        return "Kernel floor against 1/30 of docker: n/a (one of them has no figure)."
    side = "below" if docker / 30 < floor else "above"
    return (f"Kernel floor: `bench/floor.c` makes only the system calls of this container (overlay, a cgroup in "
            "every hierarchy, new mount, pid, network, ipc, uts and cgroup namespaces, Docker's mounts, masked "
            "and read-only paths, pivot_root, exec, teardown) from one C process, without seccomp, capability "
            f"drops, records or logs: {fmt_time(floor)}. 1/30 of docker's median is {fmt_time(docker / 30)}, "
            f"{side} that floor.")


def rss_table(rss: dict[str, tuple[list[int], str, str]], ctx: Context) -> str:
    lines = ["| tool | process | VmRSS median | min – max | runs | target |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for t in ctx.tools:
        if not t.available:
            lines.append(f"| {t.name} | n/a: {t.reason} | | | | |")
            continue
        samples, comm, err = rss.get(t.name, ([], "", "not measured"))
        target = ""
        if not samples:
            if t.name == "skiff":
                target = "< 1 MiB: not met (no figure)"
            lines.append(f"| {t.name} | n/a: failed: {err.replace('|', '/')} | | | | {target} |")
            continue
        med = statistics.median(samples)
        if t.name == "skiff":
            target = f"< 1 MiB: {'met' if med < 1024 else 'not met'}"
        lines.append(f"| {t.name} | {comm} | {med:.0f} KiB | {min(samples)} – {max(samples)} KiB | "
                     f"{len(samples)}{' (some failed)' if err else ''} | {target} |")
    return "\n".join(lines)


def run(ctx: Context) -> str:
    overhead = ctx.spawn_overhead()
    runc = Runc(ctx)
    floor = Floor(ctx)
    rows = [(t.name, t.name) for t in ctx.tools]
    rows += [(RUNC_ROW, "runc"), (FLOOR_ROW, "floor")]
    true_w = Workload("run --rm true", rows)
    many_w = Workload(f"{MANY} x run -d", [(t.name, t.name) for t in ctx.tools])
    for label, extra in ((RUNC_ROW, runc), (FLOOR_ROW, floor)):
        if extra.reason:
            true_w.fail(label, extra.reason)
            continue
        try:
            extra.cat_release()
        except ToolFailed as e:
            true_w.fail(label, str(e))
            extra.reason = str(e)

    ready: list[Tool] = []
    for t in ctx.available():
        try:
            remove_ours(t)
            ensure_busybox(t)
            check_runs(t)
            ready.append(t)
        except ToolFailed as e:
            log(f"{t.name}: setup failed: {e}")
            true_w.fail(t.name, f"setup: {e}")
            many_w.fail(t.name, f"setup: {e}")

    run_true(ctx, ready, runc, floor, true_w)
    rss = monitor_rss(ctx, ready)
    many_detached(ctx, ready, many_w)
    for t in ready:
        remove_ours(t)
    shutil.rmtree(runc.bundle, ignore_errors=True)
    shutil.rmtree(floor.scratch, ignore_errors=True)
    shutil.rmtree(floor.lowerdir, ignore_errors=True)

    # "below bare runc": the target row compares skiff with the runc row, not docker.
    runc_med = true_w.series[RUNC_ROW].median
    skiff_med = true_w.series["skiff"].median
    below_runc = "n/a"
    if skiff_med is not None and runc_med is not None:
        below_runc = f"{'met' if skiff_med < runc_med else 'not met'} ({fmt_time(skiff_med)} vs {fmt_time(runc_med)})"

    parts = [
        f"Image: `{IMAGE}` from `shared/fixtures/busybox-rootfs.tar` in every tool. Bare runc: "
        f"{runc.version or 'n/a'}, a bundle from `runc spec` with that rootfs and `true` as the process, "
        "`runc --root DIR run --bundle B ID` with a new ID per run (runc deletes it after the exit). "
        f"Every figure includes the harness's cost of spawning a process, {fmt_time(overhead)} (`/bin/true`).",
        "",
        cgroup_migration_note(),
        "",
        "### run --rm busybox true",
        "",
        table(true_w, ctx, Target("≤ 1/30 of docker", max_ratio=1 / 30), {"skiff"}),
        "",
        f"Below bare `runc run` (the issue's second target): {below_runc}.",
        "",
        floor_line(true_w),
        "",
        "### monitor RSS of a running `run -d busybox sleep 600` container",
        "",
        "The container init's parent, read from `/proc/PID/status` half a second after `run -d` returned.",
        "",
        rss_table(rss, ctx),
        "",
        f"### {MANY} detached containers (`run -d --name N busybox sleep 600`, {MANY} times in a row)",
        "",
        "The wall time of the whole loop; afterwards all must be running; then every one is removed (`rm -f`).",
        "",
        table(many_w, ctx, Target("< 2 s", below_seconds=2.0), {"skiff"}),
    ]
    return "\n".join(parts) + "\n"
