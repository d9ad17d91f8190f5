//! Running a request that passed the document check ([`super::cost`]) within its
//! budgets, the same way over HTTP and over the websocket: a time budget on execution,
//! the record budget, and the list items that must read `null` patched in.

use super::errors::INTERNAL_ERROR;
use super::{RequestContext, apply_null_items};
use async_graphql::dynamic::Schema;
use async_graphql::{Data, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Execute a query or mutation as `context` says, for at most `timeout`.
///
/// The timeout stops resolvers at their next await (a mutation's open transaction rolls
/// back when dropped); it cannot interrupt async-graphql's synchronous validation,
/// which is why documents are sized before they get here.
pub async fn run(
    schema: &Schema,
    request: async_graphql::Request,
    context: RequestContext,
    timeout: Duration,
) -> Response {
    let null_items = context.null_items();
    let budget = context.budget();
    let execution = schema.execute(request.data(context));
    let Ok(mut response) = tokio::time::timeout(timeout, execution).await else {
        return timed_out(timeout);
    };
    if budget.spent() {
        return budget.refusal();
    }
    apply_null_items(&mut response.data, &null_items);
    response
}

/// The answer to a request stopped by its time budget.
fn timed_out(timeout: Duration) -> Response {
    super::errors::refusal(
        INTERNAL_ERROR,
        &format!(
            "the request did not finish within {} s (BCGRAPH_EXECUTION_TIMEOUT_SECONDS) and was \
             stopped; a mutation in it may have been applied",
            timeout.as_secs()
        ),
    )
}

/// Execute a subscription as `context` says. Each event gets its `null` items; once the
/// record budget is spent the stream answers that error and ends; after `lifetime` it
/// answers a last error saying so and ends, so that no subscription holds its
/// resources (the `backgroundAction` one polls the database) for ever.
pub fn subscription(
    schema: &Schema,
    request: async_graphql::Request,
    context: RequestContext,
    session_data: Arc<Data>,
    lifetime: Duration,
) -> BoxStream<'static, Response> {
    let null_items = context.null_items();
    let budget = context.budget();
    let events = schema.execute_stream_with_session_data(request.data(context), session_data);
    let fired = Arc::new(AtomicBool::new(false));
    let expired = {
        let fired = fired.clone();
        async move {
            tokio::time::sleep(lifetime).await;
            fired.store(true, Ordering::Relaxed);
        }
    };
    // Said only when the lifetime ended the stream, not when the events did.
    let lived = futures::stream::once(async move { fired.load(Ordering::Relaxed) }).filter_map(move |fired| {
        futures::future::ready(fired.then(|| {
            super::errors::refusal(
                super::errors::TOO_MANY_REQUESTS,
                &format!(
                    "the subscription reached its lifetime of {} s (BCGRAPH_SUBSCRIPTION_MAX_SECONDS); subscribe again",
                    lifetime.as_secs()
                ),
            )
        }))
    });
    events
        .take_until(expired)
        .chain(lived)
        .scan(false, move |over, mut response| {
            if *over {
                return futures::future::ready(None);
            }
            if budget.spent() {
                *over = true;
                return futures::future::ready(Some(budget.refusal()));
            }
            apply_null_items(&mut response.data, &null_items);
            futures::future::ready(Some(response))
        })
        .boxed()
}
