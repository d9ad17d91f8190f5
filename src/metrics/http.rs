//! HTTP requests by route template and status, with their latency: a tower layer
//! around every route. The route is axum's [`MatchedPath`] (the template, never the raw
//! path, so `/app/anything` is one series); a request no route matched is `unmatched`.
//!
//! Per request this costs a read lock and a lookup by the template's text, an `Instant`,
//! and two atomic adds on handles made at the route's (or status's) first request.

use super::{Inner, Metrics, StatusCounters, names, register_histogram};
use ::metrics::{Histogram, Key, Label};
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// The series of one route template.
pub(crate) struct RouteSeries {
    latency: Histogram,
    statuses: StatusCounters,
}

impl Inner {
    fn route(&self, template: &str) -> Arc<RouteSeries> {
        if let Some(series) = self.routes.read().unwrap_or_else(|e| e.into_inner()).get(template) {
            return series.clone();
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes
            .entry(template.into())
            .or_insert_with(|| {
                let route = Label::new("route", template.to_owned());
                Arc::new(RouteSeries {
                    latency: register_histogram(&self.recorder, Key::from_parts(names::HTTP_DURATION, vec![route.clone()])),
                    statuses: StatusCounters::new(names::HTTP_REQUESTS, vec![route]),
                })
            })
            .clone()
    }
}

/// Counts every request of the router it wraps (see [`Metrics::layer`]).
#[derive(Clone)]
pub struct MetricsLayer(Arc<Inner>);

impl Metrics {
    /// The layer that counts a router's requests, when metrics are on.
    pub fn layer(&self) -> Option<MetricsLayer> {
        self.0.clone().map(MetricsLayer)
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service whose requests are counted.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: Arc<Inner>,
}

impl<S, B, R> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let template = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let series = self.metrics.route(template);
        CountedFuture {
            inner: self.inner.call(request),
            series: Some((series, self.metrics.clone(), Instant::now())),
        }
    }
}

pin_project_lite::pin_project! {
    /// The wrapped service's answer, counted when it arrives.
    pub struct CountedFuture<F> {
        #[pin]
        inner: F,
        series: Option<(Arc<RouteSeries>, Arc<Inner>, Instant)>,
    }
}

impl<F, R, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some((series, metrics, started))) = (&output, this.series.take()) {
            series.latency.record(started.elapsed().as_secs_f64());
            series
                .statuses
                .get(&metrics.recorder, response.status().as_u16())
                .increment(1);
        }
        Poll::Ready(output)
    }
}
