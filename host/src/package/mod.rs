//! Plugin packages as a region receives them: `plugin.toml` (identity, component hash, data
//! needs, requested limits, grants), the publisher's `plugin.sig`, the region's trust policy,
//! and writing a package from a component.

pub mod manifest;
pub mod signing;
