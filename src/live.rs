//! Live queries: a query sent with `@live` (what the client's `findMany({live: true})`
//! and the React hooks' `live` option send over the websocket) answers with its full
//! result, then again whenever a table it reads has changed, from any process.
//!
//! What changed is learnt from the database itself, so that every writer counts (the
//! action runtime, the sync, an app's own SQL, another gateway process) and only
//! committed changes are seen:
//! - on PostgreSQL statement triggers on each model table send `NOTIFY bcgraph_live`
//!   with `table:store` for each store whose rows the statement wrote (sent at commit,
//!   once per payload per transaction), and one `LISTEN`ing connection per process
//!   relays them;
//! - on SQLite row triggers count each table's writes per store in
//!   `bcgraph_live_changes`, which this process reads every [`SQLITE_POLL`] while any
//!   live query is open.
//!
//! The triggers follow the registry (an app's models too), so they are installed at
//! start rather than by a migration. A change is known by table and store, not by row:
//! a store's live queries run again on their own store's changes only, the system's on
//! every change; each runs as its caller, so tenancy applies to every answer, and an
//! answer is sent only when it differs from the last one.

use crate::model::{Registry, pascal};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How often SQLite's change counters are read while a live query is open.
pub const SQLITE_POLL: Duration = Duration::from_millis(50);
/// The least time between two answers of one live query: changes that arrive in it
/// are answered together.
pub const COALESCE: Duration = Duration::from_millis(50);
/// The PostgreSQL channel the triggers notify.
const CHANNEL: &str = "bcgraph_live";
/// How long the start waits to hear its own probe (see `Changes::probe`).
const PROBE_WAIT: Duration = Duration::from_secs(5);
/// Sent when changes may have been missed (a lost `LISTEN` connection): every live
/// query runs again.
pub const EVERYTHING: &str = "*";

/// A change as the relay reports it: `table` (any of its rows), `table:store` (rows
/// of one store) or [`EVERYTHING`].
pub type Change = Arc<str>;

/// Does `change` concern a live query that reads `tables` as a caller of `store` (or
/// of every store)?
pub fn concerns(change: &str, tables: &HashSet<String>, store: Option<i64>) -> bool {
    if change == EVERYTHING {
        return true;
    }
    let (table, changed_store) = match change.split_once(':') {
        Some((table, s)) => (table, s.parse::<i64>().ok()),
        None => (change, None),
    };
    tables.contains(table)
        && match (store, changed_store) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        }
}

