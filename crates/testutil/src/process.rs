//! Processes seen from the host through `/proc`: whether a container's process, a monitor or an
//! init is still there.

/// Whether `pid` names a process that has not exited: present in `/proc` and not a zombie
/// (state `Z` in `/proc/PID/stat`, read after the command name, which may hold spaces and `)`).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::alive;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(alive(std::process::id().into()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id().into();
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn an_exited_child_not_yet_reaped_is_a_zombie_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid: i64 = child.id().into();
        crate::eventually("the child to exit", || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
        });
        assert!(!alive(pid));
        child.wait().unwrap();
    }
}
