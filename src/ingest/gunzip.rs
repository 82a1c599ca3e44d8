//! Whole-buffer gzip inflate with libdeflate, for the common case: a trail file that is a few
//! complete gzip members, small enough to hold decompressed.
//!
//! Why: CloudTrail delivers files of a few hundred KB at most, one gzip member each. Inflating
//! a whole buffer at once (libdeflate) was measured faster than streaming through zlib-rs,
//! which was 7% of ingest's CPU. Anything else — a truncated or corrupt stream, a file too big
//! to hold — is left to the streaming decoder, which reads up to the damage and says where it
//! is (`sources::open_decoded`).

use std::cell::RefCell;
use std::ptr::NonNull;

/// Compressed files up to this size are read whole.
pub(super) const MAX_INPUT: u64 = 16 * 1024 * 1024;
/// Decompressed bytes one file may inflate to here (room is doubled while below this); a
/// bigger file streams.
const MAX_OUTPUT: usize = 128 * 1024 * 1024;

/// One libdeflate decompressor (it holds only tables, no stream state between calls).
struct Inflater(NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    fn new() -> Option<Self> {
        // SAFETY: allocation only; a null result (out of memory) is handled by the caller.
        NonNull::new(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() }).map(Self)
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor` and freed once, here.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

thread_local! {
    /// Each decode thread keeps its decompressor (allocating one costs more than a small file).
    static INFLATER: RefCell<Option<Inflater>> = const { RefCell::new(None) };
}

/// The decompressed content of `gz`, a sequence of complete gzip members; `None` when it is not
/// (damaged, truncated, trailing bytes) or would exceed [`MAX_OUTPUT`].
pub(super) fn inflate_whole(gz: &[u8]) -> Option<Vec<u8>> {
    INFLATER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Inflater::new();
        }
        inflate_members(slot.as_ref()?, gz)
    })
}

fn inflate_members(inflater: &Inflater, gz: &[u8]) -> Option<Vec<u8>> {
    // A member's trailer ends with its size mod 2^32: for the usual single member, the last four
    // bytes give the exact size to allocate.
    let last_size = gz.len().checked_sub(4).map(|at| u32::from_le_bytes([gz[at], gz[at + 1], gz[at + 2], gz[at + 3]]));
    let mut out: Vec<u8> = Vec::with_capacity((last_size? as usize).clamp(1024, MAX_OUTPUT));
    let mut at = 0;
    while at < gz.len() {
        let (used, written) = loop {
            let room = out.capacity() - out.len();
            let (mut used, mut written) = (0usize, 0usize);
            // SAFETY: libdeflate reads `gz[at..]` and writes at most `room` bytes into the
            // spare capacity after `out.len()`; both pointers are valid for those lengths.
            let result = unsafe {
                libdeflate_sys::libdeflate_gzip_decompress_ex(
                    inflater.0.as_ptr(),
                    gz[at..].as_ptr().cast(),
                    gz.len() - at,
                    out.as_mut_ptr().add(out.len()).cast(),
                    room,
                    &mut used,
                    &mut written,
                )
            };
            match result {
                libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => break (used, written),
                libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE if out.capacity() < MAX_OUTPUT => {
                    // A member bigger than its trailer said (multi-member, or over 4 GiB):
                    // retry it with twice the room.
                    double(&mut out);
                }
                _ => return None,
            }
        };
        // SAFETY: libdeflate initialised `written` bytes after the old length.
        unsafe { out.set_len(out.len() + written) };
        at += used;
        if used == 0 {
            return None;
        }
        if at < gz.len() && out.capacity() == out.len() {
            double(&mut out);
        }
    }
    Some(out)
}

/// Doubles the capacity (`reserve` counts from the length, which may be far below it).
fn double(out: &mut Vec<u8>) {
    let capacity = (out.capacity() * 2).max(1024);
    out.reserve(capacity - out.len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("gzip");
        enc.finish().expect("gzip")
    }

    #[test]
    fn single_and_concatenated_members_inflate_whole() {
        let a: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let b = b"{\"Records\":[]}".repeat(1000);
        assert_eq!(inflate_whole(&gzip(&a)).as_deref(), Some(&a[..]));
        let mut both = gzip(&a);
        both.extend(gzip(&b));
        both.extend(gzip(b""));
        let expected: Vec<u8> = a.iter().chain(&b).copied().collect();
        assert_eq!(inflate_whole(&both), Some(expected));
        // The trailer of a small last member understates the whole: the output still grows.
        let mut small_last = gzip(&b);
        small_last.extend(gzip(b"x"));
        assert_eq!(inflate_whole(&small_last).map(|v| v.len()), Some(b.len() + 1));
    }

    #[test]
    fn damaged_or_truncated_input_is_left_to_the_streaming_decoder() {
        let whole = gzip(&b"{\"eventName\":\"GetObject\"}\n".repeat(5000));
        assert_eq!(inflate_whole(&whole[..whole.len() - 10]), None, "truncated");
        let mut corrupt = whole.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        assert_eq!(inflate_whole(&corrupt), None, "corrupt");
        let mut trailing = whole.clone();
        trailing.extend(b"garbage");
        assert_eq!(inflate_whole(&trailing), None, "trailing bytes");
        assert_eq!(inflate_whole(b""), None);
    }
}
