//! The webhook's Kubernetes API client: kube-rs's, with every answer bounded and the lists and
//! watches paced, so an API server (or something posing as one) that answers without end, or
//! ends every watch at once, costs bounded memory and a bounded rate of requests.
//!
//! - A list page may be at most [`LIST_PAGE_BYTES`] (its [`PAGE_SIZE`] objects of the largest
//!   size etcd stores), one watch event [`EVENT_BYTES`], any other answer [`OBJECT_BYTES`]; a
//!   longer answer is an error, and the watcher lists again, paced.
//! - One list follows at most [`MAX_PAGES`] `continue` tokens.
//! - A relist (a list's first page) or a new watch that comes less than [`QUIET`] after the
//!   previous one waits first, twice as long each time up to [`MAX_DELAY`]: a 410 storm or a
//!   watch that closes at once slows down instead of spinning. kube-apiserver ends a healthy
//!   watch after about five minutes, so a healthy cluster never waits.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use tokio::time::Instant;

use crate::metrics::{Metrics, Paced as Kind};

/// Objects per list page. etcd stores objects up to 1.5 MiB (its default request limit), so a
/// page of this many of the largest is what [`LIST_PAGE_BYTES`] allows.
pub const PAGE_SIZE: u32 = 8;
/// The largest object the webhook reads, with room for the envelope.
pub const OBJECT_BYTES: usize = 2 << 20;
/// One list page.
pub const LIST_PAGE_BYTES: usize = PAGE_SIZE as usize * OBJECT_BYTES;
/// One watch event (one JSON line).
pub const EVENT_BYTES: usize = OBJECT_BYTES;
/// `continue` pages of one list: 100,000 ServiceAccounts.
pub const MAX_PAGES: u32 = 100_000 / PAGE_SIZE;
/// A relist or watch this soon after the previous one is paced.
pub const QUIET: Duration = Duration::from_secs(60);
/// The first wait, doubled each time, up to [`MAX_DELAY`].
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(60);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A kube-rs client for `config` with the bounds and the pacing above.
pub fn client(config: kube::Config, metrics: Arc<Metrics>) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder.with_layer(&BoundedLayer::new(metrics)).build())
}

#[derive(Default)]
struct Pacer {
    /// Per kind: when the previous one was let go, and the current wait.
    state: HashMap<Kind, (Instant, Duration)>,
    pages: u32,
}

impl Pacer {
    fn wait(&mut self, kind: Kind, now: Instant) -> Duration {
        let delay = match self.state.get(&kind) {
            Some((last, delay)) if now.duration_since(*last) < QUIET => (*delay * 2).clamp(FIRST_DELAY, MAX_DELAY),
            _ => Duration::ZERO,
        };
        self.state.insert(kind, (now + delay, delay));
        delay
    }
}

/// The tower layer that bounds answers and paces lists and watches.
#[derive(Clone)]
pub struct BoundedLayer {
    pacer: Arc<Mutex<Pacer>>,
    metrics: Arc<Metrics>,
}

