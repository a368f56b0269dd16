//! Refusing zip bombs.
//!
//! A zip's headers state each entry's compressed and uncompressed size, and a hostile archive
//! can lie in both directions: claim a kilobyte and inflate to terabytes (a "zip bomb"), or nest
//! thousands of overlapping entries. So the declared sizes are checked before an entry is
//! opened ([`Limits::check_entry`], [`Budget::admit`]), and the bytes actually inflated are
//! counted while reading ([`BoundedReader`]): a stored size is a claim, not a fact.

use std::io::{self, Read};

use crate::Refusal;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Entries that inflate to no more than this are never refused for their ratio: a small file of
/// repeated bytes legitimately compresses a thousandfold, and a bomb needs size to do harm.
pub const RATIO_FLOOR: u64 = MIB;

/// How much an archive (all parts of one export together) may inflate to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sum of all entries' uncompressed sizes. Takeout exports are split into 50 GB parts and
    /// the largest libraries run to a few TB of photos, so this is a disk guard, not a bomb
    /// guard: the ratio is what catches bombs.
    pub max_total_uncompressed: u64,
    /// Uncompressed ÷ compressed, for entries above [`RATIO_FLOOR`]. Photos and videos barely
    /// compress (≈1×), JSON reaches 10–30×; deflate itself tops out near 1032×.
    pub max_ratio: u64,
    /// Entries per archive. A large Takeout has a few hundred thousand (media plus sidecars).
    pub max_entries: u64,
    /// Size of one JSON file that will be parsed into memory. Facebook message threads with
    /// years of history run to tens of MB.
    pub max_json_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_uncompressed: 4 * 1024 * GIB,
            max_ratio: 100,
            max_entries: 2_000_000,
            max_json_bytes: 512 * MIB,
        }
    }
}

impl Limits {
    /// Checks one entry's declared sizes on their own: its ratio, and that it alone fits in the
    /// total. Use a [`Budget`] to also count entries and the running total.
    pub fn check_entry(&self, compressed: u64, uncompressed: u64) -> Result<(), Refusal> {
        if uncompressed > self.max_total_uncompressed {
            return Err(Refusal::TotalTooLarge {
                limit: self.max_total_uncompressed,
            });
        }
        if uncompressed > RATIO_FLOOR && uncompressed > compressed.saturating_mul(self.max_ratio) {
            return Err(Refusal::RatioTooHigh {
                compressed,
                uncompressed,
                limit: self.max_ratio,
            });
        }
        Ok(())
    }

    /// Checks that a JSON file of `size` bytes may be read into memory.
    pub fn check_json(&self, size: u64) -> Result<(), Refusal> {
        if size > self.max_json_bytes {
            return Err(Refusal::JsonTooLarge {
                size,
                limit: self.max_json_bytes,
            });
        }
        Ok(())
    }

    /// A running account of entries admitted under these limits.
    pub fn budget(&self) -> Budget {
        Budget {
            limits: *self,
            entries: 0,
            total: 0,
        }
    }
}

/// The entries admitted so far from one export (all its parts), so that the entry count and the
/// total are limited across the whole export, not per part.
#[derive(Clone, Debug)]
pub struct Budget {
    limits: Limits,
    entries: u64,
    total: u64,
}

