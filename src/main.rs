//! Entry point: parse the command line, load the configuration, start logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use std::sync::Arc;

use mcap_notify::app::App;
use mcap_notify::cli::{execute, parse_bounce_files, BounceAction, Cli, Command};
use mcap_notify::config::{look_alike_env_vars, Settings};
use mcap_notify::{demo, dkim, exit, scheduler, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Parsing bounce files reads no configuration and touches no database.
    if let Command::Bounces {
        action: BounceAction::Parse { files, json },
    } = &cli.command
    {
        return match parse_bounce_files(files, *json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => exit::fail(&e),
        };
    }
    for warning in look_alike_env_vars(std::env::vars()) {
        eprintln!("warning: {warning}");
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return exit::fail(&e.into()),
    };
    if !matches!(cli.command, Command::Demo { .. } | Command::DkimRecord) {
        if let Err(e) = settings.refuse_placeholder_secrets() {
            return exit::fail(&e.into());
        }
    }
    telemetry::init(&settings.log);
    let result = match cli.command {
        Command::Demo { dir, seed, scale } => {
            demo::run(&dir, demo::DemoSize { seed, scale }, settings).await
        }
        Command::Serve => match App::open(settings).await {
            Ok(app) => mcap_notify::http::serve_until_signalled(Arc::new(app)).await,
            Err(e) => Err(e),
        },
        Command::DkimRecord => dkim::print_record(&settings),
        Command::Daemon => match App::open(settings).await {
            // A DKIM key that cannot be used stops the daemon at start, not its first run.
            Ok(app) => match app.dkim_signer() {
                Ok(_) => scheduler::run_daemon(Arc::new(app), scheduler::stop_on_signals()).await,
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e),
        },
        command => match App::open(settings).await {
            Ok(app) => execute(&app, command).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::fail(&e),
    }
}
