//! The exit status of a run, trial or merge that completed: whether it did what it was run
//! for, said in one line.

use std::process::ExitCode;

use livelab_host::run::RunSummary;

/// The exit status of a run or trial that completed and wrote its files but evaluated no
/// record, or refused records for direct identifiers (see [`run_status`]); 1 stays "the
/// input could not be used at all".
const EXIT_RUN_UNUSABLE: u8 = 2;

/// The exit status of a completed run: success, or [`EXIT_RUN_UNUSABLE`] with one line on
/// stderr saying why ([`RunSummary::unusable`]). `whole_source`: false for a shard, whose
/// slice of the records may be empty without anything being wrong.
pub fn run_status(summary: &RunSummary, whole_source: bool) -> ExitCode {
    let why = summary
        .unusable()
        .filter(|_| whole_source || summary.ingest.identified_records_refused > 0);
    match why {
        Some(why) => {
            eprintln!("error: {why} (the output files were written)");
            ExitCode::from(EXIT_RUN_UNUSABLE)
        }
        None => ExitCode::SUCCESS,
    }
}
