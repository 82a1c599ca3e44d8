//! The allocator every traillake binary runs with (the CLI and the in-process benchmarks, so
//! the figures measure what users run). Each binary declares
//! `#[global_allocator] static GLOBAL: traillake::allocator::Allocator = traillake::allocator::Allocator;`
//! and calls [`tune`] first thing in `main`.
//!
//! Why mimalloc: decoding and query execution allocate many small, short-lived objects; mimalloc
//! measured faster than glibc here. Without transparent huge pages ([`tune`]); while ingest
//! runs, freed memory is kept for reuse ([`IngestMemory`]) and big blocks are recycled across
//! threads ([`Allocator`]).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// mimalloc's `mi_option_purge_delay` (the same index in both bundled mimalloc versions).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc v3's `mi_option_allow_thp` (v2 has no such option and ignores the index).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Sets the process up as every traillake command wants it.
///
/// Purge delay: returning freed memory to the OS after 10 ms (mimalloc v2's default) made
/// ingest fault the same pages back in over and over (about 13% of run time); one second keeps
/// them for reuse. The bundled mimalloc (v3) already defaults to one second, so this only acts
/// on a v2 build; ingest goes further while it runs ([`IngestMemory`]).
///
/// No transparent huge pages (unless `MIMALLOC_ALLOW_THP` asks for them). mimalloc advises
/// them for its arenas, and where the kernel then has no free huge page at hand it compacts
/// memory first, inside the page fault. Measured on a 600k-event store, the same `query`
/// (group by over all events) took 0.17–0.68 s with huge pages and 0.09–0.11 s without, and
/// `eds list` sometimes took 0.1 s instead of 0.01 s. Ingest measured the same way: after
/// another process had churned memory (DuckDB's run before ours in the bench), ingest of the
/// bench trail took 2.3–3.05 s with huge pages (kernel time 1.8–2.6 s) against 1.98–2.05 s
/// without (kernel time 0.62–0.71 s), for about 100 MB less peak RSS.
pub fn tune() {
    // SAFETY: plain C calls on an option index; no pointers involved.
    unsafe {
        // 10 is the documented default: anything else means the user set MIMALLOC_PURGE_DELAY.
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        disable_thp();
    }
}

