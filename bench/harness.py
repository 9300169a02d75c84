"""Side-by-side benchmark harness: skiff against the real peers (Docker, Podman) in one run.

Run it through bench/run.sh. Each suite is one file in bench/suites/ defining `TITLE` (a line of text) and
`run(ctx) -> str`, which does the work through `ctx.tools` and returns the markdown body of its section.
The harness writes that body into BENCHMARKS.md between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`,
replacing only that suite's previous section, so suites added by later issues (runtime, registry, build)
keep their results side by side.

Fairness rules every suite follows: the tools take turns within each iteration and the order rotates from
one iteration to the next (so the machine's noise is shared), the median is reported, and every timed
command is checked afterwards (an image really exists after import or load, an archive is not empty), so a
command that exits 0 without doing the work can never count as fast.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEER_DOCKER_HOST = "unix:///run/peer-docker.sock"


class ToolFailed(Exception):
    """A tool's command exited non-zero, or did not do what it said."""


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


@dataclass
class Tool:
    """One engine under test: how to invoke it, and whether it can be used in this run."""

    name: str
    argv: list[str]
    env: dict[str, str]
    work: Path
    available: bool = True
    reason: str = ""
    version: str = ""

    def cmd(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run an untimed command, capturing its output; raise ToolFailed if check and it fails."""
        p = subprocess.run(
            self.cmd(*args),
            env=self.env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if check and p.returncode != 0:
            raise ToolFailed(f"{self.name} {' '.join(args)}: exit {p.returncode}: {first_line(p.stderr)}")
        return p

    def quiet(self, *args: str, input: str | None = None) -> bool:
        """Run an untimed command whose failure does not matter (cleanup); return whether it succeeded."""
        return self.run(*args, input=input, check=False).returncode == 0

    def timed(self, *args: str, stdout: Path | None = None) -> float:
        """Run one command and return its wall time in seconds; raise ToolFailed if it exits non-zero."""
        errfile = self.work / f".{self.name}.stderr"
        seconds, rc = spawn_timed(self.cmd(*args), self.env, stdout=stdout, stderr=errfile)
        if rc != 0:
            err = errfile.read_text(errors="replace") if errfile.exists() else ""
            raise ToolFailed(f"{self.name} {' '.join(args)}: exit {rc}: {first_line(err)}")
        return seconds

    def has_image(self, ref: str) -> bool:
        """Whether the store has ref, judged by `image inspect` answering with an image's JSON."""
        p = self.run("image", "inspect", ref, check=False)
        return p.returncode == 0 and '"Id"' in p.stdout


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:160]
    return "(no message)"


