//! Command line: `serve [--config FILE] [--port N]` (also the default) and `simulate`.

use std::path::PathBuf;

use anyhow::Context as _;
use voicegate::config::Settings;
use voicegate::startup::Application;
use voicegate::telemetry;

#[derive(Debug, clap::Parser)]
#[command(name = "voicegate", version, about = "Voice AI gateway for clinic phone lines")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve {
        /// YAML file layered over the embedded defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Port to listen on (overrides configuration).
        #[arg(long)]
        port: Option<u16>,
    },
    /// A scripted call end to end with no API key: the server in-process (or a running one),
    /// a Twilio-protocol caller and the fake realtime peer. Prints a timeline.
    #[cfg(feature = "testkit")]
    Simulate {
        /// Drive an already running server at this base URL instead of starting one.
        #[arg(long)]
        server: Option<String>,
    },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command.unwrap_or(Command::Serve {
        config: None,
        port: None,
    }) {
        Command::Serve { config, port } => {
            let mut settings = Settings::load(config.as_deref()).context("loading configuration")?;
            if let Some(port) = port {
                settings.server.port = port;
            }
            telemetry::init(telemetry::subscriber("info", std::io::stdout));
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "voicegate listening");
            app.run_until_stopped(voicegate::shutdown::signal()).await
        }
        #[cfg(feature = "testkit")]
        Command::Simulate { server } => {
            let _ = server;
            anyhow::bail!("not yet")
        }
    }
}
