//! The `speech-coach` binary: parse the command line, load config, init telemetry, run.

use clap::{Parser, Subcommand};
use speech_coach::app::Application;
use speech_coach::config::Config;

#[derive(Parser)]
#[command(
    name = "speech-coach",
    version,
    about = "Coaching feedback for public speakers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("speech-coach: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(config)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("speech-coach: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // The guard flushes the log file when `serve` returns: keep it to the end.
    let guard = speech_coach::telemetry::init(&config.log)?;
    let services = speech_coach::app::Services {
        log_dropped: guard.counter(),
        ..Default::default()
    };
    let app = Application::build_with(config, services).await?;
    app.run_until_stopped().await
}
