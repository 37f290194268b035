//! What the command line prints: [`progress`] while a run works (compile notices, the
//! progress bar, the opening line), [`table`]s of its summary, and the [`verdict`] a
//! completed run exits with.

pub mod progress;
pub mod table;
pub mod verdict;
