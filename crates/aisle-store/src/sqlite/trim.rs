//! Gives the C allocator's free memory back to the system once SQLite has handled a model
//! version's bytes: saved (a training), or read back (start-up, a replica taking the
//! versions another trained).
//!
//! SQLite allocates through the C library's `malloc`. A version's bytes (6 MB on the soak's
//! shop) are copied on their way into the file, and glibc keeps such chunks in its arenas
//! once freed (its mmap threshold rises to the largest chunk freed, so the next copies come
//! from the arenas too, and a non-main arena is never shrunk). Measured in the soak
//! (`malloc_stats` in the server before and after a retraining): glibc's heap grew from 29 to
//! 43 MB, all of it free, at every version saved, and stayed resident.

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
