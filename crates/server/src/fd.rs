//! The process's file-descriptor budget, checked before the listener opens.
//!
//! Every connection holds a descriptor (its socket), and the database pool, blobs being
//! written or read, the log and the TLS files need more. A process whose limit is below
//! `max_connections` plus `file_descriptor_reserve` would start refusing connections with
//! "accept failed" (and failing to open blobs) long before its own connection limit applies,
//! so start-up raises the soft limit as far as the hard limit allows and refuses to start when
//! even that is too low, naming both settings and the fix.

/// Raises the soft `RLIMIT_NOFILE` to what `config` needs (up to the hard limit) and returns
/// the limit in force.
pub fn ensure_budget(config: &crate::config::Config) -> anyhow::Result<u64> {
    let needed = u64::from(config.max_connections) + u64::from(config.file_descriptor_reserve);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        anyhow::bail!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        );
    }
    if limit.rlim_cur < needed {
        let raised = libc::rlimit {
            rlim_cur: needed.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given; only the soft limit changes.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    let current: u64 = limit.rlim_cur;
    anyhow::ensure!(
        current >= needed,
        "this process may open {current} files (ulimit -n; hard limit {}), but \
         max_connections = {} plus file_descriptor_reserve = {} need {needed}: raise the limit \
         (LimitNOFILE= in the systemd unit, or ulimit -n) or lower max_connections in config.toml",
        limit.rlim_max,
        config.max_connections,
        config.file_descriptor_reserve
    );
    Ok(current)
}
