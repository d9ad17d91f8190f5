//! The `bcgraph` command: serve (the default), migrate, schema.

use bcgraph::config::Config;
use bcgraph::model::Registry;
use bcgraph::server::{self, AppState};
use bcgraph::{db, graphql};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bcgraph",
    version,
    about = "A self-hosted backend for BigCommerce apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve the API (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bcgraph: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bcgraph: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let registry = Arc::new(Registry::bigcommerce());
    if let Command::Schema = command {
        print!("{}", graphql::build_schema(registry, &Default::default())?.sdl());
        return Ok(());
    }
    let config = Config::from_env()?;
    let db = db::connect(&config.database_url).await?;
    db::migrate(&db).await?;
    if let Command::Migrate = command {
        tracing::info!("migrations applied");
        return Ok(());
    }
    let state = AppState::new(db, registry)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %config.listen, "serving; GraphiQL at /api/graphql");
    axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