impl BoundedLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        BoundedLayer {
            pacer: Arc::default(),
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for BoundedLayer {
    type Service = Bounded<S>;

    fn layer(&self, inner: S) -> Bounded<S> {
        Bounded {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`BoundedLayer`] makes.
pub struct Bounded<S> {
    inner: S,
    layer: BoundedLayer,
}

/// What a request is, from its URL.
fn classify(uri: &hyper::Uri) -> (Option<Kind>, bool, Limit) {
    let query = uri.query().unwrap_or_default();
    let has = |pair: &str| query.split('&').any(|p| p == pair);
    let continued = query
        .split('&')
        .any(|p| p.starts_with("continue=") && p.len() > "continue=".len());
    if has("watch=true") || has("watch=1") {
        return (Some(Kind::Watch), false, Limit::Line(EVENT_BYTES));
    }
    let collection = uri.path().ends_with("/serviceaccounts");
    match (collection, continued) {
        (true, false) => (Some(Kind::Relist), false, Limit::Total(LIST_PAGE_BYTES)),
        (true, true) => (None, true, Limit::Total(LIST_PAGE_BYTES)),
        (false, _) => (None, false, Limit::Total(OBJECT_BYTES)),
    }
}

impl<S, B, RB> tower::Service<Request<B>> for Bounded<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    RB: Body<Data = Bytes> + Unpin,
    RB::Error: Into<BoxError>,
{
    type Response = Response<BoundedBody<RB>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (kind, continued, limit) = classify(request.uri());
        let (delay, too_many_pages) = {
            let mut pacer = self.layer.pacer.lock().unwrap_or_else(|p| p.into_inner());
            if kind == Some(Kind::Relist) {
                pacer.pages = 0;
            }
            if continued {
                pacer.pages += 1;
            }
            let delay = kind.map(|k| pacer.wait(k, Instant::now())).unwrap_or_default();
            (delay, pacer.pages > MAX_PAGES)
        };
        if let Some(kind) = kind {
            self.layer.metrics.set_api_backoff(kind, delay);
        }
        if too_many_pages {
            return Box::pin(async move {
                Err(format!("the API server's list went on for more than {MAX_PAGES} pages; listing again").into())
            });
        }
        // The inner client sends when its future is first polled, after the wait.
        let response = self.inner.call(request);
        Box::pin(async move {
            if !delay.is_zero() {
                tracing::info!(?kind, ?delay, "pacing the API server's list or watch");
                tokio::time::sleep(delay).await;
            }
            let response = response.await.map_err(Into::into)?;
            Ok(response.map(|inner| BoundedBody { inner, limit, seen: 0 }))
        })
    }
}

/// How much of an answer is read.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// The whole body.
    Total(usize),
    /// Each line (a watch: one event a line).
    Line(usize),
}

/// A body that fails once it has gone past its limit.
pub struct BoundedBody<B> {
    inner: B,
    limit: Limit,
    seen: usize,
}

impl<B> Body for BoundedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let (seen, max) = match self.limit {
                Limit::Total(max) => (self.seen + data.len(), max),
                Limit::Line(max) => match data.iter().rposition(|b| *b == b'\n') {
                    Some(end) => (data.len() - end - 1, max),
                    None => (self.seen + data.len(), max),
                },
            };
            // A line cut by the frame boundary: the part before the newline counts too.
            let line_before = match (self.limit, data.iter().position(|b| *b == b'\n')) {
                (Limit::Line(_), Some(first)) => self.seen + first,
                _ => 0,
            };
            self.seen = seen;
            if seen > max || line_before > max {
                let what = match self.limit {
                    Limit::Total(_) => "answer",
                    Limit::Line(_) => "watch event",
                };
                return Poll::Ready(Some(Err(format!(
                    "the API server's {what} is larger than {max} bytes; not read further"
                )
                .into())));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_their_url() {
        let kind = |uri: &str| {
            let (kind, continued, _) = classify(&uri.parse().unwrap());
            (kind, continued)
        };
        assert_eq!(kind("/api/v1/serviceaccounts?limit=8"), (Some(Kind::Relist), false));
        assert_eq!(kind("/api/v1/serviceaccounts?limit=8&continue=abc"), (None, true));
        assert_eq!(
            kind("/api/v1/serviceaccounts?watch=true&resourceVersion=5"),
            (Some(Kind::Watch), false)
        );
        assert_eq!(kind("/api/v1/namespaces/a/serviceaccounts/b"), (None, false));
        assert_eq!(kind("/version"), (None, false));
    }

    #[test]
    fn relists_close_together_wait_longer_each_time() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        let waits: Vec<u64> = (0..8)
            .map(|i| pacer.wait(Kind::Relist, start + Duration::from_secs(i)).as_secs())
            .collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 60]);
        // Other kinds are paced on their own; a quiet minute starts over.
        assert_eq!(pacer.wait(Kind::Watch, start), Duration::ZERO);
        let later = start + Duration::from_secs(8) + Duration::from_secs(60) + MAX_DELAY + QUIET;
        assert_eq!(pacer.wait(Kind::Relist, later), Duration::ZERO);
    }
}
