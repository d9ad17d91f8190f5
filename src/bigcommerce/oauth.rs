//! The single-click install: exchanging BigCommerce's `code` for an access token.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct OAuthUser {
    pub id: serde_json::Value,
    #[serde(default)]
    pub email: Option<String>,
}

/// BigCommerce's answer to a good code.
#[derive(Debug, Clone, Deserialize)]
pub struct Grant {
    pub access_token: String,
    #[serde(default)]
    pub scope: String,
    pub user: OAuthUser,
    pub owner: OAuthUser,
    /// `stores/{hash}`.
    pub context: String,
    #[serde(default)]
    pub account_uuid: Option<String>,
}

impl Grant {
    pub fn store_hash(&self) -> Option<&str> {
        self.context.strip_prefix("stores/").filter(|h| !h.is_empty())
    }
}

/// What the install callback received.
pub struct Exchange<'a> {
    pub login_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub code: &'a str,
    pub scope: &'a str,
    pub context: &'a str,
    /// Identical to the auth callback registered with BigCommerce.
    pub redirect_uri: &'a str,
}

/// `POST {login}/oauth2/token`. The error says why, for the page the merchant sees.
pub async fn exchange(http: &reqwest::Client, e: Exchange<'_>) -> Result<Grant, String> {
    let url = format!("{}/oauth2/token", e.login_url.trim_end_matches('/'));
    let body = serde_json::json!({
        "client_id": e.client_id, "client_secret": e.client_secret, "code": e.code, "context": e.context,
        "scope": e.scope, "grant_type": "authorization_code", "redirect_uri": e.redirect_uri,
    });
    let response = http
        .post(&url)
        .json(&body)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(|err| format!("BigCommerce could not be reached: {err}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let reason = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("error")
                    .or(v.get("title"))
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| status.to_string());
        return Err(format!("BigCommerce refused the installation code: {reason}"));
    }
    let grant: Grant = serde_json::from_str(&text)
        .map_err(|err| format!("BigCommerce's answer was not understood: {err}"))?;
    // The token must be for the store the merchant installed from.
    if grant.context != e.context || grant.store_hash().is_none() {
        return Err(format!(
            "BigCommerce granted access to `{}`, not to `{}`",
            grant.context, e.context
        ));
    }
    Ok(grant)
}
