//! bumarket-infra: parse the command line, run, and turn the result into an exit code.
//! Exit codes are chosen in one place: `run::Exit`.

mod aws;
mod cli;
mod import;
mod out;
mod permissions;
mod preflight;
mod release;
mod resources;
mod run;
mod settings;

use bumarket_core::{apply, engine, plan, render};
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    run::main(cli).into()
}
