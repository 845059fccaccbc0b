//! One module per command.

mod audit;
pub mod bench;
mod capture;
mod compare;
mod convert;
mod docs;
mod inspect;
mod map;
mod matrix;
mod optimize;
pub mod oracle;
mod package;
pub mod parity;
mod plan;
mod port;
mod profile;
pub mod quality;
pub mod quantize;
mod recommend;
mod report;
mod research;
mod scaffold;
mod skill;
mod sources;
mod tensors;

use crate::cli::{Cli, Command};

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Tensors(args) => tensors::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Map(cmd) => map::run(cmd),
        Command::Convert(args) => convert::run(args),
        Command::Oracle(args) => oracle::run(args),
        Command::Scaffold(args) => scaffold::run(args),
        Command::Capture(args) => capture::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Recommend(args) => recommend::run(args),
        Command::Docs(args) => docs::docs(args),
        Command::Explain(args) => docs::explain(args),
        Command::Bench(args) => bench::run(*args),
        Command::Compare(args) => compare::run(*args),
        Command::Port(args) => port::run(*args),
        Command::Package(args) => package::run(args),
        Command::Report(args) => report::run(args),
        Command::Skill(cmd) => skill::run(cmd),
        Command::Audit(args) => audit::run(args),
        Command::Sources(cmd) => sources::run(cmd),
        Command::Research(args) => research::run(args),
        Command::Parity(args) => match args.command {
            Some(crate::cli::ParityCommand::Matrix(m)) => matrix::run(m),
            None => parity::run(*args),
        },
        Command::Quantize(args) => quantize::run(*args),
        Command::Quality(args) => quality::run(*args),
        Command::Optimize(args) => optimize::run(*args),
        Command::Profile(args) => profile::run(*args),
    }
}
