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
    /// Analyse one recording without a server and print the report.
    Analyze {
        /// The audio or video file.
        file: std::path::PathBuf,
        /// `auto` (default) or a language code such as `ru`, `en`.
        #[arg(long, default_value = "auto")]
        language: String,
        /// Print the full JSON report instead of the readable summary.
        #[arg(long)]
        json: bool,
    },
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
        Command::Analyze {
            file,
            language,
            json,
        } => {
            init_cli_logging(&config);
            let language = (!language.eq_ignore_ascii_case("auto")).then_some(language);
            return match runtime.block_on(speech_coach::cli::analyze(config, &file, language, json))
            {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("speech-coach: {}", e.message);
                    std::process::ExitCode::from(e.exit_code)
                }
            };
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("speech-coach: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The CLI logs warnings and errors to the console only (no log file).
fn init_cli_logging(config: &Config) {
    let level = if config.log.level == "info" {
        "warn"
    } else {
        config.log.level.as_str()
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(speech_coach::telemetry::filter(level))
        .with_writer(std::io::stderr)
        .try_init();
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
