//! `bcgraph sync`: one store's sync in the foreground, with a progress bar per resource.

use crate::action::Api;
use crate::bigcommerce::handlers::resolve_store;
use crate::bigcommerce::sync::{self, Counters, Observer, Outcome, Request, Resource};
use crate::server::AppState;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub(crate) async fn run(state: &AppState, hash: &str, request: &Json) -> anyhow::Result<()> {
    let store = resolve_store(&state.api, Some(hash)).await?;
    let api: Api = state.api.within_store(store.id);
    let id = match sync::unfinished(&api, store.id).await? {
        Some(unfinished) => {
            eprintln!(
                "continuing sync {} of store {hash} from its checkpoint (its own settings apply)",
                unfinished.id
            );
            unfinished.id
        }
        None => sync::create(&api, store.id, Request::from_json(request)?)
            .await?
            .id(),
    };
    let syncer = &state.syncer;
    let bars = Bars::default();
    let mut waited = false;
    loop {
        match syncer.run(&api, id, &bars).await? {
            Outcome::Completed => break,
            Outcome::Aborted => anyhow::bail!("sync {id} was aborted"),
            Outcome::Errored(message) => anyhow::bail!("sync {id} failed: {message}"),
            // A process that died leaves its lease to run out; a live one keeps renewing it.
            Outcome::Busy(until) if !waited => {
                eprintln!("sync {id} is held by another process until {until}; waiting for the lease to end");
                let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(left + std::time::Duration::from_millis(200)).await;
                waited = true;
            }
            Outcome::Busy(_) => anyhow::bail!("sync {id} is running in another process"),
        }
    }
    bars.finish();
    let progress = sync::progress_of(&api, id).await?;
    for (name, c) in progress {
        println!(
            "{name}: {} seen, {} created, {} updated, {} unchanged, {} deleted, {} failed",
            c.seen, c.created, c.updated, c.unchanged, c.deleted, c.failed
        );
    }
    println!("sync {id} of store {hash} completed");
    Ok(())
}

/// A bar per resource (with a known total) and per child model.
#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, name: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry(name.to_owned())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>14} {bar:30} {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(name.to_owned());
                bar
            })
            .clone()
    }

    fn finish(&self) {
        for bar in self.bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
            bar.finish();
        }
    }
}

impl Observer for Bars {
    fn progress(&self, resource: Resource, counters: &BTreeMap<String, Counters>, total: Option<u64>) {
        for name in [Some(resource.name()), resource.children()].into_iter().flatten() {
            let Some(c) = counters.get(name) else { continue };
            let bar = self.bar(name);
            let known = total.filter(|_| name == resource.name()).unwrap_or(0);
            bar.set_length(known.max(bar.length().unwrap_or(0)).max(c.seen));
            bar.set_position(c.seen);
            bar.set_message(format!(
                "+{} ~{} -{}{}",
                c.created,
                c.updated,
                c.deleted,
                if c.done { " done" } else { "" }
            ));
        }
    }
}
