//! `bcgraph secret rotate`: move what is stored onto the current secret, so previous
//! secrets can be dropped. Every store's access token is re-sealed under the current
//! sealing key (a token no accepted secret opens is reported and left alone, never
//! destroyed), and, when BigCommerce is configured, every installed store's hooks are
//! re-registered so their secret header is the current one. Once everything moved, a
//! generated secret still kept in the database (from before `BCGRAPH_SECRET` was set) is
//! deleted.

use super::access_token::{self, Resealed};
use super::webhooks::{self, Registered};
use crate::auth::secrets;
use crate::server::AppState;
use std::fmt;

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rotation {
    /// The current sealing key's id: every re-sealed value names it.
    pub key_id: String,
    pub tokens: Resealed,
    /// `None` when BigCommerce is not configured (hooks left to `webhooks register`).
    pub webhooks: Option<Vec<(String, Result<Registered, String>)>>,
    /// Whether a generated secret was deleted from the database.
    pub forgot_generated: bool,
    /// A generated secret is still kept in the database (something did not move).
    pub generated_kept: bool,
}

impl Rotation {
    /// Did everything move onto the current secret?
    pub fn complete(&self) -> bool {
        self.tokens.unreadable.is_empty()
            && self
                .webhooks
                .as_ref()
                .is_none_or(|stores| stores.iter().all(|(_, r)| r.is_ok()))
    }
}

/// Rotate onto the current secret (`BCGRAPH_SECRET`).
pub async fn rotate(state: &AppState) -> anyhow::Result<Rotation> {
    let secrets = &state.auth.secret;
    let mut out = Rotation {
        key_id: secrets.current().sealing_kid().to_owned(),
        tokens: access_token::reseal_all(&state.db, secrets).await?,
        ..Rotation::default()
    };
    let bc = &state.config.bigcommerce;
    if bc.client_id.is_some() {
        let scopes = bc
            .webhook_scopes
            .clone()
            .unwrap_or_else(|| state.ingest.triggers.scopes());
        let installed = super::stores::all_installed(&state.db).await?;
        let mut stores = Vec::new();
        for s in installed {
            if out.tokens.unreadable.contains(&s.store_hash) {
                stores.push((
                    s.store_hash,
                    Err("its access token opens under no known secret".into()),
                ));
                continue;
            }
            let done = webhooks::register_store(
                &state.api,
                &state.bigcommerce,
                secrets,
                state.config.public_url.as_str(),
                &scopes,
                &s.store_hash,
            )
            .await
            .map_err(|e| format!("{e:#}"));
            stores.push((s.store_hash, done));
        }
        out.webhooks = Some(stores);
    }
    if secrets.generated_in_database() && state.config.secret.is_some() {
        if out.complete() {
            out.forgot_generated = secrets::forget_generated(&state.db).await?;
        } else {
            out.generated_kept = true;
        }
    }
    Ok(out)
}

impl fmt::Display for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tokens;
        writeln!(
            f,
            "access tokens: {} re-sealed under key {}, {} sealed (were stored unsealed), {} already current, {} unreadable",
            t.resealed.len(),
            self.key_id,
            t.sealed_plaintext.len(),
            t.current.len(),
            t.unreadable.len()
        )?;
        for hash in &t.unreadable {
            writeln!(
                f,
                "  store {hash}: its token opens under no known secret; left as it is (add the secret it was sealed with to BCGRAPH_PREVIOUS_SECRETS, or reinstall the app)"
            )?;
        }
        match &self.webhooks {
            None => writeln!(
                f,
                "webhooks: not re-registered (BIGCOMMERCE_CLIENT_ID is not set); run `bcgraph webhooks register --store HASH` for each store"
            )?,
            Some(stores) => {
                for (hash, done) in stores {
                    match done {
                        Ok(r) => writeln!(
                            f,
                            "webhooks: store {hash}: re-keyed {}, created {}, reactivated {}, deleted {}",
                            r.rekeyed.len(),
                            r.created.len(),
                            r.reactivated.len(),
                            r.deleted.len()
                        )?,
                        Err(e) => writeln!(f, "webhooks: store {hash}: FAILED: {e}")?,
                    }
                }
            }
        }
        if self.forgot_generated {
            writeln!(f, "generated secret: deleted from the database")?;
        }
        if self.generated_kept {
            writeln!(
                f,
                "generated secret: kept in the database until everything above has moved"
            )?;
        }
        if self.complete() {
            writeln!(
                f,
                "done: previous secrets can be dropped from BCGRAPH_PREVIOUS_SECRETS"
            )
        } else {
            writeln!(f, "not done: keep BCGRAPH_PREVIOUS_SECRETS and run again")
        }
    }
}
