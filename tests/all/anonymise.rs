//! `livelab anonymise` (being written).
