//! The running command's records, gathered per thread while an ordered
//! section runs (see the journal's module documentation).

use std::cell::RefCell;

use bytes::Bytes;

use super::Record;

#[derive(Default)]
pub(super) struct Section {
    pub(super) records: Vec<Record>,
    pub(super) dirty: u64,
    pub(super) rewritten: Option<Vec<Vec<Bytes>>>,
    /// Pops of blocked clients the section's pushes served: logged after
    /// the section's own records, each on its own (Redis serves blocked
    /// clients after the command, transaction or script has propagated).
    pub(super) served: Vec<Record>,
    /// Serving blocked clients ([`serving`]): every record is a served one.
    pub(super) serving: bool,
}

thread_local! {
    pub(super) static SECTION: RefCell<Option<Section>> = const { RefCell::new(None) };
}

/// Is this thread inside an ordered section (its records are kept)?
pub fn in_section() -> bool {
    SECTION.with(|s| s.borrow().is_some())
}

fn with_section(f: impl FnOnce(&mut Section)) {
    SECTION.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            f(s)
        }
    })
}

/// The data changed (called for every changed key).
#[inline]
pub fn dirty() {
    with_section(|s| s.dirty += 1);
}

/// Record `argv` for database `db` now.
pub fn record(db: usize, argv: Vec<Bytes>) {
    with_section(|s| {
        if s.serving {
            s.served.push((db, argv));
        } else {
            s.records.push((db, argv));
        }
    });
}

/// Run `f`, which serves blocked clients after a command, transaction or
/// script: what it records (the pops, the DEL of a key found expired) is
/// logged after the section's own records, outside their MULTI/EXEC.
pub fn serving<R>(f: impl FnOnce() -> R) -> R {
    let was = SECTION.with(|s| {
        s.borrow_mut()
            .as_mut()
            .map(|s| std::mem::replace(&mut s.serving, true))
    });
    let r = f();
    if let Some(was) = was {
        with_section(|s| s.serving = was);
    }
    r
}

/// Record the pop of a blocked client a push served: after the section's
/// own records, outside their MULTI/EXEC.
pub fn record_served(db: usize, argv: Vec<Bytes>) {
    with_section(|s| s.served.push((db, argv)));
}

/// The running command asks to be logged as what `argvs` builds instead
/// of itself (empty: not at all); built only inside a section.
pub fn rewrite(argvs: impl FnOnce() -> Vec<Vec<Bytes>>) {
    with_section(|s| s.rewritten = Some(argvs()));
}

/// A command's words for a record.
pub fn words(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// Where a command started: what it changed is counted from here.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mark {
    dirty: u64,
}

/// Mark the start of a command.
#[inline]
pub fn mark() -> Mark {
    let mut m = Mark::default();
    SECTION.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            s.rewritten = None;
            m.dirty = s.dirty;
        }
    });
    m
}

/// A command (started at `mark`, on database `db`) has run: record it as
/// it asked, or as `argv` if it changed anything.
#[inline]
pub fn command_done(mark: Mark, db: usize, argv: &[Bytes]) {
    with_section(|s| match s.rewritten.take() {
        Some(argvs) => s.records.extend(argvs.into_iter().map(|a| (db, a))),
        None if s.dirty > mark.dirty => s.records.push((db, argv.to_vec())),
        None => {}
    });
}

/// The running command (a script) was logged as the commands it ran:
/// nothing more for it when it is done.
pub fn logged_inside() {
    with_section(|s| s.rewritten = Some(Vec::new()));
}

/// Forget what the running section recorded (a script SHUTDOWN NOSAVE
/// stopped halfway: Redis exits before any of it is propagated).
pub fn discard() {
    with_section(|s| {
        s.records.clear();
        s.served.clear();
    });
}

/// This thread's open section, taken away while its script steps aside
/// (so a command served meanwhile does not write into it).
pub struct Stashed(Option<Section>);

/// Take this thread's open section away ([`restore_section`] puts it back).
pub fn stash_section() -> Stashed {
    Stashed(SECTION.with(|s| s.borrow_mut().take()))
}

/// Put back what [`stash_section`] took.
pub fn restore_section(Stashed(section): Stashed) {
    SECTION.with(|s| *s.borrow_mut() = section);
}

/// Clears the thread's section even if the section's work panics.
pub(super) struct SectionGuard;

impl Drop for SectionGuard {
    fn drop(&mut self) {
        SECTION.with(|s| s.borrow_mut().take());
    }
}
