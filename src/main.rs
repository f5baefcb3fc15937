//! The `roadpulse` binary: parse the command line, run the subcommand, map errors to one
//! sentence and an exit code (2 usage, 78 bad configuration, 1 runtime failure).

use std::process::ExitCode;

use clap::Parser;
use roadpulse::app::{self, AppError};
use roadpulse::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => runtime().and_then(|rt| rt.block_on(app::run(&config))),
        Command::Poll { config } => runtime().and_then(|rt| rt.block_on(app::poll(&config))),
        Command::Ingest { config } => runtime().and_then(|rt| rt.block_on(app::ingest(&config))),
        Command::Replay(args) => app::replay(&args),
        Command::Demo(args) => runtime().and_then(|rt| rt.block_on(roadpulse::demo::run(&args))),
        Command::CheckConfig { config } => app::check_config(&config),
        Command::Generate(args) => app::generate(&args),
        Command::Simulate(args) => roadpulse::lab::simulate(&args),
        Command::Evaluate(args) => roadpulse::lab::evaluate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roadpulse: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))
}
