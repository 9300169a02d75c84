/*
 * The kernel floor of `run --rm busybox true`: the system calls that a container with Docker's default
 * isolation needs, made by one C process with no engine around them (no records, no spec, no logs,
 * no monitor, no seccomp, no capability drop). Whatever an engine adds costs more, so this figure is a
 * lower bound for any engine on the machine it runs on; the `runtime` bench suite times it beside the
 * engines.
 *
 *   floor LOWERDIR SCRATCH [CGROUP_MOUNT=OPTIONS ...] -- COMMAND [ARG ...]
 *
 * LOWERDIR: the image's root filesystem (the overlay's lower layer). SCRATCH: a directory for the
 * upper, work and mount directories (made and removed here). Each CGROUP_MOUNT is a cgroup hierarchy
 * (say /sys/fs/cgroup/memory=memory, or /sys/fs/cgroup/unified=cgroup2): the container gets its own
 * cgroup in each, removed after the exit, and sees the hierarchies mounted read-only at
 * /sys/fs/cgroup inside. Steps, as an engine takes them: an overlay mount, a cgroup per hierarchy, a
 * child in new mount, pid, network, ipc, uts and cgroup namespaces, Docker's mounts (proc, /dev
 * tmpfs with the device nodes bound, devpts, shm, mqueue, read-only sysfs and cgroups, the bound
 * /etc/hostname, /etc/hosts and /etc/resolv.conf, masked and read-only /proc paths), pivot_root,
 * the hostname, exec; then the wait, the unmount, the cgroups' removal and the scratch's removal.
 * Exits with the command's status (125 when a step fails, naming it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CGROUPS 32
#define PATH_BUF 4096

static void fail(const char *step, const char *what);
/* Formats into a path buffer; a path that does not fit is a failure, not a truncated name. */
#define PATHF(buf, ...)                                                                                      \
  do {                                                                                                       \
    if ((size_t)snprintf(buf, sizeof buf, __VA_ARGS__) >= sizeof buf) {                                      \
      errno = ENAMETOOLONG;                                                                                  \
      fail("path", buf);                                                                                     \
    }                                                                                                        \
  } while (0)

static char scratch[PATH_BUF], rootfs[PATH_BUF], files[PATH_BUF];
static char *cg_dirs[MAX_CGROUPS], *cg_opts[MAX_CGROUPS];
static int n_cg;
static char **command;

/* What the parent has made so far, for undo(). */
static pid_t parent;
static int mounted, cg_made;

static int remove_entry(const char *p, const struct stat *st, int type, struct FTW *ftw) {
  (void)st, (void)type, (void)ftw;
  return remove(p);
}

/* Removes what the parent made, leaving nothing behind (after a failure as after the exit). */
static int undo(void) {
  char p[PATH_BUF], pid[32];
  int ok = 1;
  PATHF(pid, "%d", parent);
  for (int i = 0; i < cg_made; i++) {
    PATHF(p, "%s/cgroup.procs", cg_dirs[i]);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ok &= write(fd, pid, strlen(pid)) > 0;
      close(fd);
    }
    PATHF(p, "%s/floor-%d", cg_dirs[i], parent);
    ok &= rmdir(p) == 0;
  }
  if (mounted)
    ok &= umount2(rootfs, 0) == 0;
  if (scratch[0])
    ok &= nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0;
  return ok;
}

static void fail(const char *step, const char *what) {
  fprintf(stderr, "floor: %s %s: %s\n", step, what, strerror(errno));
  /* The container's own mounts go with its mount namespace; the parent's are undone. */
  if (getpid() == parent)
    undo();
  _exit(125);
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) < 0)
    fail("mount", dst);
}

static void ensure_dir(const char *p) {
  if (mkdir(p, 0755) < 0 && errno != EEXIST)
    fail("mkdir", p);
}

static void ensure_file(const char *p) {
  int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("create", p);
  close(fd);
}

static void write_file(const char *p, const char *text) {
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
    fail("write", p);
  close(fd);
}

/* Masks a /proc path as Docker does: a read-only tmpfs over a directory, /dev/null over a file. */
static void mask(const char *p) {
  struct stat st;
  if (stat(p, &st) < 0)
    return;
  if (S_ISDIR(st.st_mode))
    must_mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL);
  else
    must_mount("/dev/null", p, NULL, MS_BIND, NULL);
}

static void read_only(const char *p) {
  struct stat st;
  if (stat(p, &st) < 0)
    return;
  must_mount(p, p, NULL, MS_BIND | MS_REC, NULL);
  must_mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
}

