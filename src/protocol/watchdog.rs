//! A watchdog for the protocol module's unit tests (test builds only).

/// Runs `f` on its own thread and returns what it returns. A decoder or
/// inline splitter that loops (a mutant that consumes nothing, or waits
/// forever for bytes that never come) must fail the test that meets it,
/// not hang it, so every test of the decoder and the splitter calls them
/// under this watchdog: after 3 s (these calls take microseconds) it
/// aborts the whole test process. Failing only the test is not enough: the
/// runaway thread cannot be stopped, and one that allocates as it
/// spins slowed the rest of the run past a mutation run's budget.
pub(super) fn watched<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(3)) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            eprintln!("a protocol test did not finish within 3 s: aborting the tests");
            std::process::abort()
        }
        // The closure panicked: fail with its panic.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("no value sent"))
        }
    }
}
