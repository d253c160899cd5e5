//! What the bench reads about the machine and about its own process: the CPU and OS, and
//! (on Unix, for the many-writers workload) the thread count, resident and heap memory (Linux
//! `/proc` and glibc; "unknown" elsewhere) and the descriptor limit.

/// A probe's value, or "unknown" where this platform cannot measure it.
#[cfg(unix)]
pub(super) fn or_unknown(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}

/// One line about the machine: CPU, cores, OS.
///
/// Not only on Linux: the Windows build under Wine reads the host's `/proc` the same way, and
/// elsewhere the architecture and OS name stand in.
pub(crate) fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| format!("Linux {}", r.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    format!("{cpu}, {cores} logical CPUs, {os}")
}

/// The threads of this process, from `/proc/self/task`.
#[cfg(target_os = "linux")]
pub(super) fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

#[cfg(all(unix, not(target_os = "linux")))]
pub(super) fn thread_count() -> Option<usize> {
    None
}

/// The resident memory of this process, from `/proc/self/statm`.
#[cfg(target_os = "linux")]
pub(super) fn rss_bytes() -> Option<u64> {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).unwrap_or(4096))
}

#[cfg(all(unix, not(target_os = "linux")))]
pub(super) fn rss_bytes() -> Option<u64> {
    None
}

/// The heap in use, from glibc's `mallinfo2`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn heap_bytes() -> Option<u64> {
    // SAFETY: mallinfo2 has no preconditions; it only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    Some(info.uordblks as u64)
}

#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
pub(super) fn heap_bytes() -> Option<u64> {
    None
}

/// Raises the soft descriptor limit (and the hard one, where allowed) to at least `need`;
/// returns the soft limit now in force (1024 when it cannot be read).
#[cfg(unix)]
// `rlim_t` is `u64` on Linux and macOS but `i64` on FreeBSD: the conversions are needed there.
#[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
pub(super) fn raise_fd_limit(need: u64) -> u64 {
    let to_u64 = |v: libc::rlim_t| u64::try_from(v).unwrap_or(u64::MAX);
    let need_rlim = libc::rlim_t::try_from(need).unwrap_or(libc::rlim_t::MAX);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur >= need_rlim {
        return to_u64(lim.rlim_cur);
    }
    let want = libc::rlimit {
        rlim_cur: need_rlim,
        rlim_max: lim.rlim_max.max(need_rlim),
    };
    // SAFETY: `want` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
        return need;
    }
    let soft = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `soft` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
        return to_u64(lim.rlim_max);
    }
    to_u64(lim.rlim_cur)
}
