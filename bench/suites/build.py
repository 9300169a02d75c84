"""Suite `build`: `build` of ../shared/fixtures/features-context, against the speed targets of the build issue.

- cold: no image and no build cache. skiff builds into a fresh `--root` each time (its build cache lives in
  the store), with busybox imported there first as the FROM base; Docker and Podman build with
  `--no-cache` after the previous result is removed. Target: at most 1/2 of docker's time.
- cached: the same build again right after, every step from the cache. Target: under 50 ms and at most
  1/10 of docker's time.

`FROM busybox` resolves to `busybox:latest`, which is `../shared/fixtures/busybox-rootfs.tar` imported in
each tool (Docker's shared daemon keeps a `busybox:latest` that already has exactly that layer, and then it
is left alone). Each build is checked: the image exists afterwards with the Dockerfile's entrypoint and 4
layers (busybox, two RUNs, COPY), and a cached rebuild must give the very image ID of the build before it (a
step run again would change it).
"""

from __future__ import annotations

import json
import shutil

from harness import REPO, Context, Target, Tool, ToolFailed, Workload, log, table

TITLE = "build of the features context, cold and fully cached"

CONTEXT = REPO.parent / "shared" / "fixtures" / "features-context"
ROOTFS_TAR = REPO.parent / "shared" / "fixtures" / "busybox-rootfs.tar"
BUSYBOX_DIFF_ID = "sha256:4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838"
BASE = "busybox:latest"
IMAGE = "skiff-bench/features:1.0"
ENTRYPOINT = ["/usr/local/bin/hello.sh"]
LAYERS = 4


def ensure_busybox(t: Tool) -> None:
    if t.name == "docker":
        p = t.run("image", "inspect", "--format", "{{json .RootFS.Layers}}", BASE, check=False)
        if p.returncode == 0 and json.loads(p.stdout or "null") == [BUSYBOX_DIFF_ID]:
            return
    t.run("import", str(ROOTFS_TAR), BASE)
    if not t.has_image(BASE):
        raise ToolFailed(f"{t.name} import exited 0 but {BASE} is not there")


def image_id(t: Tool, ref: str) -> str:
    p = t.run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    out = p.stdout.strip() if p.returncode == 0 else ""
    return out if out.startswith("sha256:") or not out else f"sha256:{out}"


def check_built(t: Tool) -> str:
    p = t.run("image", "inspect", "--format", "{{json .Config.Entrypoint}}", IMAGE, check=False)
    if p.returncode != 0:
        raise ToolFailed(f"{t.name} build exited 0 but {IMAGE} is not there")
    if json.loads(p.stdout or "null") != ENTRYPOINT:
        raise ToolFailed(f"{t.name} built {IMAGE} with entrypoint {p.stdout.strip()}, expected {ENTRYPOINT}")
    p = t.run("image", "inspect", "--format", "{{json .RootFS.Layers}}", IMAGE)
    layers = json.loads(p.stdout or "[]")
    if len(layers) != LAYERS:
        raise ToolFailed(f"{t.name} built {IMAGE} with {len(layers)} layers, expected {LAYERS} (busybox, 2 RUN, COPY)")
    return image_id(t, IMAGE)


def fresh_skiff(ctx: Context, s: Tool, i: int) -> Tool:
    """skiff on a new, empty store for cold iteration i, with busybox imported (untimed)."""
    root = ctx.work / f"skiff-build-root-{i}"
    shutil.rmtree(root, ignore_errors=True)
    t = Tool(s.name, [s.argv[0], "--root", str(root)], s.env, s.work, version=s.version)
    ensure_busybox(t)
    return t


def cleanup(t: Tool) -> None:
    t.quiet("rmi", "-f", IMAGE)
    if t.name == "podman":
        t.quiet("image", "prune", "-f")


def run(ctx: Context) -> str:
    names = [t.name for t in ctx.tools]
    cold = Workload("cold", [(n, n) for n in names])
    cached = Workload("cached", [(n, n) for n in names])
    ready = []
    for t in ctx.available():
        if t.name == "skiff":
            ready.append(t)
            continue
        try:
            ensure_busybox(t)
            ready.append(t)
        except ToolFailed as e:
            cold.fail(t.name, f"setup: {e}")
            cached.fail(t.name, f"setup: {e}")

    roots = []
    for i in range(ctx.iterations):
        order = [t for t in ctx.rotation(i) if t in ready]
        log(f"iteration {i + 1}/{ctx.iterations}: {' '.join(t.name for t in order)}")
        for base in order:
            try:
                if base.name == "skiff":
                    t = fresh_skiff(ctx, base, i)
                    roots.append(t.argv[2])
                    args = ["build", "-t", IMAGE, str(CONTEXT)]
                else:
                    t = base
                    cleanup(t)
                    args = ["build", "--no-cache", "-t", IMAGE, str(CONTEXT)]
            except ToolFailed as e:
                cold.fail(base.name, f"setup: {e}")
                continue
            out = ctx.work / f".{t.name}.build.out"
            ids: dict[str, str] = {}

            def do_cold(t=t, args=args, out=out, ids=ids):
                s = t.timed(*args, stdout=out)
                ids["cold"] = check_built(t)
                return s
            if cold.measure(t.name, do_cold) is None:
                cached.fail(t.name, "the cold build failed")
                continue

            def do_cached(t=t, out=out, ids=ids):
                s = t.timed("build", "-t", IMAGE, str(CONTEXT), stdout=out)
                got = check_built(t)
                if got != ids["cold"]:
                    raise ToolFailed(f"{t.name} cached rebuild gave {got[:19]}, not the cold build's "
                                     f"{ids['cold'][:19]}: a step was not taken from the cache")
                return s
            cached.measure(t.name, do_cached)
            if t.name == "skiff":
                shutil.rmtree(t.argv[2], ignore_errors=True)
    for t in ready:
        if t.name != "skiff":
            cleanup(t)
    for r in roots:
        shutil.rmtree(r, ignore_errors=True)

    parts = [
        f"Context: `{CONTEXT.relative_to(REPO.parent)}` (13 instructions: FROM busybox, LABEL, ENV, ARG, two "
        "RUNs, COPY, WORKDIR, USER, EXPOSE, VOLUME, ENTRYPOINT, CMD), tagged `" + IMAGE + "`.",
        "",
        "### cold (no image, no cache: skiff on a fresh store with busybox imported; docker and podman "
        "`build --no-cache`)",
        "",
        table(cold, ctx, Target("≤ 1/2 of docker", max_ratio=1 / 2), {"skiff"}),
        "",
        "### fully cached rebuild (the same build again; the image ID must not change)",
        "",
        table(cached, ctx, Target("≤ 1/10 of docker", max_ratio=1 / 10), {"skiff"}),
        "",
        "Absolute target for the cached rebuild: "
        + cached_verdict(cached),
    ]
    return "\n".join(parts) + "\n"


def cached_verdict(w: Workload) -> str:
    m = w.series["skiff"].median
    if m is None:
        return "< 50 ms: not met (no figure)."
    return f"< 50 ms: {'met' if m < 0.05 else 'not met'} ({m * 1000:.1f} ms)."
