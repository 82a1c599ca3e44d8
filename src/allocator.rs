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

/// Returning freed memory to the OS after 10 ms (mimalloc's default) made ingest fault the same
/// pages back in over and over (about 13% of run time); one second keeps them for reuse.
pub fn tune() {
    // SAFETY: plain C calls on an option index; no pointers involved.
    unsafe {
        // 10 is the documented default: anything else means the user set MIMALLOC_PURGE_DELAY.
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
}
