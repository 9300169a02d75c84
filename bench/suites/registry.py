"""Suite `registry`: pull and push against a loopback registry, against the targets of the registries issue.

- pull: `pull IMAGE` of the redis image (Debian rootfs + ../shared/fixtures/redis-context) from a
  registry on 127.0.0.1 (target: at most 1/3 of docker's time). The image is removed (skiff and Podman:
  their stores pruned) before every pull, so every layer is downloaded.
- push: `push IMAGE` of the same image into a registry started empty for that one push (target: at most
  1/3 of docker's time), so no blob is "already there" and no cross-repository mount is possible for any
  tool. skiff pushes twice: the image as pulled (the registry's gzip blobs, sent unchanged) and the image
  loaded from `docker save` (plain layers, gzip-compressed on push).

The registries are Debian's `docker-registry` (the CNCF distribution registry), each on a free 127.0.0.1
port with its own temporary storage; Docker treats 127.0.0.0/8 as insecure (plain HTTP), Podman gets
`--tls-verify=false`, skiff allows HTTP for loopback.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import REPO, Context, Target, Tool, ToolFailed, Workload, log, table

TITLE = "pull and push of the redis image built on the Debian rootfs, through loopback registries"

BASE = "debian:bookworm-redis-base"
REPO_PATH = "skiff-bench/redis"
CONTEXT = REPO.parent / "shared" / "fixtures" / "redis-context"
ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


# ---------------------------------------------------------------------------------------------- registries


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or next(
        (p for p in ("/usr/bin/docker-registry", "/usr/local/bin/docker-registry") if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One docker-registry process on a free loopback port, storing into its own directory."""

    def __init__(self, work: Path, label: str):
        self.dir = work / "registries" / label
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.addr = f"127.0.0.1:{free_port()}"
        cfg = self.dir / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.dir / 'data'}\n"
            f"http:\n  addr: {self.addr}\n")
        self.logf = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen([registry_binary(), "serve", str(cfg)], stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for _ in range(500):
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=2).close()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        self.stop()
        raise SystemExit(f"bench: docker-registry did not start: {(self.dir / 'log').read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def manifest(self, repo: str, tag: str) -> dict | None:
        req = urllib.request.Request(f"http://{self.addr}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ValueError):
            return None

    def has_blob(self, repo: str, digest: str) -> bool:
        req = urllib.request.Request(f"http://{self.addr}/v2/{repo}/blobs/{digest}", method="HEAD")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status == 200
        except urllib.error.URLError:
            return False

    def check_pushed(self, tool: str, repo: str, tag: str, layers: int) -> None:
        """Raise ToolFailed unless repo:tag is there with `layers` layers and every blob it names."""
        m = self.manifest(repo, tag)
        if m is None:
            raise ToolFailed(f"{tool} push exited 0 but the registry has no manifest {repo}:{tag}")
        got = m.get("layers", [])
        if len(got) != layers:
            raise ToolFailed(f"{tool} pushed a manifest with {len(got)} layers, expected {layers}")
        for d in [m["config"], *got]:
            if not self.has_blob(repo, d["digest"]):
                raise ToolFailed(f"{tool} push exited 0 but blob {d['digest']} is missing from {repo}")


# ---------------------------------------------------------------------------------------------- helpers


def image_id(t: Tool, ref: str) -> str:
    """The image ID as sha256:<hex> (Podman prints it without the prefix), or '' when absent."""
    p = t.run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    if p.returncode != 0:
        return ""
    out = p.stdout.strip()
    return out if out.startswith("sha256:") or not out else f"sha256:{out}"


def remove(t: Tool, refs: list[str]) -> None:
    """Remove refs; skiff and Podman also prune their private stores (Docker's daemon is shared)."""
    t.quiet("rmi", "-f", *refs)
    if t.name != "docker":
        t.quiet("image", "prune", "-a", "-f")


def pull_args(t: Tool, ref: str) -> list[str]:
    return ["pull", "--tls-verify=false", ref] if t.name == "podman" else ["pull", ref]


def push_args(t: Tool, ref: str) -> list[str]:
    return ["push", "--tls-verify=false", ref] if t.name == "podman" else ["push", ref]


def base_tar(ctx: Context) -> Path:
    """The rootfs tar plus one file naming this run, so no layer of the image is already in Docker's shared
    store (other sessions import the same rootfs, and Docker would then skip its download)."""
    src = ctx.rootfs_tar()
    out = ctx.work / "registry-base.tar"
    shutil.copyfile(src, out)
    stamp = f"skiff bench registry run {time.time_ns()}\n".encode()
    with tarfile.open(out, "a", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("etc/skiff-bench-run")
        info.size, info.mode, info.mtime = len(stamp), 0o644, int(time.time())
        tf.addfile(info, io.BytesIO(stamp))
    return out


# ---------------------------------------------------------------------------------------------- setup


def build_with_docker(ctx: Context, d: Tool, src: Registry) -> tuple[str, str, int, Path, list[str]]:
    """Build the image with Docker, push it to src, and remove it from Docker; save Docker's archive."""
    ref = f"{src.addr}/{REPO_PATH}:latest"
    tar = base_tar(ctx)
    d.quiet("rmi", "-f", BASE)
    log(f"docker import {tar} {BASE}")
    d.run("import", str(tar), BASE)
    log(f"docker build -t {ref} {CONTEXT}")
    d.run("build", "-q", "-t", ref, str(CONTEXT))
    tar.unlink(missing_ok=True)
    ident = image_id(d, ref)
    layers = json.loads(d.run("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).stdout)
    log(f"docker push {ref} ({len(layers)} layers, {ident[:19]})")
    d.run("push", ref)
    archive = ctx.work / "registry-docker-save.tar"
    d.run("save", "-o", str(archive), ref)
    built = [ref, BASE]
    # The build's intermediate images hold the layers too: remove the image and every parent.
    parents = []
    p = ident
    while p:
        parents.append(p)
        p = d.run("image", "inspect", "--format", "{{.Parent}}", p, check=False).stdout.strip()
    d.quiet("rmi", "-f", *built)
    for p in parents:
        d.quiet("rmi", "-f", p)
    notes = []
    if d.has_image(ident):
        notes.append(f"could not remove the built image {ident} from Docker before pulling")
    return ref, ident, len(layers), archive, notes


def build_with_skiff(ctx: Context, s: Tool, src: Registry) -> tuple[str, str, int]:
    """Without Docker (and without `skiff build`): the rootfs imported as a one-layer image, pushed by skiff."""
    ref = f"{src.addr}/{REPO_PATH}:latest"
    s.run("import", str(ctx.rootfs_tar()), ref)
    s.run("push", ref)
    return ref, image_id(s, ref), 1


# ---------------------------------------------------------------------------------------------- workloads


def measure_pull(ctx: Context, w: Workload, ref: str, ident: str, notes: list[str]) -> None:
    for i in range(ctx.iterations):
        order = ctx.rotation(i)
        log(f"pull iteration {i + 1}/{ctx.iterations}: {' '.join(t.name for t in order)}")
        for t in order:
            remove(t, [ref, ident])
            if image_id(t, ident):
                w.fail(t.name, f"could not remove {ref} before pulling")
                continue
            out = ctx.work / f".{t.name}.pull.out"

            def do_pull(t=t, out=out):
                s = t.timed(*pull_args(t, ref), stdout=out)
                got = image_id(t, ref)
                if got != ident:
                    raise ToolFailed(f"{t.name} pull exited 0 but {ref} is {got or 'not there'}, expected {ident}")
                return s
            if w.measure(t.name, do_pull) is not None and t.name == "docker":
                text = out.read_text(errors="replace")
                if "Already exists" in text:
                    notes.append(f"docker found a layer already present in pull {i + 1}: {text.strip()[:200]}")


def push_rows(ctx: Context) -> list[tuple[str, str]]:
    rows = [("skiff", "skiff"), ("skiff (docker save, gzip on push)", "skiff")]
    return rows + [(t.name, t.name) for t in ctx.tools if t.name != "skiff"]


def measure_push(ctx: Context, w: Workload, src_ref: str, ident: str, layers: int, archive: Path | None) -> None:
    for i in range(ctx.iterations):
        order = ctx.rotation(i)
        log(f"push iteration {i + 1}/{ctx.iterations}: {' '.join(t.name for t in order)}")
        for t in order:
            labels = [t.name] if t.name != "skiff" else ["skiff", "skiff (docker save, gzip on push)"]
            for label in labels:
                if label != "skiff" and t.name == "skiff" and archive is None:
                    w.fail(label, "no docker archive (Docker is not available)")
                    continue
                # Untimed: the image in the tool's store, in the form this row measures.
                try:
                    if label == "skiff (docker save, gzip on push)":
                        remove(t, [src_ref, ident])
                        t.run("load", "-i", str(archive))
                    elif image_id(t, src_ref) != ident or t.name == "skiff":
                        # skiff: the pulled form (compressed blobs kept), not a loaded one.
                        remove(t, [src_ref, ident])
                        t.run(*pull_args(t, src_ref))
                    if image_id(t, src_ref) != ident:
                        raise ToolFailed(f"{t.name}: {src_ref} is not {ident} before pushing")
                except ToolFailed as e:
                    w.fail(label, f"setup: {e}")
                    continue
                reg = Registry(ctx.work, f"push-{i}-{t.name}")
                repo = f"skiff-bench/push-{i}-{label.split()[0]}{'-gz' if 'gzip' in label else ''}"
                dest = f"{reg.addr}/{repo}:latest"
                try:
                    t.run("tag", src_ref, dest)

                    def do_push(t=t, dest=dest, reg=reg, repo=repo):
                        s = t.timed(*push_args(t, dest))
                        reg.check_pushed(t.name, repo, "latest", layers)
                        return s
                    w.measure(label, do_push)
                except ToolFailed as e:
                    w.fail(label, f"setup: {e}")
                finally:
                    t.quiet("rmi", dest)
                    reg.stop()


# ---------------------------------------------------------------------------------------------- run


def run(ctx: Context) -> str:
    if registry_binary() is None:
        return ("Not measured: Debian's `docker-registry` is not installed "
                "(`apt-get install docker-registry`, or ../shared/tools/peers-up).\n")
    skiff, docker = ctx.tool("skiff"), ctx.tool("docker")
    if not skiff.available:
        return f"Not measured: {skiff.reason}.\n"
    src = Registry(ctx.work, "source")
    notes: list[str] = []
    archive = None
    try:
        if docker.available:
            ref, ident, layers, archive, notes = build_with_docker(ctx, docker, src)
            how = (f"Docker imports the rootfs tar as `{BASE}` and builds "
                   f"`{CONTEXT.relative_to(REPO.parent)}` on it ({layers} layers, {ident[:19]}; the issue says 4, but "
                   "Docker 20.10's classic builder makes 3: the rootfs, RUN and COPY), pushes it to the "
                   "source registry and removes it and its build parents, so every pull downloads every layer. "
                   "The rootfs tar gets one extra file naming the run, so no other image in Docker's shared store "
                   "holds its layers.")
        else:
            ref, ident, layers = build_with_skiff(ctx, skiff, src)
            how = ("Docker is not available, so the image is the rootfs imported by skiff (one layer, no build) "
                   "and only skiff is measured.")
        size = sum(f.stat().st_size for f in (src.dir / "data").rglob("*") if f.is_file())
        pull = Workload("pull", [(t.name, t.name) for t in ctx.tools])
        measure_pull(ctx, pull, ref, ident, notes)
        push = Workload("push", push_rows(ctx))
        measure_push(ctx, push, ref, ident, layers, archive)
        for t in ctx.available():
            remove(t, [ref, ident])
    finally:
        src.stop()
        if archive is not None:
            archive.unlink(missing_ok=True)

    parts = [
        f"Workload: `{ref.split('/', 1)[1]}`, {layers} layers, {size / 1e6:.0f} MB in the registry (compressed). "
        + how,
        "",
        "### pull (`pull IMAGE` from the loopback registry; image removed and store pruned before each)",
        "",
        table(pull, ctx, Target("≤ 1/3 of docker", max_ratio=1 / 3), {"skiff"}),
        "",
        "### push (`push IMAGE` into a registry started empty for each push)",
        "",
        "`skiff` pushes the image as pulled (the registry's own gzip blobs, unchanged); `skiff (docker save, "
        "gzip on push)` pushes the image loaded from Docker's `save` archive, compressing each plain layer "
        "with gzip in parallel. Docker and Podman compress the layers on every push to a new registry.",
        "",
        table(push, ctx, Target("≤ 1/3 of docker", max_ratio=1 / 3), {"skiff", "skiff (docker save, gzip on push)"}),
    ]
    if notes:
        parts += ["", "Notes: " + "; ".join(notes) + "."]
    return "\n".join(parts) + "\n"