impl Budget {
    /// Admits one more entry with these declared sizes, or refuses it and leaves the budget as
    /// it was.
    pub fn admit(&mut self, compressed: u64, uncompressed: u64) -> Result<(), Refusal> {
        if self.entries >= self.limits.max_entries {
            return Err(Refusal::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        self.limits.check_entry(compressed, uncompressed)?;
        let total = self
            .total
            .checked_add(uncompressed)
            .filter(|t| *t <= self.limits.max_total_uncompressed)
            .ok_or(Refusal::TotalTooLarge {
                limit: self.limits.max_total_uncompressed,
            })?;
        self.entries += 1;
        self.total = total;
        Ok(())
    }

    /// Entries admitted so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Declared uncompressed bytes admitted so far.
    pub fn total_uncompressed(&self) -> u64 {
        self.total
    }
}

/// Reads an entry's inflated bytes and fails with [`Refusal::LongerThanDeclared`] (as an
/// `io::ErrorKind::InvalidData` error) the moment they run past the declared size, so a header
/// that lies cannot get more bytes through than [`Budget::admit`] accounted for.
#[derive(Debug)]
pub struct BoundedReader<R> {
    inner: io::Take<R>,
    declared: u64,
    read: u64,
}

impl<R: Read> BoundedReader<R> {
    pub fn new(inner: R, declared: u64) -> Self {
        BoundedReader {
            // One byte past the limit is enough to know the header lied.
            inner: inner.take(declared.saturating_add(1)),
            declared,
            read: 0,
        }
    }
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.declared {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                Refusal::LongerThanDeclared {
                    declared: self.declared,
                },
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Limits {
        Limits {
            max_total_uncompressed: 100 * MIB,
            max_ratio: 100,
            max_entries: 3,
            max_json_bytes: MIB,
        }
    }

    #[test]
    fn defaults_admit_real_exports() {
        let limits = Limits::default();
        // A 4 GB video stored almost uncompressed.
        limits.check_entry(4 * GIB - 10, 4 * GIB).unwrap();
        // A 40 MB message thread deflated 25×.
        limits.check_entry(40 * MIB / 25, 40 * MIB).unwrap();
        limits.check_json(40 * MIB).unwrap();
        // Empty and tiny files, whatever their ratio.
        limits.check_entry(0, 0).unwrap();
        limits.check_entry(2, RATIO_FLOOR).unwrap();
    }

    #[test]
    fn refuses_bomb_ratios() {
        let limits = Limits::default();
        // 42.zip's inner layers: 4.3 GB from 4 MB and change.
        assert_eq!(
            limits.check_entry(4_400_000, 4_294_967_295),
            Err(Refusal::RatioTooHigh {
                compressed: 4_400_000,
                uncompressed: 4_294_967_295,
                limit: 100
            })
        );
        // A "stored" entry that claims to hold nothing yet inflates to something.
        assert!(matches!(
            limits.check_entry(0, RATIO_FLOOR + 1),
            Err(Refusal::RatioTooHigh { .. })
        ));
        // Exactly at the ratio is fine; one byte over is not.
        limits.check_entry(MIB, 100 * MIB).unwrap();
        assert!(limits.check_entry(MIB, 100 * MIB + 1).is_err());
        // Sizes near u64::MAX do not overflow into acceptance.
        assert!(limits.check_entry(u64::MAX / 2, u64::MAX).is_err());
    }

    #[test]
    fn refuses_an_entry_larger_than_the_total() {
        assert_eq!(
            small().check_entry(100 * MIB, 100 * MIB + 1),
            Err(Refusal::TotalTooLarge { limit: 100 * MIB })
        );
    }

    #[test]
    fn refuses_large_json() {
        small().check_json(MIB).unwrap();
        assert_eq!(
            small().check_json(MIB + 1),
            Err(Refusal::JsonTooLarge {
                size: MIB + 1,
                limit: MIB
            })
        );
    }

    #[test]
    fn budget_counts_entries_and_total_across_parts() {
        let mut budget = small().budget();
        budget.admit(60 * MIB, 60 * MIB).unwrap();
        // Would bring the total to 120 MiB: refused, and not counted.
        assert_eq!(
            budget.admit(60 * MIB, 60 * MIB),
            Err(Refusal::TotalTooLarge { limit: 100 * MIB })
        );
        assert_eq!(
            (budget.entries(), budget.total_uncompressed()),
            (1, 60 * MIB)
        );
        budget.admit(40 * MIB, 40 * MIB).unwrap();
        budget.admit(0, 0).unwrap();
        assert_eq!(
            budget.admit(0, 0),
            Err(Refusal::TooManyEntries { limit: 3 })
        );
        assert_eq!(
            (budget.entries(), budget.total_uncompressed()),
            (3, 100 * MIB)
        );
    }

    #[test]
    fn budget_total_does_not_overflow() {
        let mut budget = Limits {
            max_total_uncompressed: u64::MAX,
            max_ratio: u64::MAX,
            ..small()
        }
        .budget();
        budget.admit(u64::MAX, u64::MAX).unwrap();
        assert!(budget.admit(1, 1).is_err());
    }

    #[test]
    fn bounded_reader_passes_honest_entries() {
        let mut out = Vec::new();
        BoundedReader::new(&b"hello"[..], 5)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
        // Shorter than declared is the zip reader's CRC check to catch, not ours.
        out.clear();
        BoundedReader::new(&b"hi"[..], 5)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hi");
    }

    #[test]
    fn bounded_reader_stops_entries_that_lie() {
        let mut out = Vec::new();
        let err = BoundedReader::new(io::repeat(0), 1000)
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "entry inflated past the 1000 bytes its header declares"
        );
        assert!(out.len() <= 1001);
    }
}
