//! ferry-connectors: one module per service, each the same shape (see DESIGN.md), and local
//! folders.

pub mod folder;
