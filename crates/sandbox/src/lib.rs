//! ferry-sandbox: emulators of the services ferry speaks to, and the deterministic
//! media they are seeded with.

pub mod media;