def spawn_timed(argv: list[str], env: dict[str, str], stdout: Path | None = None,
                stderr: Path | None = None) -> tuple[float, int]:
    """Spawn argv with posix_spawn (cheaper than subprocess for millisecond commands) and wait for it.

    Returns (wall seconds, exit status). stdin is /dev/null; stdout goes to the file or /dev/null.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(stdout) if stdout else os.devnull,
         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(stderr) if stderr else os.devnull,
         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, os.waitstatus_to_exitcode(status)


# ---------------------------------------------------------------------------------------------- tools


def probe_skiff(path: str, work: Path, name: str = "skiff", commit_of: str = "") -> Tool:
    """skiff at `path`; `name` and `commit_of` set for a second, earlier build measured beside it."""
    root = work / ("skiff-root" if name == "skiff" else "skiff-before-root")
    env = dict(os.environ)
    env.pop("SKIFF_ROOT", None)
    t = Tool(name, [path, "--root", str(root)], env, work)
    if not path or not os.access(path, os.X_OK):
        t.available, t.reason = False, f"no skiff binary at {path!r} (set SKIFF=path)"
        return t
    t.argv[0] = str(Path(path).resolve())
    p = subprocess.run([t.argv[0], "--version"], capture_output=True, text=True)
    t.version = p.stdout.strip().splitlines()[0] if p.returncode == 0 and p.stdout.strip() else "(no --version)"
    if commit_of:
        t.version += f", commit {commit_of}"
        return t
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    if commit.returncode == 0:
        t.version += f", commit {commit.stdout.strip()}"
    return t


def probe_docker(work: Path) -> Tool:
    env = dict(os.environ, DOCKER_HOST=PEER_DOCKER_HOST)
    exe = shutil.which("docker")
    t = Tool("docker", [exe or "docker"], env, work)
    if not exe:
        t.available, t.reason = False, "docker CLI not installed (run ../shared/tools/peers-up)"
        return t
    p = subprocess.run([exe, "version", "--format", "{{.Server.Version}}"], env=env,
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        t.available, t.reason = False, f"peer daemon not answering at {PEER_DOCKER_HOST}: {first_line(p.stderr)}"
        return t
    driver = subprocess.run([exe, "info", "--format", "{{.Driver}}"], env=env, capture_output=True, text=True)
    t.version = f"Docker {p.stdout.strip()} ({driver.stdout.strip() or '?'})"
    return t


def probe_podman(work: Path) -> Tool:
    exe = shutil.which("podman")
    root, runroot = work / "podman-root", work / "podman-run"
    t = Tool("podman", [exe or "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                        "--root", str(root), "--runroot", str(runroot)], dict(os.environ), work)
    if not exe:
        t.available, t.reason = False, "podman not installed (run ../shared/tools/peers-up)"
        return t
    p = subprocess.run(t.cmd("version", "--format", "{{.Client.Version}}"), capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        t.available, t.reason = False, f"podman version failed: {first_line(p.stderr)}"
        return t
    t.version = f"Podman {p.stdout.strip()} (runc, cgroupfs, own --root)"
    return t


# ---------------------------------------------------------------------------------------------- context


@dataclass
class Context:
    """What a suite gets: the tools, the run's parameters and shared inputs."""

    tools: list[Tool]
    iterations: int
    query_runs: int
    work: Path
    rootfs: Path | None
    notes: list[str] = field(default_factory=list)

    def tool(self, name: str) -> Tool:
        return next(t for t in self.tools if t.name == name)

    def available(self) -> list[Tool]:
        return [t for t in self.tools if t.available]

    def rotation(self, i: int) -> list[Tool]:
        """The available tools in the order they take turns in iteration i (rotated each iteration)."""
        ts = self.available()
        if not ts:
            return []
        k = i % len(ts)
        return ts[k:] + ts[:k]

    def rootfs_tar(self) -> Path:
        """The benchmark rootfs tarred once into a file (reused while the rootfs is unchanged)."""
        if self.rootfs is None:
            raise SystemExit("bench: no rootfs: set BENCH_ROOTFS or run ../shared/tools/debian-rootfs")
        tar = self.work / "rootfs.tar"
        stamp = self.work / "rootfs.tar.source"
        if not (tar.exists() and stamp.exists() and stamp.read_text() == str(self.rootfs)):
            log(f"tarring {self.rootfs} into {tar}")
            tmp = tar.with_suffix(".tmp")
            subprocess.run(["tar", "-C", str(self.rootfs), "-cf", str(tmp), "."], check=True)
            tmp.rename(tar)
            stamp.write_text(str(self.rootfs))
        return tar

    def spawn_overhead(self) -> float:
        """Median time to spawn and reap /bin/true: the harness's own share of every timed command."""
        runs = [spawn_timed(["/bin/true"], dict(os.environ))[0] for _ in range(50)]
        return statistics.median(runs)


# ---------------------------------------------------------------------------------------------- results


@dataclass
class Series:
    """The samples of one workload for one row (usually a tool), or why there are none."""

    label: str
    tool: str
    samples: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


class Workload:
    """One measured operation: a series per row, in table order."""

    def __init__(self, name: str, rows: list[tuple[str, str]]):
        self.name = name
        self.series = {label: Series(label, tool) for label, tool in rows}

    def add(self, label: str, seconds: float) -> None:
        self.series[label].samples.append(seconds)

    def fail(self, label: str, message: str) -> None:
        s = self.series[label]
        if not s.error:
            s.error = message

    def measure(self, label: str, fn) -> float | None:
        """Call fn() -> seconds, record it; on ToolFailed record the error. Returns the seconds or None."""
        try:
            seconds = fn()
        except ToolFailed as e:
            log(f"{self.name} [{label}] failed: {e}")
            self.fail(label, str(e))
            return None
        self.add(label, seconds)
        log(f"{self.name} [{label}] {fmt_time(seconds)}")
        return seconds


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


@dataclass
class Target:
    """A goal from the issue: either a ratio to docker's median (at most) or an absolute time (below)."""

    text: str
    max_ratio: float | None = None
    below_seconds: float | None = None

    def verdict(self, median: float, docker_median: float | None) -> str:
        if self.max_ratio is not None:
            if docker_median is None:
                return f"{self.text}: n/a (no docker figure)"
            ok = median / docker_median <= self.max_ratio
        else:
            ok = median < self.below_seconds
        return f"{self.text}: {'met' if ok else 'not met'}"