/// The stream of changes, shared by every connection of the process.
#[derive(Clone)]
pub struct Changes {
    sender: broadcast::Sender<Change>,
    /// Ends the relay ([`Changes::stop`]).
    stop: crate::server::drain::Drain,
    relay: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Changes {
    /// Install the triggers for every model table of `registry` and start relaying
    /// what they report. `url` is the database's: the relay has a connection of its own,
    /// so that it neither waits for nor holds one of the pool's. On PostgreSQL that
    /// connection goes to `direct` when there is one (`BCGRAPH_DATABASE_DIRECT_URL`):
    /// a pooler in transaction mode would run the `LISTEN` on whichever server
    /// connection it lent for that statement, and the notifications would be lost.
    pub async fn start(
        db: &DatabaseConnection,
        url: &str,
        direct: Option<&str>,
        registry: &Registry,
    ) -> Result<Changes, DbErr> {
        // Each table with the column that names its rows' store, if it has one.
        let tables: Vec<(String, Option<String>)> = registry
            .models
            .iter()
            .map(|m| {
                (
                    m.table.clone(),
                    m.tenant_scope().map(|f| m.fields[f].column.clone()),
                )
            })
            .collect();
        let (sender, _) = broadcast::channel(1024);
        let changes = Changes {
            sender,
            stop: Default::default(),
            relay: Default::default(),
        };
        match db.get_database_backend() {
            DbBackend::Postgres => {
                install_postgres(db, &tables).await?;
                changes.relay_postgres(db, direct).await?;
            }
            _ => {
                install_sqlite(db, &tables).await?;
                // An in-memory database exists only on the pool's own connection.
                let own = if url.contains(":memory:") || url.contains("mode=memory") {
                    db.clone()
                } else {
                    let mut options = sea_orm::ConnectOptions::new(url);
                    options.max_connections(1).min_connections(1).sqlx_logging(false);
                    sea_orm::Database::connect(options).await?
                };
                changes.poll_sqlite(own);
            }
        }
        Ok(changes)
    }

    /// Stop relaying, and give the relay's connection back (on PostgreSQL its `LISTEN`
    /// ends): the process is shutting down. Waits a second at most.
    pub async fn stop(&self) {
        self.stop.start();
        let relay = self.relay.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(relay) = relay
            && tokio::time::timeout(Duration::from_secs(1), relay).await.is_err()
        {
            tracing::warn!("the live-query relay did not stop within a second");
        }
    }

    fn keep(&self, relay: tokio::task::JoinHandle<()>) {
        *self.relay.lock().unwrap_or_else(|e| e.into_inner()) = Some(relay);
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }

    async fn relay_postgres(&self, db: &DatabaseConnection, direct: Option<&str>) -> Result<(), DbErr> {
        use sea_orm::sqlx::postgres::PgListener;
        let connected = match direct {
            Some(url) => PgListener::connect(&crate::db::local_without_tls(url)).await,
            None => PgListener::connect_with(db.get_postgres_connection_pool()).await,
        };
        let mut listener =
            connected.map_err(|e| DbErr::Custom(format!("cannot LISTEN for live queries: {e}")))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(|e| DbErr::Custom(format!("cannot LISTEN for live queries: {e}")))?;
        if let Err(e) = self.probe(db, &mut listener).await {
            // Not left listening on a connection the pooler lends to others.
            let _ = tokio::time::timeout(Duration::from_millis(500), listener.unlisten_all()).await;
            return Err(e);
        }
        let (sender, stop) = (self.sender.clone(), self.stop.clone());
        self.keep(tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    () = stop.started() => break,
                };
                match received {
                    Ok(Some(note)) => {
                        let _ = sender.send(Arc::from(note.payload()));
                    }
                    // The connection was lost and is being remade: what happened
                    // meanwhile is unknown, so everything may have changed.
                    Ok(None) => {
                        let _ = sender.send(Arc::from(EVERYTHING));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live queries lost their LISTEN connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            // The connection goes back to the pool listening to nothing.
            let _ = tokio::time::timeout(Duration::from_millis(500), listener.unlisten_all()).await;
        }));
        Ok(())
    }

    /// Check that a change written through `db` reaches `listener`. A `LISTEN` made
    /// through a pooler in transaction mode stays on whichever server connection the
    /// pooler lent for it: it hears nothing of other processes' writes, and its
    /// notifications land on other clients' connections, failing their statements
    /// (sqlx refuses a notification in the middle of a statement's answer). Starting so
    /// would break live queries and random requests without a word, so it is an error.
    /// PgBouncer is caught before any `LISTEN` (see [`crate::db::connect_relaxed`]);
    /// this catches a pooler that takes session settings and drops them, and can only
    /// try to take its `LISTEN` back. The probe's payload names no table: other
    /// processes' live queries ignore it.
    async fn probe(
        &self,
        db: &DatabaseConnection,
        listener: &mut sea_orm::sqlx::postgres::PgListener,
    ) -> Result<(), DbErr> {
        let payload = format!("!probe {:016x}", rand::random::<u64>());
        let sent = db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.clone().into()],
            ))
            .await;
        let heard = match sent {
            Err(e) => Err(e.to_string()),
            Ok(_) => tokio::time::timeout(PROBE_WAIT, async {
                while let Ok(note) = listener.recv().await {
                    if note.payload() == payload {
                        return Ok(());
                    }
                    let _ = self.sender.send(Arc::from(note.payload()));
                }
                Err("the LISTEN connection was lost".to_owned())
            })
            .await
            .unwrap_or_else(|_| Err(format!("no notification within {PROBE_WAIT:?}"))),
        };
        heard.map_err(|why| {
            DbErr::Custom(format!(
                "live queries cannot hear changes through DATABASE_URL ({why}); behind a pooler in \
                 transaction mode such as PgBouncer, set BCGRAPH_DATABASE_DIRECT_URL to PostgreSQL itself"
            ))
        })
    }

    fn poll_sqlite(&self, db: DatabaseConnection) {
        let (sender, stop) = (self.sender.clone(), self.stop.clone());
        self.keep(tokio::spawn(async move {
            // Each table's (and store's) count when last read; `None` until the first read.
            let mut seen: Option<HashMap<String, i64>> = None;
            let mut every = tokio::time::interval(SQLITE_POLL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    () = stop.started() => return,
                }
                // No live query is open: no read. The next one may take a change made
                // meanwhile for a new one, which costs one run of it, never a miss.
                if sender.receiver_count() == 0 && seen.is_some() {
                    continue;
                }
                let statement = Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT name || CASE WHEN store_id = 0 THEN '' ELSE ':' || store_id END AS name, version \
                     FROM bcgraph_live_changes",
                );
                let Ok(rows) = db.query_all_raw(statement).await else {
                    continue;
                };
                let mut now = HashMap::new();
                for row in rows {
                    if let (Ok(name), Ok(version)) = (
                        row.try_get::<String>("", "name"),
                        row.try_get::<i64>("", "version"),
                    ) {
                        now.insert(name, version);
                    }
                }
                if let Some(before) = &seen {
                    for (name, version) in &now {
                        if before.get(name) != Some(version) {
                            let _ = sender.send(Arc::from(name.as_str()));
                        }
                    }
                }
                seen = Some(now);
            }
        }));
    }
}

