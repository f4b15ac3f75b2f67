//! Process limits the server and the load tester need.
//!
//! Every call holds a few file descriptors; the common default soft limit of 1024 would cap a
//! server at ~250 calls with `EMFILE` errors on accept. `serve` and `loadtest` raise the soft
//! limit to what their configured call count needs, up to the hard limit an administrator set.

/// Descriptors one call holds at most: the caller socket, the upstream socket, the recording
/// spool file, and an EHR connection during a tool call.
pub const FDS_PER_CALL: u64 = 4;

/// Descriptors besides calls: the listener, the database pool, blob files, logs, HTTP clients.
pub const FDS_BASE: u64 = 256;

/// Raise the soft open-file limit for `calls` concurrent calls (never above the hard limit).
/// Returns the soft limit now in force (0 if it could not be read); warns when it stays short.
pub fn raise_open_files(calls: u64) -> u64 {
    let needed = FDS_BASE + calls.saturating_mul(FDS_PER_CALL);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => {
            tracing::debug!(limit, needed, "open-file limit sufficient");
            limit
        }
        Ok(limit) => {
            tracing::warn!(
                limit,
                needed,
                "the open-file limit (hard limit) is below what the configured calls need; \
                 raise it (ulimit -Hn, LimitNOFILE=) or lower the call count"
            );
            limit
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "the open-file limit could not be raised");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_what_the_calls_need_up_to_the_hard_limit() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let calls = 2_000;
        let needed = FDS_BASE + calls * FDS_PER_CALL;
        // Start from a soft limit below what is needed (as on a default 1024 system; 4096 leaves
        // room for the other tests of this process), so the raise itself is what is checked.
        if hard > needed {
            rlimit::Resource::NOFILE.set(4096, hard).unwrap();
        }
        let reported = raise_open_files(calls);
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(reported, soft);
        assert!(soft >= needed.min(hard), "soft {soft}, needed {needed}, hard {hard}");
    }
}
