//! The command line and the flag table, as the binary has them: the docs test renders
//! them, the flag-table test walks them.

#[allow(dead_code)]
#[path = "../src/cli.rs"]
pub mod cli;
#[allow(dead_code)]
#[path = "../src/flags.rs"]
pub mod flags;
