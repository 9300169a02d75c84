"""Unit tests of the benchmark harness's bookkeeping (no engines needed): python3 -m unittest bench/test_harness.py"""

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import Context, Target, Tool, Workload, table, write_section  # noqa: E402


def tool(name, available=True, reason=""):
    return Tool(name, [name], {}, Path("/tmp"), available, reason)


class WriteSection(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "BENCHMARKS.md"

    def tearDown(self):
        self.dir.cleanup()

    def test_new_file_gets_header_and_marked_section(self):
        write_section(self.path, "images", "## images\nfirst\n")
        text = self.path.read_text()
        self.assertTrue(text.startswith("# Benchmarks"))
        self.assertIn("<!-- bench:images -->\n## images\nfirst\n<!-- /bench:images -->\n", text)

    def test_rerun_replaces_only_its_own_section(self):
        write_section(self.path, "images", "images one")
        write_section(self.path, "runtime", "runtime one")
        self.path.write_text(self.path.read_text() + "\nhand-written note\n")
        write_section(self.path, "images", "images two")
        text = self.path.read_text()
        self.assertNotIn("images one", text)
        self.assertIn("images two", text)
        self.assertIn("runtime one", text)
        self.assertIn("hand-written note", text)
        self.assertEqual(text.count("<!-- bench:images -->"), 1)
        # Section order is kept: images stays before runtime.
        self.assertLess(text.index("images two"), text.index("runtime one"))


class Rotation(unittest.TestCase):
    def test_each_available_tool_leads_in_turn(self):
        ctx = Context([tool("skiff"), tool("docker"), tool("podman", False, "absent")], 3, 1, Path("/tmp"), None)
        orders = [[t.name for t in ctx.rotation(i)] for i in range(3)]
        self.assertEqual(orders, [["skiff", "docker"], ["docker", "skiff"], ["skiff", "docker"]])


class SkiffBefore(unittest.TestCase):
    def test_an_earlier_build_gets_its_own_name_store_and_commit(self):
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            now = harness.probe_skiff("/bin/true", work)
            before = harness.probe_skiff("/bin/true", work, "skiff-before", "eb59450")
        self.assertEqual((now.name, before.name), ("skiff", "skiff-before"))
        # Suites put the tool's name into container names: it must be one Docker accepts.
        self.assertRegex(before.name, r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
        self.assertNotEqual(now.argv[2], before.argv[2])
        self.assertTrue(before.version.endswith(", commit eb59450"), before.version)
        missing = harness.probe_skiff("/nonexistent/skiff", work, "skiff-before", "x")
        self.assertFalse(missing.available)


class Targets(unittest.TestCase):
    def test_ratio_and_absolute_targets(self):
        third = Target("≤ 1/3 of docker", max_ratio=1 / 3)
        self.assertTrue(third.verdict(1.0, 3.0).endswith(": met"))
        self.assertTrue(third.verdict(1.1, 3.0).endswith(": not met"))
        self.assertIn("n/a", third.verdict(1.0, None))
        fast = Target("< 5 ms", below_seconds=0.005)
        self.assertTrue(fast.verdict(0.0049, None).endswith(": met"))
        self.assertTrue(fast.verdict(0.005, None).endswith(": not met"))


class Table(unittest.TestCase):
    def test_rows_for_measured_failed_and_absent_tools(self):
        ctx = Context([tool("skiff"), tool("docker"), tool("podman", False, "podman not installed")], 1, 1,
                      Path("/tmp"), None)
        w = Workload("import", [("skiff", "skiff"), ("docker", "docker"), ("podman", "podman")])
        w.add("docker", 3.0)
        w.add("docker", 1.0)
        w.add("docker", 2.0)
        w.fail("skiff", "skiff import: exit 1: no | such")
        out = table(w, ctx, Target("≤ 1/3 of docker", max_ratio=1 / 3), {"skiff"})
        rows = {line.split("|")[1].strip(): line for line in out.splitlines()[2:]}
        self.assertIn("| 2.00 s | 1.00 s – 3.00 s | 3 | 1.00 |", rows["docker"])
        self.assertIn("n/a: failed: skiff import: exit 1: no \\| such", rows["skiff"])
        self.assertIn("not met (no figure)", rows["skiff"])
        self.assertIn("n/a: podman not installed", rows["podman"])

    def test_ratio_uses_docker_median(self):
        ctx = Context([tool("skiff"), tool("docker")], 1, 1, Path("/tmp"), None)
        w = Workload("save", [("skiff", "skiff"), ("docker", "docker")])
        w.add("skiff", 0.2)
        w.add("docker", 1.0)
        out = table(w, ctx, Target("≤ 1/5 of docker", max_ratio=1 / 5), {"skiff"})
        self.assertIn("| skiff | 200 ms | 200 ms – 200 ms | 1 | 0.20 | ≤ 1/5 of docker: met |", out)


class Suites(unittest.TestCase):
    def test_every_suite_has_a_title_and_a_run_function(self):
        suites = harness.load_suites()
        self.assertIn("images", suites)
        for name, mod in suites.items():
            self.assertTrue(mod.TITLE, name)
            self.assertTrue(callable(mod.run), name)


class Spawn(unittest.TestCase):
    def test_exit_status_and_stdout_file(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "out"
            seconds, rc = harness.spawn_timed(["/bin/sh", "-c", "echo hi; exit 3"], {}, stdout=out)
            self.assertEqual(rc, 3)
            self.assertEqual(out.read_text(), "hi\n")
            self.assertGreater(seconds, 0)


class KernelFloor(unittest.TestCase):
    """bench/floor.c, which the runtime suite times beside the engines: it must really run the container."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("skipped: floor.c needs root (mounts, namespaces, cgroups)")
        self.runtime = harness.load_suites()["runtime"]
        if not self.runtime.ROOTFS_TAR.exists():
            self.skipTest(f"skipped: no {self.runtime.ROOTFS_TAR}")
        self.dir = tempfile.TemporaryDirectory()
        self.ctx = Context([], 1, 1, Path(self.dir.name), None)

    def tearDown(self):
        self.dir.cleanup()

    def test_runs_the_container_with_its_status_and_leaves_nothing(self):
        floor = self.runtime.Floor(self.ctx)
        if floor.reason.startswith("no C compiler"):
            self.skipTest(f"skipped: {floor.reason}")
        self.assertEqual(floor.reason, "")
        self.assertTrue(floor.cgroups, "no cgroup hierarchy found")
        floor.cat_release()
        script = "cat /proc/self/cgroup; hostname; cat /etc/hostname; ls /sys/fs/cgroup; readlink /proc/1/exe; exit 7"
        p = subprocess.run(floor.argv("sh", "-c", script), capture_output=True, text=True)
        self.assertEqual(p.returncode, 7, p.stderr)
        lines = p.stdout.splitlines()
        self.assertIn("floor", lines)
        # Its own cgroup namespace: every hierarchy is "/" inside.
        self.assertTrue(all(line.endswith(":/") for line in lines if line.count(":") == 2 and line[0].isdigit()), p.stdout)
        # The pid namespace: sh is pid 1.
        self.assertIn("/bin/busybox", lines)
        self.assertGreater(floor.timed_true(self.ctx.work), 0)
        self.assertEqual(list(floor.scratch.iterdir()), [])
        mounts = Path("/proc/self/mountinfo").read_text()
        self.assertNotIn(str(floor.scratch), mounts)
        for line in floor.cgroups:
            hierarchy = Path(line.split("=", 1)[0])
            self.assertEqual(list(hierarchy.glob("floor-*")), [], hierarchy)

    def test_a_failing_step_is_named_and_undone(self):
        floor = self.runtime.Floor(self.ctx)
        if floor.reason:
            self.skipTest(f"skipped: {floor.reason}")
        p = subprocess.run(floor.argv("no-such-command"), capture_output=True, text=True)
        self.assertEqual(p.returncode, 125)
        self.assertIn("exec no-such-command", p.stderr)
        floor.lowerdir = self.ctx.work / "missing"
        p = subprocess.run(floor.argv("true"), capture_output=True, text=True)
        self.assertEqual(p.returncode, 125)
        self.assertIn("mount", p.stderr)
        self.assertEqual(list(floor.scratch.iterdir()), [])
        self.assertNotIn(str(floor.scratch), Path("/proc/self/mountinfo").read_text())


if __name__ == "__main__":
    unittest.main()