async fn install_postgres(db: &DatabaseConnection, tables: &[(String, Option<String>)]) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    // Several processes start at once on one database; PostgreSQL refuses two
    // concurrent replacements of one function, so they take turns.
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(7410031)")
        .await?;
    // `TG_ARGV[0]` names the store column; the statement's rows are in `changed`.
    txn.execute_unprepared(&format!(
        "CREATE OR REPLACE FUNCTION bcgraph_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF TG_NARGS = 0 OR TG_LEVEL <> 'STATEMENT' OR TG_OP = 'TRUNCATE' THEN \
             PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); \
           ELSE \
             EXECUTE format('SELECT pg_notify(%L, %L || '':'' || s) FROM (SELECT DISTINCT %I::text AS s FROM changed) AS x', \
                            '{CHANNEL}', TG_TABLE_NAME, TG_ARGV[0]); \
           END IF; \
           RETURN NULL; \
         END $$"
    ))
    .await?;
    for (table, store) in tables {
        let triggers: Vec<(&str, String)> = match store {
            Some(column) => vec![
                (
                    "insert",
                    format!("AFTER INSERT ON \"{table}\" REFERENCING NEW TABLE AS changed"),
                ),
                (
                    "update",
                    format!("AFTER UPDATE ON \"{table}\" REFERENCING NEW TABLE AS changed"),
                ),
                (
                    "delete",
                    format!("AFTER DELETE ON \"{table}\" REFERENCING OLD TABLE AS changed"),
                ),
                ("truncate", format!("AFTER TRUNCATE ON \"{table}\"")),
            ]
            .into_iter()
            .map(|(name, when)| {
                let args = if name == "truncate" {
                    String::new()
                } else {
                    format!("'{column}'")
                };
                (
                    name,
                    format!("{when} FOR EACH STATEMENT EXECUTE FUNCTION bcgraph_live_notify({args})"),
                )
            })
            .collect(),
            None => vec![(
                "all",
                format!(
                    "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON \"{table}\" \
                     FOR EACH STATEMENT EXECUTE FUNCTION bcgraph_live_notify()"
                ),
            )],
        };
        for (name, definition) in triggers {
            txn.execute_unprepared(&format!(
                "CREATE OR REPLACE TRIGGER bcgraph_live_{name} {definition}"
            ))
            .await?;
        }
    }
    txn.commit().await
}

async fn install_sqlite(db: &DatabaseConnection, tables: &[(String, Option<String>)]) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS bcgraph_live_changes (name TEXT NOT NULL, store_id INTEGER, \
         version INTEGER NOT NULL DEFAULT 0, UNIQUE (name, store_id))",
    )
    .await?;
    for (table, store) in tables {
        for (event, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
            let store = match store {
                Some(column) => format!("{row}.\"{column}\""),
                None => "NULL".to_owned(),
            };
            // A table-wide count (no store) is kept with store_id 0: UNIQUE treats
            // NULLs as distinct, so they could not be upserted.
            txn.execute_unprepared(&format!(
                "CREATE TRIGGER IF NOT EXISTS \"bcgraph_live_{table}_{event}\" AFTER {event} ON \"{table}\" \
                 BEGIN INSERT INTO bcgraph_live_changes (name, store_id, version) VALUES ('{table}', COALESCE({store}, 0), 1) \
                 ON CONFLICT (name, store_id) DO UPDATE SET version = version + 1; END"
            ))
            .await?;
        }
    }
    txn.commit().await
}

