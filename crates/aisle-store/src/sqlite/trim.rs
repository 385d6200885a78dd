//! Keeps the C allocator's memory from staying resident after SQLite has handled a model
//! version's bytes — saved (a training), or read back (start-up, a replica taking the
//! versions another trained): large chunks are mapped on their own
//! ([`map_large_chunks`]), and free pages are given back after each blob
//! ([`release_free_memory`]).
//!
//! SQLite allocates through the C library's `malloc`. A version's bytes (6 MB on the soak's
//! shop) are copied on their way into the file, and glibc keeps such chunks in its arenas
//! once freed (its mmap threshold rises to the largest chunk freed, so the next copies come
//! from the arenas too). Measured in the soak (`malloc_stats` in the server before and after
//! a retraining): glibc's heap grew from 29 to 43 MB, all of it free, at every version saved,
//! and stayed resident.

/// Fixes glibc's mmap threshold at 1 MiB for the whole process, once (any SQLite store
/// opened calls it); nothing elsewhere.
///
/// glibc raises the threshold to the largest mmapped chunk freed (a 6-MB model blob) and its
/// trim threshold to twice that, so later blob copies come from an arena, and the top of a
/// non-main arena (which `malloc_trim` does not cut) stays resident up to 12 MB. The soak
/// found a new arena holding exactly 12 MiB after some retrainings (`/proc/PID/smaps`), and
/// its resident memory stepped up by 16–21 MiB at those swaps. A fixed threshold turns off
/// both adjustments: chunks of a MiB or more are mapped and unmapped on their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn map_large_chunks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `mallopt` sets one of glibc's malloc parameters under its lock; it takes no
        // pointer and any thread may call it.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    });
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn map_large_chunks() {}

/// Returns glibc's free pages to the system (`malloc_trim`); nothing elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn release_free_memory() {
    // SAFETY: `malloc_trim` only walks glibc's own arenas, under their locks; any thread may
    // call it at any time, and it takes no pointer.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn release_free_memory() {}
