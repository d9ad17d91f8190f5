//! The app's own HTTP route: `GET /guide/summary` answers how many products and reviews
//! the caller's store has. The [`RequestApi`] extractor gives the API as the caller, so
//! tenancy applies here as in GraphQL: an anonymous caller counts nothing.

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bcgraph::names;
use bcgraph::{AppState, RequestApi};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new().route("/guide/summary", get(summary))
}

async fn summary(RequestApi(api): RequestApi) -> Result<Json<Value>, (StatusCode, String)> {
    let count = |model: &'static str| {
        let api = api.clone();
        async move {
            api.model(model)
                .records(Value::Null, Value::Null, 250)
                .await
                .map(|r| r.len())
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.public_message()))
        }
    };
    Ok(Json(json!({
        "store": api.caller.tenant.store().map(|s| s.to_string()),
        "products": count(names::PRODUCT).await?,
        "reviews": count("bigcommerce/productReview").await?,
    })))
}
