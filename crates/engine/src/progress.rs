//! Live counters a front end polls to draw progress; the engine only adds to them.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Planning,
    Moving,
    Finished,
}

#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    /// Entries listed so far while planning.
    pub listed: AtomicU64,
    /// Units in the job, and how many of them are settled (done, skipped or failed).
    pub total_items: AtomicU64,
    pub settled_items: AtomicU64,
    pub failed_items: AtomicU64,
    /// Bytes of the job, and bytes moved so far (counted as they stream).
    pub total_bytes: AtomicU64,
    pub moved_bytes: AtomicU64,
}

impl Progress {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Planning,
            1 => Phase::Moving,
            _ => Phase::Finished,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        let n = match phase {
            Phase::Planning => 0,
            Phase::Moving => 1,
            Phase::Finished => 2,
        };
        self.phase.store(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }
}
