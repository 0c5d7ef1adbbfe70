//! Finding a run's processes from the end-to-end tests, as any local user could.

/// Live processes whose command line mentions `needle` (zombies have an empty command line).
#[cfg(all(target_os = "linux", not(feature = "portable")))]
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmd.contains(needle) {
                found.push((pid, cmd));
            }
        }
    }
    found
}

/// Live processes whose command line mentions `needle`, from `ps` (procps on Linux, BSD ps on
/// macOS; zombies show without their arguments).
#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let out = std::process::Command::new("ps")
        .args(["-A", "-ww", "-o", "pid=,command="])
        .output()
        .expect("ps runs");
    assert!(
        out.status.success(),
        "ps: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (pid, cmd) = l.trim_start().split_once(' ')?;
            Some((pid.parse::<u32>().ok()?, cmd.trim().to_string()))
        })
        .filter(|(pid, cmd)| *pid != std::process::id() && cmd.contains(needle))
        .collect()
}

/// No live process mentions `needle` on its command line, allowing a moment for processes the
/// kernel is still killing; fails the test with the ones left otherwise.
pub fn assert_none_left(needle: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left = processes_with(needle);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "processes left behind: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
