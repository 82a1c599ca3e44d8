//! The allocator every traillake binary runs with (the CLI and the in-process benchmarks, so
//! the figures measure what users run). Each binary declares
//! `#[global_allocator] static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;` and calls
//! [`tune`] first thing in `main`.
//!
//! Why mimalloc: decoding and query execution allocate many small, short-lived objects; mimalloc
//! measured faster than glibc here. Built with transparent huge pages allowed (mimalloc advises
//! them for its arenas where the kernel leaves THP to `madvise`); ingest, which measured
//! faster without them, turns them off while it runs ([`IngestMemory`]).

/// mimalloc's `mi_option_purge_delay` (the same index in both bundled mimalloc versions).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returning freed memory to the OS after 10 ms (mimalloc v2's default) made ingest fault the
/// same pages back in over and over (about 13% of run time); one second keeps them for reuse.
/// The bundled mimalloc (v3) already defaults to one second, so this only acts on a v2 build;
/// ingest goes further while it runs ([`IngestMemory`]).
pub fn tune() {
    // SAFETY: plain C calls on an option index; no pointers involved.
    unsafe {
        // 10 is the documented default: anything else means the user set MIMALLOC_PURGE_DELAY.
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
}

/// While one of these lives, the process is set up for ingest: memory freed is kept for reuse
/// instead of being returned to the OS (mimalloc's purge delay set to "never"), and fresh
/// memory comes in 4 KiB pages, not transparent huge pages. Dropping the last guard restores
/// both.
///
/// Kept memory: ingest's working set is stable (decode buffers, the commit buffer, encoder
/// pages), so memory returned after a flush is faulted straight back in by the next batch.
/// Kept, it saves those faults: about 8% of ingest time (alternating A/B runs on the
/// 200k-event bench trail). Peak RSS is bounded by the commit buffer either way; a
/// long-running server does not hold one, so it returns memory as usual.
///
/// Small pages: huge pages were cheap here only when the run before had used them too. After
/// another process had churned memory in small pages (in the bench, DuckDB's run before ours;
/// on a user's machine, anything), they cost 3× the kernel time: alternating with DuckDB,
/// ingest of the bench trail took 2.3–3.05 s with huge pages (kernel time 1.8–2.6 s) against
/// 1.98–2.05 s with small pages (kernel time 0.62–0.71 s, the same in every run), for about
/// 100 MB less peak RSS.
#[must_use = "the settings hold only while the guard lives"]
pub struct IngestMemory(());

/// Live guards, and what to restore when the last one goes (ingests may overlap in one
/// process, e.g. in tests).
struct Guards {
    live: usize,
    purge_delay: std::ffi::c_long,
    thp_disabled: bool,
}

static GUARDS: std::sync::Mutex<Guards> =
    std::sync::Mutex::new(Guards { live: 0, purge_delay: 0, thp_disabled: false });

impl IngestMemory {
    pub fn new() -> Self {
        let mut guards = GUARDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guards.live == 0 {
            // SAFETY: plain C calls on an option index; no pointers involved.
            guards.purge_delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
            guards.thp_disabled = thp_disabled();
            set_thp_disabled(true);
        }
        guards.live += 1;
        Self(())
    }
}

impl Default for IngestMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IngestMemory {
    fn drop(&mut self) {
        let mut guards = GUARDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guards.live -= 1;
        if guards.live == 0 {
            // SAFETY: as in `new`.
            unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, guards.purge_delay) };
            set_thp_disabled(guards.thp_disabled);
        }
    }
}

/// Whether the kernel gives this process no transparent huge pages (`PR_GET_THP_DISABLE`);
/// false where it cannot say.
fn thp_disabled() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Turns transparent huge pages off or on for the whole process, for memory touched from now
/// on (the kernel checks at each fault, so mimalloc's earlier advice is overridden). Where the
/// kernel refuses or has no such switch, pages stay as they were: only speed is at stake.
fn set_thp_disabled(disabled: bool) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with integer arguments only.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, libc::c_ulong::from(disabled), 0, 0, 0) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = disabled;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: as above.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn ingest_settings_hold_while_any_guard_lives_then_the_previous_come_back() {
        let before = (purge_delay(), thp_disabled());
        let a = IngestMemory::new();
        let b = IngestMemory::new();
        assert_eq!(purge_delay(), -1);
        #[cfg(target_os = "linux")]
        assert!(thp_disabled(), "no huge pages while ingesting");
        drop(a);
        assert_eq!(purge_delay(), -1, "another guard still lives");
        #[cfg(target_os = "linux")]
        assert!(thp_disabled(), "another guard still lives");
        drop(b);
        assert_eq!((purge_delay(), thp_disabled()), before);
    }
}
