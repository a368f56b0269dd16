//! What ferry's tests share, in one dev-only crate that the shipped binary never links:
//!
//! - [`source_suite`]: the conformance suite every [`ferry_core::Source`] passes, written as
//!   functions each service's tests call with a fixture of their own (the model is rclone's
//!   fstests);
//! - [`postgres`]: a fresh database per test on the throwaway cluster `scripts/postgres` starts;
//! - [`moto`]: moto's server as a local S3;
//! - [`bench`]: writing the benches' figures into docs/benchmarks.md.

pub mod bench;
pub mod moto;
pub mod postgres;
pub mod source_suite;
