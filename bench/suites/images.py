"""Suite `images`: the image store's hot paths, against the targets of the image-store issue.

- import: `import FILE REPO` of the Debian rootfs tar (target: at most 1/3 of docker's time)
- save: `save -o FILE IMAGE` of that image (target: at most 1/5 of docker's)
- load: `load -i FILE` of each tool's own save, image removed first; skiff also loads docker's archive
  (target: at most 1/3 of docker's)
- images, history IMAGE, image inspect IMAGE with 100 tiny distinct images in the store (target: under 5 ms)
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from harness import Context, Target, Tool, ToolFailed, Workload, fmt_time, log, table

TITLE = "import, save, load, and queries with 100 images"

IMAGE = "skiff-bench/debian:latest"
TINY = "skiff-bench/tiny"
TINY_COUNT = 100
QUERY_IMAGE = f"{TINY}:50"


def clean(t: Tool, refs: list[str]) -> None:
    """Remove this suite's images. Docker's daemon is shared, so it is never pruned beyond our own tags."""
    if refs:
        t.quiet("rmi", "-f", *refs)
    if t.name != "docker":
        if not t.quiet("image", "prune", "-a", "-f"):
            t.quiet("image", "prune", "-a", input="y\n")


def archive_of(ctx: Context, name: str) -> Path:
    return ctx.work / f"save-{name}.tar"


def heavy(ctx: Context) -> tuple[Workload, Workload, Workload, dict[str, str]]:
    tar = ctx.rootfs_tar()
    names = [t.name for t in ctx.tools]
    imp = Workload("import", [(n, n) for n in names])
    save = Workload("save", [(n, n) for n in names])
    load_rows = [(n, n) for n in names]
    load_rows.insert(1, ("skiff (docker's archive)", "skiff"))
    load = Workload("load", load_rows)
    sizes: dict[str, str] = {}

    for i in range(ctx.iterations):
        order = ctx.rotation(i)
        log(f"iteration {i + 1}/{ctx.iterations}: {' '.join(t.name for t in order)}")
        for t in order:
            clean(t, [IMAGE])
        imported = set()
        for t in order:
            def do_import(t=t):
                s = t.timed("import", str(tar), IMAGE)
                if not t.has_image(IMAGE):
                    raise ToolFailed(f"{t.name} import exited 0 but {IMAGE} is not there")
                return s
            if imp.measure(t.name, do_import) is not None:
                imported.add(t.name)
        saved = set()
        for t in order:
            if t.name not in imported:
                save.fail(t.name, "import failed")
                continue
            out = archive_of(ctx, t.name)
            out.unlink(missing_ok=True)

            def do_save(t=t, out=out):
                s = t.timed("save", "-o", str(out), IMAGE)
                if not out.exists() or out.stat().st_size < 1024:
                    raise ToolFailed(f"{t.name} save exited 0 but wrote no archive")
                return s
            if save.measure(t.name, do_save) is not None:
                saved.add(t.name)
                sizes[t.name] = f"{out.stat().st_size / 1e6:.0f} MB"
        for t in order:
            jobs = [(t.name, archive_of(ctx, t.name), t.name in saved, "save failed")]
            if t.name == "skiff":
                jobs.append(("skiff (docker's archive)", archive_of(ctx, "docker"), "docker" in saved,
                             "no docker archive in this iteration"))
            for label, archive, ok, why in jobs:
                if not ok:
                    load.fail(label, why)
                    continue
                t.quiet("rmi", "-f", IMAGE)
                if t.name != "docker":
                    t.quiet("image", "prune", "-a", "-f")
                if t.has_image(IMAGE):
                    load.fail(label, f"could not remove {IMAGE} before loading")
                    continue

                def do_load(t=t, archive=archive):
                    s = t.timed("load", "-i", str(archive))
                    if not t.has_image(IMAGE):
                        raise ToolFailed(f"{t.name} load exited 0 but {IMAGE} is not there")
                    return s
                load.measure(label, do_load)
        for t in order:
            clean(t, [IMAGE])
    for t in ctx.tools:
        archive_of(ctx, t.name).unlink(missing_ok=True)
    return imp, save, load, sizes


def tiny_tar(ctx: Context, k: int) -> Path:
    """A one-file tar whose content differs per k, so each import is a distinct image."""
    path = ctx.work / "tiny" / f"{k}.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"tiny image {k}\n".encode()
        with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
            info = tarfile.TarInfo(f"tiny-{k}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return path


QUERIES = [
    ("images", ["images"], lambda out: f"{TINY}" in out),
    ("history", ["history", QUERY_IMAGE], lambda out: len(out.strip().splitlines()) >= 2),
    ("image inspect", ["image", "inspect", QUERY_IMAGE], lambda out: '"Id"' in out),
]


def queries(ctx: Context) -> tuple[list[Workload], str]:
    names = [t.name for t in ctx.tools]
    works = {q: Workload(q, [(n, n) for n in names]) for q, _, _ in QUERIES}
    tags = [f"{TINY}:{k}" for k in range(TINY_COUNT)]
    ready = []
    for t in ctx.available():
        clean(t, tags)
        log(f"{t.name}: importing {TINY_COUNT} tiny images")
        try:
            for k, tag in enumerate(tags):
                t.run("import", str(tiny_tar(ctx, k)), tag)
        except ToolFailed as e:
            for w in works.values():
                w.fail(t.name, f"setup: {e}")
            continue
        ready.append(t)
        # One untimed run of each query checks that it answers with the real thing.
        for q, args, check in QUERIES:
            p = t.run(*args, check=False)
            if p.returncode != 0 or not check(p.stdout):
                said = p.stderr.strip()[:100] or ("empty output" if not p.stdout.strip() else "unexpected output")
                works[q].fail(t.name, f"{t.name} {' '.join(args)} did not answer as expected "
                                      f"(exit {p.returncode}): {said}")
    for r in range(ctx.query_runs):
        for t in [t for t in ctx.rotation(r) if t in ready]:
            for q, args, _ in QUERIES:
                if works[q].series[t.name].error:
                    continue
                try:
                    works[q].add(t.name, t.timed(*args))
                except ToolFailed as e:
                    works[q].fail(t.name, str(e))
    store = docker_store_count(ctx)
    for t in ready:
        clean(t, tags)
    return list(works.values()), store


def docker_store_count(ctx: Context) -> str:
    d = ctx.tool("docker")
    if not d.available:
        return ""
    p = d.run("images", "-a", "-q", check=False)
    return f"{len(p.stdout.split())}" if p.returncode == 0 else "?"


def run(ctx: Context) -> str:
    overhead = ctx.spawn_overhead()
    tar = ctx.rootfs_tar()
    imp, save, load, sizes = heavy(ctx)
    qs, docker_total = queries(ctx)

    parts = [
        f"Workload: `{ctx.rootfs}` (Debian bookworm minbase with redis) tarred once: "
        f"{tar.stat().st_size / 1e6:.0f} MB. Image `{IMAGE}`; the image is removed (and, for skiff and "
        "Podman, the store pruned) before each import and each load. Docker's daemon is shared with other "
        "work, so it is only ever cleaned of this suite's own tags.",
        "",
        "### import (`import FILE REPO`)",
        "",
        table(imp, ctx, Target("≤ 1/3 of docker", max_ratio=1 / 3), {"skiff"}),
        "",
        "### save (`save -o FILE IMAGE`)",
        "",
        table(save, ctx, Target("≤ 1/5 of docker", max_ratio=1 / 5), {"skiff"}, sizes, "archive"),
        "",
        "### load (`load -i FILE`, each tool its own save; skiff also docker's)",
        "",
        table(load, ctx, Target("≤ 1/3 of docker", max_ratio=1 / 3), {"skiff", "skiff (docker's archive)"}),
        "",
        f"### queries with {TINY_COUNT} images (`images`, `history {QUERY_IMAGE}`, `image inspect {QUERY_IMAGE}`)",
        "",
        f"{TINY_COUNT} distinct one-file images imported into each tool's store "
        f"(Docker's shared store held {docker_total or 'n/a'} images in all, counting others'). "
        f"{ctx.query_runs} runs of each query per tool, tools alternating run by run. Every figure includes "
        f"the harness's own cost of spawning a process, {fmt_time(overhead)} (`/bin/true`).",
    ]
    for w in qs:
        parts += ["", f"#### {w.name}", "", table(w, ctx, Target("< 5 ms", below_seconds=0.005), {"skiff"})]
    return "\n".join(parts) + "\n"
