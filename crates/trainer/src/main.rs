//! The `clr` command line. All logic lives in the `trainer` library; this file
//! parses arguments, runs the command and turns errors into an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    trainer::cli::setup_signals();
    let cli = trainer::cli::Cli::parse();
    match trainer::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = trainer::cli::hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
