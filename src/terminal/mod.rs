//! What the command line prints: [`progress`] while a run works (compile notices, the
//! progress bar, the opening line) and [`table`]s of its summary.

pub mod progress;
pub mod table;
