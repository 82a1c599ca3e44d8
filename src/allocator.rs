//! The allocator every traillake binary runs with (the CLI and the in-process benchmarks, so
//! the figures measure what users run). Each binary declares
//! `#[global_allocator] static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;` and calls
//! [`tune`] first thing in `main`.
//!
//! Why mimalloc: decoding and query execution allocate many small, short-lived objects; mimalloc
//! measured faster than glibc here. Built with transparent huge pages allowed (mimalloc advises
//! them for its arenas where the kernel leaves THP to `madvise`): ingest touches hundreds of MB
//! of fresh Arrow buffers, and with 4 KB pages the page faults alone were a fifth of its CPU
//! time. With 2 MB pages an ingest faults 6× less and runs about 15% faster (alternating A/B
//! runs on the 200k-event bench trail), for about 100 MB more peak RSS.

/// mimalloc's `mi_option_purge_delay` (the same index in both bundled mimalloc versions).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returning freed memory to the OS after 10 ms (mimalloc v2's default) made ingest fault the
/// same pages back in over and over (about 13% of run time); one second keeps them for reuse.
/// The bundled mimalloc (v3) already defaults to one second, so this only acts on a v2 build;
/// ingest goes further while it runs (`KeepFreedMemory`).
pub fn tune() {
    // SAFETY: plain C calls on an option index; no pointers involved.
    unsafe {
        // 10 is the documented default: anything else means the user set MIMALLOC_PURGE_DELAY.
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
}

/// While one of these lives, memory freed is kept for reuse instead of being returned to the
/// OS (mimalloc's purge delay set to "never"); dropping it restores the delay before.
///
/// For ingest: its working set is stable (decode buffers, the commit buffer, encoder pages), so
/// memory returned after a flush is faulted straight back in by the next batch. Kept, it saves
/// those faults and the zeroing of fresh huge pages: about 8% of ingest time (alternating A/B
/// runs on the 200k-event bench trail). Peak RSS is bounded by the commit buffer either way; a
/// long-running server does not hold one, so it returns memory as usual.
#[must_use = "memory is kept only while the guard lives"]
pub struct KeepFreedMemory(());

/// Live guards, and the purge delay to restore when the last one goes (ingests may overlap in
/// one process, e.g. in tests).
static KEEPING: std::sync::Mutex<(usize, std::ffi::c_long)> = std::sync::Mutex::new((0, 0));

impl KeepFreedMemory {
    pub fn new() -> Self {
        let mut keeping = KEEPING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if keeping.0 == 0 {
            // SAFETY: plain C calls on an option index; no pointers involved.
            keeping.1 = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
        }
        keeping.0 += 1;
        Self(())
    }
}

impl Default for KeepFreedMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for KeepFreedMemory {
    fn drop(&mut self) {
        let mut keeping = KEEPING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        keeping.0 -= 1;
        if keeping.0 == 0 {
            // SAFETY: as in `new`.
            unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, keeping.1) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: as above.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn freed_memory_is_kept_while_any_guard_lives_then_the_delay_comes_back() {
        let before = purge_delay();
        let a = KeepFreedMemory::new();
        let b = KeepFreedMemory::new();
        assert_eq!(purge_delay(), -1);
        drop(a);
        assert_eq!(purge_delay(), -1, "another guard still lives");
        drop(b);
        assert_eq!(purge_delay(), before);
    }
}
