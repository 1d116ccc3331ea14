//! Small pure helpers shared by the protocol and command layers.

pub mod glob;
pub mod histogram;
pub mod longdouble;
pub mod numbers;
pub mod rand;
pub mod slots;
pub mod sys;

/// Seconds since the Unix epoch (0 for a clock before it).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Run `f`, which may wait a long time, as a blocking section of the async
/// runtime when called on a thread of a multi-threaded runtime: that
/// thread's other tasks move to another thread meanwhile. Anywhere else,
/// the server's own workers included (single-threaded event loops), it
/// just runs `f`.
pub fn blocking_section<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

thread_local! {
    /// The busy flag of the worker this thread is (none elsewhere).
    static WORKER_BUSY: std::cell::RefCell<Option<std::sync::Arc<std::sync::atomic::AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// Make `flag` this thread's worker busy flag (a worker, as it starts).
pub fn register_worker(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    WORKER_BUSY.with(|w| *w.borrow_mut() = Some(flag));
}

/// Is this thread one of the server's workers (a current-thread event
/// loop, whose tasks never move to another thread)?
pub fn on_worker() -> bool {
    WORKER_BUSY.with(|w| w.borrow().is_some())
}

/// Mark this thread's worker as running a script (which holds the thread
/// until it ends: new connections go to another worker meanwhile) or not.
/// Nothing on a thread that is not a worker.
pub fn set_worker_busy(on: bool) {
    WORKER_BUSY.with(|w| {
        if let Some(flag) = w.borrow().as_ref() {
            flag.store(on, std::sync::atomic::Ordering::Release);
        }
    });
}

/// The SHA1 of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// The lower-case hex SHA1 of `data` (script names, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> [u8; 40] {
    hex20(&sha1(data))
}

/// A 20-byte digest in lower-case hex (SHA1s, DEBUG DIGEST).
pub fn hex20(digest: &[u8; 20]) -> [u8; 40] {
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}