def table(w: Workload, ctx: Context, target: Target | None, target_rows: set[str],
          extra: dict[str, str] | None = None, extra_header: str = "") -> str:
    """A markdown table: row, median, min-max, ratio to docker, target verdict (on target_rows only)."""
    docker = w.series.get("docker")
    docker_median = docker.median if docker else None
    header = "| tool | median | min – max | runs | ratio to docker |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if extra_header:
        header += f" {extra_header} |"
        rule += " ---: |"
    header += " target |"
    rule += " --- |"
    lines = [header, rule]
    for s in w.series.values():
        tool = next((t for t in ctx.tools if t.name == s.tool), None)
        cells: list[str]
        if tool is not None and not tool.available:
            cells = [s.label, f"n/a: {tool.reason}", "", "", ""]
        elif s.median is None:
            cells = [s.label, f"n/a: failed: {md_escape(s.error) or 'not measured'}", "", "", ""]
        else:
            ratio = f"{s.median / docker_median:.2f}" if docker_median else "n/a"
            cells = [s.label, fmt_time(s.median), f"{fmt_time(min(s.samples))} – {fmt_time(max(s.samples))}",
                     str(len(s.samples)) + (" (some failed)" if s.error else ""), ratio]
        if extra_header:
            cells.append((extra or {}).get(s.label, ""))
        verdict = ""
        if target is not None and s.label in target_rows:
            verdict = target.verdict(s.median, docker_median) if s.median is not None else f"{target.text}: not met (no figure)"
        cells.append(verdict)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def machine_line() -> str:
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"Machine: {os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB RAM, "
            f"Linux {os.uname().release}.")


# ---------------------------------------------------------------------------------------------- report


HEADER = """# Benchmarks

skiff side by side with the real peers (Docker 20.10 and Podman 4.3, started by `../shared/tools/peers-up`),
measured in one run on one machine by `bench/run.sh`. The tools take turns in every iteration, the order
rotates between iterations, and the median is reported; the figures vary from run to run on a shared
machine, so compare within a section, not across sections or days. Each suite's section below is replaced
whenever that suite runs again.
"""


def write_section(path: Path, name: str, body: str) -> None:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(path)


def load_suites() -> dict[str, object]:
    # Suites `from harness import ...`: make that name this very module even when it runs as __main__, so
    # there is one ToolFailed class, not two.
    sys.modules.setdefault("harness", sys.modules[__name__])
    suites = {}
    for f in sorted((BENCH_DIR / "suites").glob("*.py")):
        if f.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"bench_suite_{f.stem}", f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        suites[f.stem] = mod
    return suites


def main() -> int:
    suites = load_suites()
    ap = argparse.ArgumentParser(description="skiff benchmarks against Docker and Podman")
    ap.add_argument("suites", nargs="*", help=f"suites to run (default: all): {', '.join(suites)}")
    ap.add_argument("-n", "--iterations", type=int, default=int(os.environ.get("N", "5")))
    ap.add_argument("--query-runs", type=int, default=int(os.environ.get("QUERY_RUNS", "30")))
    ap.add_argument("--skiff", default=os.environ.get("SKIFF", str(REPO / "target/release/skiff")))
    ap.add_argument("--skiff-before", default=os.environ.get("SKIFF_BEFORE", ""),
                    help="an earlier skiff build, measured beside --skiff as 'skiff-before'")
    ap.add_argument("--skiff-before-commit", default=os.environ.get("SKIFF_BEFORE_COMMIT", ""),
                    help="the commit --skiff-before was built from, for the Tools line")
    ap.add_argument("--rootfs", default=os.environ.get("BENCH_ROOTFS", ""))
    ap.add_argument("--work", default=os.environ.get("BENCH_WORK", str(BENCH_DIR / "out")))
    ap.add_argument("--out", default=os.environ.get("BENCH_OUT", str(REPO / "BENCHMARKS.md")))
    args = ap.parse_args()

    chosen = args.suites or list(suites)
    unknown = [s for s in chosen if s not in suites]
    if unknown:
        ap.error(f"unknown suite(s): {', '.join(unknown)}; have: {', '.join(suites)}")

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # skiff and Podman get private stores here; each run starts them empty.
    for store in ("skiff-root", "skiff-before-root", "podman-root", "podman-run"):
        shutil.rmtree(work / store, ignore_errors=True)
    tools = [probe_skiff(args.skiff, work)]
    if args.skiff_before:
        tools.append(probe_skiff(args.skiff_before, work, "skiff-before", args.skiff_before_commit or "unknown"))
    tools += [probe_docker(work), probe_podman(work)]
    for t in tools:
        log(f"{t.name}: {t.version if t.available else 'n/a: ' + t.reason}")
    ctx = Context(tools, max(1, args.iterations), max(1, args.query_runs), work,
                  Path(args.rootfs) if args.rootfs else None)

    for name in chosen:
        mod = suites[name]
        log(f"suite {name}: {mod.TITLE}")
        started = time.monotonic()
        body = mod.run(ctx)
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        versions = "; ".join(f"{t.name}: {t.version if t.available else 'n/a (' + t.reason + ')'}" for t in tools)
        section = (f"## {name}: {mod.TITLE} ({date})\n\n{machine_line()}\n"
                   f"Tools: {versions}.\n"
                   f"Run: {ctx.iterations} iteration(s), {ctx.query_runs} runs per query, suite took {time.monotonic() - started:.0f} s.\n\n{body}")
        write_section(Path(args.out), name, section)
        log(f"wrote section {name} of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
