//! Entry point: parse the command line, prepare what the command needs (the configuration,
//! logging, the opened application), run it, and turn the outcome into an exit code.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use mcap_notify::app::App;
use mcap_notify::cli::{self, Cli, Needs};
use mcap_notify::config::{look_alike_env_vars, Settings};
use mcap_notify::{exit, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    match start(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::fail(&e),
    }
}

/// Prepares as much as the command needs, in this order, and runs it.
async fn start(cli: Cli) -> anyhow::Result<()> {
    let needs = cli.command.needs();
    if needs == Needs::Nothing {
        return cli::execute_offline(cli.command);
    }
    for warning in look_alike_env_vars(std::env::vars()) {
        eprintln!("warning: {warning}");
    }
    let settings = Settings::load(cli.config.as_deref())?;
    for warning in settings.obsolete_keys() {
        eprintln!("warning: {warning}");
    }
    if needs == Needs::App {
        settings.refuse_placeholder_secrets()?;
    }
    telemetry::init(&settings.log);
    if needs == Needs::Settings {
        return cli::execute_with_settings(cli.command, settings).await;
    }
    let app = App::open(settings).await?;
    cli::execute(Arc::new(app), cli.command).await
}