/// Returns the memory freed so far to the OS, including what threads that have ended left
/// behind. A follower (`ingest --follow`) calls it between passes: measured feeding a follower
/// five trail files a second, its RSS grew half as fast with it (the rest of that growth is
/// still open, see docs/performance.md). Not for a one-shot ingest, which keeps freed memory
/// on purpose ([`IngestMemory`]).
pub fn release_unused() {
    // SAFETY: a plain C call without pointers.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// While one of these lives, the process is set up for ingest: memory freed is kept for reuse
/// instead of being returned to the OS (mimalloc's purge delay set to "never"), and big blocks
/// are recycled across threads ([`Allocator`]). Dropping the last guard restores both.
///
/// Kept memory: ingest's working set is stable (decode buffers, the commit buffer, encoder
/// pages), so memory returned after a flush is faulted straight back in by the next batch.
/// Kept, it saves those faults: about 8% of ingest time (alternating A/B runs on the
/// 200k-event bench trail). Peak RSS is bounded by the commit buffer either way; a
/// long-running server does not hold one, so it returns memory as usual.
#[must_use = "the settings hold only while the guard lives"]
pub struct IngestMemory(());

/// Live guards, and what to restore when the last one goes (ingests may overlap in one
/// process, e.g. in tests).
struct Guards {
    live: usize,
    purge_delay: std::ffi::c_long,
}

static GUARDS: std::sync::Mutex<Guards> = std::sync::Mutex::new(Guards { live: 0, purge_delay: 0 });

impl IngestMemory {
    pub fn new() -> Self {
        let mut guards = GUARDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guards.live == 0 {
            recycle::set_limit(RECYCLED_BYTES);
            // SAFETY: plain C calls on an option index; no pointers involved.
            guards.purge_delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
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
            recycle::set_limit(0);
        }
    }
}

/// The most freed big-block bytes kept for reuse while ingest runs.
const RECYCLED_BYTES: usize = 128 << 20;

/// mimalloc, plus recycling of big blocks while ingest runs ([`IngestMemory`]).
///
/// Why: a decoder thread allocates a batch's column buffers; the writer and the encoders free
/// them on other threads. Ingest of the 200k-event bench trail held about 185 MiB live at its
/// peak (counted by a wrapping allocator) but its RSS reached 420–500 MiB, every page of it
/// faulted in fresh, and the kernel took 12–15% of the run. Blocks of [`recycle::MIN`] bytes or
/// more are therefore rounded up to a size class and, when freed, kept in one shared free list
/// per class (up to [`RECYCLED_BYTES`] in all) for the next allocation of that class on any
/// thread; a block regrown within its class (`Vec` growth) stays where it is. On the bench
/// trail about 9 in 10 big allocations then reuse a block. Measured (6 alternating runs):
/// 2.5% less wall time, kernel time 0.37 → 0.34 s, peak RSS 456 → 423 MiB.
///
/// Outside ingest nothing is kept, and blocks go back to mimalloc as usual.
pub struct Allocator;

// SAFETY: every block comes from mimalloc, with at least the layout's size and alignment;
// recycled blocks are handed out only for layouts of their own size class.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match recycle::class_of(layout) {
            Some(class) => recycle::take(class).unwrap_or_else(|| recycle::fresh(class, false)),
            None => unsafe { mimalloc::MiMalloc.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match recycle::class_of(layout) {
            Some(class) => match recycle::take(class) {
                Some(p) => {
                    // SAFETY: a recycled block holds at least its class's size, which covers the layout.
                    unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                    p
                }
                None => recycle::fresh(class, true),
            },
            None => unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match recycle::class_of(layout) {
            Some(class) => recycle::give(class, ptr),
            None => unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (recycle::class_of(layout), recycle::class_of(new_layout)) {
            (None, None) => unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) },
            // Still fits the block it has: growing a `Vec` within its class costs no copy.
            (Some(old), Some(new)) if old == new => ptr,
            _ => {
                // SAFETY: as the `GlobalAlloc` contract for a move: a fresh block for the new
                // layout, the common prefix copied, the old block freed.
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

/// The shared free lists of big blocks, one per size class.
mod recycle {
    use super::*;

    /// Blocks from this size up are rounded to a class and recycled (smaller ones are what
    /// mimalloc's per-thread pages serve well).
    pub(super) const MIN: usize = 1 << 20;
    /// Alignment of every classed block: Arrow's buffers ask for 64, `Vec<u8>` for 1.
    const ALIGN: usize = 64;
    /// Classes per doubling of size: a block is at most a quarter bigger than asked.
    const STEPS: usize = 4;
    /// Classes end below 1 GiB (the largest holds 896 MiB); bigger blocks go to mimalloc
    /// unclassed.
    const MAX_SHIFT: u32 = 30;
    const CLASSES: usize = (MAX_SHIFT - MIN.trailing_zeros()) as usize * STEPS;

    /// A size class: an index into the free lists.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) struct Class(usize);

    impl Class {
        /// Bytes of every block of this class.
        pub(super) fn bytes(self) -> usize {
            let base = MIN << (self.0 / STEPS);
            base + base / STEPS * (self.0 % STEPS)
        }
    }

    /// The class of a layout, if it is one that is recycled (the same answer for the same
    /// layout, so alloc and dealloc agree).
    pub(super) fn class_of(layout: Layout) -> Option<Class> {
        let size = layout.size();
        if !(MIN..1 << MAX_SHIFT).contains(&size) || layout.align() > ALIGN {
            return None;
        }
        let shift = usize::BITS - 1 - size.leading_zeros();
        let base = 1usize << shift;
        let step = base / STEPS;
        let within = (size - base).div_ceil(step);
        Some(Class((shift - MIN.trailing_zeros()) as usize * STEPS + within)).filter(|c| c.0 < CLASSES)
    }

    struct Lists {
        /// Head of each class's list; a free block's first word points to the next one (0 ends it).
        heads: [usize; CLASSES],
        /// Bytes in all lists.
        kept: usize,
        /// The most bytes the lists may hold (0: recycling is off).
        limit: usize,
    }

    static LISTS: std::sync::Mutex<Lists> = std::sync::Mutex::new(Lists { heads: [0; CLASSES], kept: 0, limit: 0 });

    fn lists() -> std::sync::MutexGuard<'static, Lists> {
        // Nothing panics while the lock is held; a poisoned lock still holds consistent lists.
        LISTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A kept block of `class`, if there is one.
    pub(super) fn take(class: Class) -> Option<*mut u8> {
        let mut lists = lists();
        let head = lists.heads[class.0];
        if head == 0 {
            return None;
        }
        let block = head as *mut usize;
        // SAFETY: a listed block is ours alone and starts with the link written by `give`.
        lists.heads[class.0] = unsafe { block.read() };
        lists.kept -= class.bytes();
        Some(block.cast())
    }

    /// A new block of `class` from mimalloc.
    pub(super) fn fresh(class: Class, zeroed: bool) -> *mut u8 {
        // SAFETY: plain allocation calls; a null result is passed on as the contract allows.
        unsafe {
            if zeroed {
                libmimalloc_sys::mi_zalloc_aligned(class.bytes(), ALIGN).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(class.bytes(), ALIGN).cast()
            }
        }
    }

    /// Keeps a freed block of `class` for reuse, or frees it when the lists are full.
    pub(super) fn give(class: Class, block: *mut u8) {
        let mut lists = lists();
        if lists.kept + class.bytes() <= lists.limit {
            // SAFETY: the block is freed to us, at least a word long and 64-byte aligned.
            unsafe { block.cast::<usize>().write(lists.heads[class.0]) };
            lists.heads[class.0] = block as usize;
            lists.kept += class.bytes();
            return;
        }
        drop(lists);
        // SAFETY: the block came from mimalloc (`fresh`) and is no longer used.
        unsafe { libmimalloc_sys::mi_free(block.cast::<c_void>()) };
    }

    /// Sets how many bytes the lists may keep; blocks over the new limit go back to mimalloc.
    pub(super) fn set_limit(limit: usize) {
        let mut lists = lists();
        lists.limit = limit;
        for class in (0..CLASSES).map(Class) {
            while lists.kept > lists.limit && lists.heads[class.0] != 0 {
                let block = lists.heads[class.0] as *mut usize;
                // SAFETY: as in `take`; the block then goes back to mimalloc, which made it.
                unsafe {
                    lists.heads[class.0] = block.read();
                    libmimalloc_sys::mi_free(block.cast::<c_void>());
                }
                lists.kept -= class.bytes();
            }
        }
    }

    /// Bytes kept in the lists now.
    #[cfg(test)]
    pub(super) fn kept() -> usize {
        lists().kept
    }
}

/// Turns transparent huge pages off for the whole process, for memory touched from now on (the
/// kernel checks at each fault, so mimalloc's earlier advice for its first arena is overridden)
/// and tells mimalloc not to advise them for later arenas. Where the kernel has no such switch,
/// pages stay as they were: only speed is at stake.
fn disable_thp() {
    // SAFETY: plain C calls with integer arguments; no pointers involved.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as above.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
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
    fn big_sizes_round_up_to_a_class_at_most_a_quarter_bigger() {
        let layout = |size| Layout::from_size_align(size, 1).expect("layout");
        assert_eq!(recycle::class_of(layout(recycle::MIN - 1)), None, "small blocks stay mimalloc's");
        assert_eq!(recycle::class_of(Layout::from_size_align(recycle::MIN, 128).expect("layout")), None);
        assert_eq!(recycle::class_of(layout((896 << 20) + 1)), None);
        let mut last = 0;
        for size in (recycle::MIN..=(896 << 20)).step_by(1_234_567) {
            let class = recycle::class_of(layout(size)).expect("a big block has a class");
            assert!(class.bytes() >= size && class.bytes() <= size + size / 4, "{size} -> {}", class.bytes());
            assert!(class.bytes() >= last, "classes grow with size");
            last = class.bytes();
        }
        for size in [recycle::MIN, 5 << 20, 6 << 20, (6 << 20) + 1, 7 << 20, 8 << 20] {
            assert_eq!(recycle::class_of(layout(size)).map(|c| c.bytes()), Some(size.next_multiple_of(1 << 20)));
        }
    }

    /// One test, as the settings are process-wide.
    #[test]
    fn while_any_ingest_guard_lives_memory_is_kept_and_big_blocks_reused_on_any_thread() {
        let layout = Layout::from_size_align((3 << 20) - 4096, 64).expect("layout");
        let before = purge_delay();
        let memory = IngestMemory::new();
        let other = IngestMemory::new();
        assert_eq!(purge_delay(), -1);
        drop(other);
        assert_eq!(purge_delay(), -1, "another guard still lives");
        // SAFETY: blocks are used within their layouts and freed once, with the layout they had.
        unsafe {
            let a = Allocator.alloc(layout);
            assert!(!a.is_null() && (a as usize).is_multiple_of(64));
            a.write_bytes(7, layout.size());
            Allocator.dealloc(a, layout);
            assert!(recycle::kept() >= layout.size());
            let again = std::thread::spawn(move || Allocator.alloc_zeroed(layout) as usize).join().expect("thread");
            assert_eq!(again, a as usize, "another thread gets the freed block");
            let b = again as *mut u8;
            assert!(std::slice::from_raw_parts(b, layout.size()).iter().all(|&x| x == 0), "zeroed on reuse");
            // Growing within the class keeps the block; past it, the contents move.
            let grown = Allocator.realloc(b, layout, 3 << 20);
            assert_eq!(grown, b);
            grown.write_bytes(9, 3 << 20);
            let grown_layout = Layout::from_size_align(3 << 20, 64).expect("layout");
            let moved = Allocator.realloc(grown, grown_layout, 9 << 20);
            assert_ne!(moved, grown);
            assert!(std::slice::from_raw_parts(moved, 3 << 20).iter().all(|&x| x == 9));
            let small = Allocator.realloc(moved, Layout::from_size_align(9 << 20, 64).expect("layout"), 100);
            assert!(std::slice::from_raw_parts(small, 100).iter().all(|&x| x == 9));
            Allocator.dealloc(small, Layout::from_size_align(100, 64).expect("layout"));
        }
        drop(memory);
        assert_eq!(purge_delay(), before);
        assert_eq!(recycle::kept(), 0, "nothing is kept once ingest is over");
        unsafe {
            let c = Allocator.alloc(layout);
            Allocator.dealloc(c, layout);
        }
        assert_eq!(recycle::kept(), 0, "outside ingest freed blocks go back to mimalloc");
    }
}
