//! The `bcgraph` command line, for the built-in app and every app built on the library:
//! `serve` (the default), `migrate`, `schema`, `sync`, `api-key`, `webhooks`, `secret`.

mod client;
mod sync;

use crate::app::App;
use crate::auth::api_keys;
use crate::bigcommerce::{self, webhooks};
use crate::config::Config;
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(version, about = "A self-hosted backend for BigCommerce apps")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Apply migrations, then serve the API (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Write (--out) or check (--check) the app's JavaScript client package.
    Client(client::ClientArgs),
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
pub(crate) enum WebhooksCommand {
    /// Create the configured hooks with the store's secret header, reactivate inactive
    /// ones and delete this gateway's hooks that are no longer configured.
    Register {
        /// The store hash.
        #[arg(long)]
        store: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum SecretCommand {
    /// Re-seal every store's access token under BCGRAPH_SECRET (opening them with
    /// BCGRAPH_PREVIOUS_SECRETS), re-register installed stores' webhooks with the new
    /// secret header when BigCommerce is configured, and print what was done. Exits
    /// non-zero if something could not be moved (nothing is destroyed).
    Rotate,
}

#[derive(Subcommand)]
pub(crate) enum ApiKeyCommand {
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

/// Run one command of `app`.
pub(crate) async fn run(app: App, command: Command) -> anyhow::Result<()> {
    if let Command::Schema = command {
        print!("{}", app.schema_sdl()?);
        return Ok(());
    }
    if let Command::Client(args) = command {
        return client::run(app, args);
    }
    let config = Config::from_env()?;
    let db = crate::db::connect_with(
        &config.database_url,
        config.database_timeout,
        config.database_pool_size,
    )
    .await?;
    app.migrate(&db).await?;
    match command {
        Command::Migrate => {
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::ApiKey(command) => return api_key(&db, command).await,
        Command::Serve
        | Command::Schema
        | Command::Client(_)
        | Command::Webhooks(_)
        | Command::Secret(_)
        | Command::Sync { .. } => {}
    }
    let gateway = app.gateway(db.clone(), &config).await?;
    let state = gateway.state();
    match command {
        Command::Secret(SecretCommand::Rotate) => {
            let rotation = bigcommerce::rotation::rotate(state).await?;
            print!("{rotation}");
            if !rotation.complete() {
                anyhow::bail!("the rotation is not complete (see above)");
            }
            Ok(())
        }
        Command::Sync {
            store,
            models,
            since,
            force,
        } => {
            let request = json!({"models": models, "syncSince": since, "force": force});
            sync::run(state, &store, &request).await
        }
        Command::Webhooks(WebhooksCommand::Register { store }) => {
            let scopes = state.webhook_scopes();
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
            Ok(())
        }
        _ => {
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            if config.limits.graphiql {
                tracing::info!(address = %config.listen, workers = config.workers, "serving; GraphiQL at /api/graphql");
            } else {
                tracing::info!(address = %config.listen, workers = config.workers, "serving");
            }
            gateway.serve(listener, shutdown_signal()).await?;
            // Every connection ends with a goodbye to the server rather than a dropped
            // socket; a connection still out (a request dropped at the timeout) is not
            // waited for long.
            if tokio::time::timeout(std::time::Duration::from_secs(2), db.close())
                .await
                .is_err()
            {
                tracing::warn!("the database pool did not close within 2 s");
            }
            tracing::info!("shut down");
            Ok(())
        }
    }
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
                    "{}\t{}\t{}…\t{}\t{}\tcreated {}\t{}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.roles.join(","),
                    k.store_hash.as_deref().unwrap_or("every store"),
                    k.created_at.format("%Y-%m-%d %H:%M"),
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
