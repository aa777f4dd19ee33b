//! bumarket-infra: parse the command line, run, and turn the result into an exit code.
//! Exit codes are chosen in one place: `run::Exit`.

mod aws;
mod cli;
mod cost;
mod graph;
mod import;
mod out;
mod permissions;
mod preflight;
mod progress;
mod release;
mod resources;
mod run;
mod settings;

use bumarket_core::{apply, engine, plan, render};
use clap::Parser;

fn main() -> std::process::ExitCode {
    // A command line clap refuses is bad input: exit 1, as for a bad stack file (clap's
    // own code, 2, is what `plan --detailed-exitcode` says for changes). Help and the
    // version are no error.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    run::main(cli).into()
}
