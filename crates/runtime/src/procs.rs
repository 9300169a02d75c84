//! Processes as `/proc` and `ps` show them: a process's start time (so a later process that
//! reuses a pid is not taken for it) and the host's `ps -ef` rows for a set of pids (runc's
//! `ps`, Docker's `top`). See [proc_pid_stat(5)].
//!
//! [proc_pid_stat(5)]: https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html

/// What failed, with the program that failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcsError {
    #[error("run {program}: {source}")]
    Run { program: &'static str, source: std::io::Error },
}

/// The start time (clock ticks since boot, field 22 of `/proc/PID/stat`) of a live process;
/// `None` for a zombie or a pid that is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command (field 2) is in parentheses and may hold anything, spaces and ')' included.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.first() == Some(&"Z") || f.first() == Some(&"X") {
        return None;
    }
    f.get(19)?.parse().ok()
}

/// The host's `ps -ef` header and its rows for `pids` (the last column, CMD, with its spaces).
pub fn ps_rows(pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>), ProcsError> {
    let out = std::process::Command::new("ps")
        .arg("-ef")
        .output()
        .map_err(|source| ProcsError::Run { program: "ps", source })?;
    Ok(parse_ps(&String::from_utf8_lossy(&out.stdout), pids))
}

fn parse_ps(text: &str, pids: &[i32]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap_or_default().split_whitespace().map(str::to_string).collect();
    let ncol = header.len().max(8);
    let mut rows = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < ncol {
            continue;
        }
        let Ok(pid) = f[1].parse::<i32>() else { continue };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = f[..ncol - 1].iter().map(|s| s.to_string()).collect();
        row.push(f[ncol - 1..].join(" "));
        rows.push(row);
    }
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_start_time_is_known_and_a_missing_pid_has_none() {
        assert!(start_time(std::process::id() as i32).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn ps_rows_keep_the_pids_asked_for_with_the_command_whole() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 1 0 0 10:00 ? 00:00:01 /sbin/init splash\n\
                    root 42 1 0 10:01 pts/0 00:00:00 sleep 60\n";
        let (header, rows) = parse_ps(text, &[42]);
        assert_eq!(header, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
        assert_eq!(rows, [["root", "42", "1", "0", "10:01", "pts/0", "00:00:00", "sleep 60"]]);
    }
}
