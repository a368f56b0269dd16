//! What ferry's tests share, in one dev-only crate that the shipped binary never links:
//!
//! - [`source_suite`] and [`destination_suite`]: the conformance suites every
//!   [`ferry_core::Source`] and every [`ferry_core::Destination`] pass, written as functions
//!   each service's tests call with a fixture of their own (the model is rclone's fstests);
//! - [`postgres`]: a fresh database per test on the throwaway cluster `scripts/postgres` starts;
//! - [`moto`]: moto's server as a local S3;
//! - [`bench`]: writing the benches' figures into docs/benchmarks.md.

pub mod bench;
pub mod destination_suite;
pub mod moto;
pub mod postgres;
pub mod source_suite;