static int container(void *unused) {
  (void)unused;
  char p[PATH_BUF];
  must_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  if (chdir(rootfs) < 0)
    fail("chdir", rootfs);
  const char *dirs[] = {"proc", "dev", "sys", "etc"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
    ensure_dir(dirs[i]);
  must_mount("proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
  must_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  const char *devdirs[] = {"dev/pts", "dev/shm", "dev/mqueue"};
  for (size_t i = 0; i < sizeof devdirs / sizeof *devdirs; i++)
    ensure_dir(devdirs[i]);
  must_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  must_mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
  must_mount("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
  const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
    char host[64];
    PATHF(p, "dev/%s", devices[i]);
    PATHF(host, "/dev/%s", devices[i]);
    ensure_file(p);
    must_mount(host, p, NULL, MS_BIND, NULL);
  }
  must_mount("sysfs", "sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);
  if (n_cg > 0) {
    must_mount("tmpfs", "sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=755");
    for (int i = 0; i < n_cg; i++) {
      const char *base = strrchr(cg_dirs[i], '/') + 1;
      PATHF(p, "sys/fs/cgroup/%s", base);
      ensure_dir(p);
      int v2 = strcmp(cg_opts[i], "cgroup2") == 0;
      must_mount("cgroup", p, v2 ? "cgroup2" : "cgroup", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY,
                 v2 ? NULL : cg_opts[i]);
    }
  }
  const char *etc[] = {"hostname", "hosts", "resolv.conf"};
  for (size_t i = 0; i < sizeof etc / sizeof *etc; i++) {
    char host[PATH_BUF];
    PATHF(p, "etc/%s", etc[i]);
    PATHF(host, "%s/%s", files, etc[i]);
    ensure_file(p);
    must_mount(host, p, NULL, MS_BIND, NULL);
  }
  const char *masked[] = {"proc/asound", "proc/acpi", "proc/kcore", "proc/keys", "proc/latency_stats",
                          "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
                          "sys/firmware"};
  for (size_t i = 0; i < sizeof masked / sizeof *masked; i++)
    mask(masked[i]);
  const char *ro[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};
  for (size_t i = 0; i < sizeof ro / sizeof *ro; i++)
    read_only(ro[i]);
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    fail("pivot_root", rootfs);
  if (umount2(".", MNT_DETACH) < 0)
    fail("umount", "the old root");
  if (chdir("/") < 0)
    fail("chdir", "/");
  if (sethostname("floor", 5) < 0)
    fail("sethostname", "floor");
  char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=floor", NULL};
  execvpe(command[0], command, env);
  fail("exec", command[0]);
  return 125;
}

/* Copies a cpuset hierarchy's cpus and mems from the parent cgroup (v1 refuses tasks without them). */
static void inherit_cpuset(const char *hierarchy, const char *cgroup) {
  const char *keys[] = {"cpuset.cpus", "cpuset.mems"};
  for (size_t i = 0; i < 2; i++) {
    char p[PATH_BUF], value[256] = "";
    PATHF(p, "%s/%s", hierarchy, keys[i]);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    ssize_t n = read(fd, value, sizeof value - 1);
    close(fd);
    if (n <= 0)
      fail("read", p);
    PATHF(p, "%s/%s", cgroup, keys[i]);
    write_file(p, value);
  }
}

int main(int argc, char **argv) {
  int sep = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) {
      sep = i;
      break;
    }
  if (argc < 3 || sep < 3 || sep == argc - 1 || sep - 3 > MAX_CGROUPS) {
    fprintf(stderr, "usage: floor LOWERDIR SCRATCH [CGROUP_MOUNT=OPTIONS ...] -- COMMAND [ARG ...]\n");
    return 125;
  }
  command = &argv[sep + 1];

  for (int i = 3; i < sep; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || !strchr(argv[i], '/')) {
      fprintf(stderr, "floor: %s: expected CGROUP_MOUNT=OPTIONS\n", argv[i]);
      return 125;
    }
    *eq = 0;
    cg_dirs[n_cg] = argv[i];
    cg_opts[n_cg++] = eq + 1;
  }
  char upper[PATH_BUF], work[PATH_BUF], opts[3 * PATH_BUF], p[PATH_BUF], pid[32];
  parent = getpid();
  PATHF(p, "%s/floor-%d", argv[2], getpid());
  ensure_dir(p);
  PATHF(scratch, "%s", p);
  PATHF(upper, "%s/upper", scratch);
  PATHF(work, "%s/work", scratch);
  PATHF(rootfs, "%s/rootfs", scratch);
  PATHF(files, "%s/files", scratch);
  const char *made[] = {upper, work, rootfs, files};
  for (size_t i = 0; i < sizeof made / sizeof *made; i++)
    ensure_dir(made[i]);
  const char *contents[][2] = {{"hostname", "floor\n"},
                               {"hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
                               {"resolv.conf", "nameserver 127.0.0.1\n"}};
  for (size_t i = 0; i < sizeof contents / sizeof *contents; i++) {
    PATHF(p, "%s/%s", files, contents[i][0]);
    ensure_file(p);
    write_file(p, contents[i][1]);
  }
  PATHF(opts, "lowerdir=%s,upperdir=%s,workdir=%s", argv[1], upper, work);
  must_mount("overlay", rootfs, "overlay", 0, opts);
  mounted = 1;
  PATHF(pid, "%d", getpid());
  for (int i = 0; i < n_cg; i++) {
    char cg[PATH_BUF];
    PATHF(cg, "%s/floor-%d", cg_dirs[i], getpid());
    if (mkdir(cg, 0755) < 0)
      fail("mkdir", cg);
    cg_made = i + 1;
    inherit_cpuset(cg_dirs[i], cg);
    PATHF(p, "%s/cgroup.procs", cg);
    write_file(p, pid);
  }
  static char stack[1 << 16];
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD;
  pid_t child = clone(container, stack + sizeof stack, flags, NULL);
  if (child < 0)
    fail("clone", "the container");
  int status = 0;
  if (waitpid(child, &status, 0) < 0)
    fail("wait", "the container");
  if (!undo()) {
    fprintf(stderr, "floor: cleaning up %s and its cgroups: %s\n", scratch, strerror(errno));
    return 125;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