/// A live document made ordinary: the query text without its operations' `@live`,
/// or `None` when no query operation of it is live (or it does not parse: the
/// ordinary path reports that).
pub fn strip_live(query: &str) -> Result<Option<String>, String> {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return Ok(None);
    };
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    let mut cuts = Vec::new();
    for op in operations {
        for directive in op.node.directives.iter().filter(|d| d.node.name.node == "live") {
            if !directive.node.arguments.is_empty() {
                return Err("`@live` takes no arguments".into());
            }
            let at = offset_of(query, directive.pos.line, directive.pos.column)
                .filter(|&at| query[at..].starts_with("@live"))
                .ok_or_else(|| "cannot find the `@live` directive in the document".to_owned())?;
            cuts.push(at);
        }
    }
    if cuts.is_empty() {
        return Ok(None);
    }
    cuts.sort_unstable();
    let mut text = query.to_owned();
    for at in cuts.into_iter().rev() {
        text.replace_range(at..at + "@live".len(), "");
    }
    Ok(Some(text))
}

/// The byte offset of a 1-based line and column (counted in characters).
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    let within = rest.char_indices().nth(column.checked_sub(1)?)?.0;
    Some(start + within)
}

/// The tables a document may read: every model named by one of its fields (a root
/// field, a relationship, an internal `list<Model>`). More than it reads is harmless
/// (an extra run whose answer did not change is not sent); less would miss changes.
pub fn tables_read(document: &ExecutableDocument, registry: &Registry) -> HashSet<String> {
    let mut by_field: HashMap<String, Vec<&str>> = HashMap::new();
    for model in &registry.models {
        for name in [
            model.api_id.clone(),
            model.plural_api_id.clone(),
            format!("list{}", pascal(&model.api_id)),
        ] {
            by_field.entry(name).or_default().push(&model.table);
        }
        for relation in &model.relations {
            by_field
                .entry(relation.api_id.clone())
                .or_default()
                .push(&registry.get(relation.target).table);
        }
    }
    let mut names = HashSet::new();
    let mut sets: Vec<&SelectionSet> = Vec::new();
    match &document.operations {
        DocumentOperations::Single(op) => sets.push(&op.node.selection_set.node),
        DocumentOperations::Multiple(ops) => sets.extend(ops.values().map(|op| &op.node.selection_set.node)),
    }
    sets.extend(document.fragments.values().map(|f| &f.node.selection_set.node));
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    names.insert(field.node.name.node.to_string());
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => sets.push(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    names
        .iter()
        .filter_map(|name| by_field.get(name))
        .flatten()
        .map(|t| t.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_live_directive_only() {
        let q = "query products @live { bigcommerce { products { edges { node { id } } } } }";
        assert_eq!(
            strip_live(q).unwrap().as_deref(),
            Some("query products  { bigcommerce { products { edges { node { id } } } } }")
        );
        assert_eq!(strip_live("query { a }").unwrap(), None);
        let two_lines = "query a($x: Int)\n  @live {\n a }";
        assert_eq!(
            strip_live(two_lines).unwrap().as_deref(),
            Some("query a($x: Int)\n   {\n a }")
        );
        assert!(strip_live("query @live(if: true) { a }").is_err());
        assert_eq!(strip_live("query @live {").unwrap(), None);
    }

    #[test]
    fn a_change_concerns_the_queries_of_its_table_and_store() {
        let tables: HashSet<String> = ["bigcommerce_product".to_owned()].into();
        assert!(concerns("bigcommerce_product:7", &tables, Some(7)));
        assert!(!concerns("bigcommerce_product:8", &tables, Some(7)));
        assert!(
            concerns("bigcommerce_product:8", &tables, None),
            "the system sees every store"
        );
        assert!(
            concerns("bigcommerce_product", &tables, Some(7)),
            "a table-wide change"
        );
        assert!(!concerns("bigcommerce_order:7", &tables, Some(7)));
        assert!(concerns(EVERYTHING, &tables, Some(7)));
    }

    #[test]
    fn offsets_count_characters() {
        assert_eq!(offset_of("é @live", 1, 3), Some(3));
        assert_eq!(offset_of("a\nb", 2, 1), Some(2));
        assert_eq!(offset_of("a", 3, 1), None);
    }
}
