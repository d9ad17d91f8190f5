//! The `bcgraph` command: serve (the default), migrate, schema, sync, api-key, webhooks.

use bcgraph::auth::api_keys;
use bcgraph::bigcommerce::{self, BigCommerce, ClientOptions, webhooks};
use bcgraph::config::Config;
use bcgraph::model::Registry;
use bcgraph::queue::{Worker, WorkerOptions};
use bcgraph::server::{self, AppState};
use bcgraph::{db, graphql};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;

mod sync_command;

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
    /// Manage API keys for back-end code.
    #[command(name = "api-key", subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage a store's BigCommerce webhooks.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Manage the gateway's secret.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Sync a store now, in the foreground, with a progress bar per resource. Continues the
    /// store's unfinished sync if there is one.
    Sync {
        /// The store hash.
        #[arg(long)]
        store: String,
        /// Resources to copy, comma-separated (categories, brands, products, metafields,
        /// customers, orders); all by default.
        #[arg(long)]
        models: Option<String>,
        /// Only what changed since then (RFC 3339); by default since the last completed sync.
        #[arg(long)]
        since: Option<String>,
        /// Copy everything and delete what BigCommerce no longer has.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Create the configured hooks with the store's secret header, reactivate inactive
    /// ones and delete this gateway's hooks that are no longer configured.
    Register {
        /// The store hash.
        #[arg(long)]
        store: String,
    },
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Re-seal every store's access token under BCGRAPH_SECRET (opening them with
    /// BCGRAPH_PREVIOUS_SECRETS), re-register installed stores' webhooks with the new
    /// secret header when BigCommerce is configured, and print what was done. Exits
    /// non-zero if something could not be moved (nothing is destroyed).
    Rotate,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it once; only its hash is kept.
    Create {
        /// The key's role.
        #[arg(long, default_value = "system-admin")]
        role: String,
        /// The store (hash) the key acts for; required for every role but system-admin.
        #[arg(long)]
        store: Option<String>,
        /// A name to tell it apart in listings.
        #[arg(long, default_value = "api key")]
        name: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id or name.
    Revoke { id_or_name: String },
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
        let bigcommerce = BigCommerce::new("https://api.bigcommerce.com", ClientOptions::default())?;
        // The schema does not depend on the secret; handlers only need one to run.
        let globals = bigcommerce::register(Default::default(), &bigcommerce, &Default::default(), None);
        print!("{}", graphql::build_schema(registry, &globals)?.sdl());
        return Ok(());
    }
    let config = Config::from_env()?;
    let db = db::connect(&config.database_url).await?;
    db::migrate(&db).await?;
    match command {
        Command::Migrate => {
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::ApiKey(command) => return api_key(&db, command).await,
        Command::Serve
        | Command::Schema
        | Command::Webhooks(_)
        | Command::Secret(_)
        | Command::Sync { .. } => {}
    }
    let state = AppState::new(db, registry, Default::default(), &config).await?;
    if let Command::Secret(SecretCommand::Rotate) = command {
        let rotation = bigcommerce::rotation::rotate(&state).await?;
        print!("{rotation}");
        if !rotation.complete() {
            anyhow::bail!("the rotation is not complete (see above)");
        }
        return Ok(());
    }
    if let Command::Sync {
        store,
        models,
        since,
        force,
    } = command
    {
        let request = json!({"models": models, "syncSince": since, "force": force});
        return sync_command::run(&state, &store, &request).await;
    }
    if let Command::Webhooks(WebhooksCommand::Register { store }) = command {
        let scopes = config
            .bigcommerce
            .webhook_scopes
            .clone()
            .unwrap_or_else(|| state.ingest.triggers.scopes());
        let done = webhooks::register_store(
            &state.api,
            &state.bigcommerce,
            &state.auth.secret,
            config.public_url.as_str(),
            &scopes,
            &store,
        )
        .await?;
        println!(
            "store {store}: created {:?}, reactivated {:?}, re-keyed {:?}, deleted {:?}",
            done.created, done.reactivated, done.rekeyed, done.deleted
        );
        return Ok(());
    }
    let workers = (config.workers > 0).then(|| {
        Worker::start(
            state.api.clone(),
            WorkerOptions {
                concurrency: config.workers,
                lease: config.job_lease,
                ..Default::default()
            },
        )
    });
    if let Some(interval) = config.sync_interval {
        tokio::spawn(bigcommerce::sync::actions::schedule(state.api.clone(), interval));
    }
    if let Some(interval) = config.purge_interval {
        tokio::spawn(bcgraph::auth::purge::schedule(state.db.clone(), interval));
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    if config.limits.graphiql {
        tracing::info!(address = %config.listen, workers = config.workers, "serving; GraphiQL at /api/graphql");
    } else {
        tracing::info!(address = %config.listen, workers = config.workers, "serving");
    }
    // Connect info: rate limits and websocket caps count clients by their address.
    let app = server::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Running jobs finish (or are handed back) before the process ends.
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    served?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn api_key(db: &sea_orm::DatabaseConnection, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create { role, name, store } => {
            let (id, key) =
                api_keys::create(db, &name, std::slice::from_ref(&role), store.as_deref()).await?;
            let bound = store.map(|s| format!(", store {s}")).unwrap_or_default();
            eprintln!("created API key {id} ({name}, role {role}{bound}); it is shown once:");
            println!("{key}");
        }
        ApiKeyCommand::List => {
            for k in api_keys::list(db).await? {
                let state = match k.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}…\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.roles.join(","),
                    k.store_hash.as_deref().unwrap_or("every store"),
                    state
                );
            }
        }
        ApiKeyCommand::Revoke { id_or_name } => {
            if !api_keys::revoke(db, &id_or_name).await? {
                anyhow::bail!("no active API key `{id_or_name}`");
            }
            println!("revoked {id_or_name}");
        }
    }
    Ok(())
}
