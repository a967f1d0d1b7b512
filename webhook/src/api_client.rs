//! The webhook's Kubernetes API client: kube-rs's, with every answer bounded, the list pages
//! sized to their objects ([`crate::paging`]) and the lists and watches paced, so an API server
//! (or something posing as one) that answers without end, or ends every watch at once, costs
//! bounded memory and a bounded rate of requests.
//!
//! - A list page is read whole, at most [`LIST_PAGE_BYTES`], and its items counted before
//!   kube-rs parses it; one past the bound is asked again at the smallest page size (the same
//!   `continue` token: no progress lost). One watch event may be at most [`EVENT_BYTES`], any
//!   other answer [`OBJECT_BYTES`]; a longer answer is an error, and the watcher lists again.
//! - A relist (a list's first page) or a new watch that comes less than [`QUIET`] after the
//!   previous one waits first, about twice as long each time up to [`MAX_DELAY`], each wait
//!   jittered (between half and all of it) so that replicas do not relist in step: a 410 storm
//!   or a watch that closes at once slows down instead of spinning. kube-apiserver ends a
//!   healthy watch after about five minutes, so a healthy cluster never waits. On top of this,
//!   kube-rs's watcher backs off after each error it yields (`default_backoff`: 0.8 s doubling
//!   to 30 s, jittered; kube-runtime `watcher.rs`, `DefaultBackoff`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::metrics::{Metrics, Paced as Kind};
pub use crate::paging::{LIST_PAGE_BYTES, MAX_PAGES, OBJECT_BYTES, START_LIMIT};
use crate::paging::{Paging, count_items};

/// One watch event (one JSON line).
pub const EVENT_BYTES: usize = OBJECT_BYTES;
/// A relist or watch this soon after the previous one is paced.
pub const QUIET: Duration = Duration::from_secs(60);
/// The first wait, doubled each time, up to [`MAX_DELAY`] (each jittered down to half).
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Requests waiting for the client at once (kube-rs's own client buffers as many).
const BUFFERED_REQUESTS: usize = 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A kube-rs client for `config` with the bounds, the page sizes and the pacing above.
pub fn client(config: kube::Config, metrics: Arc<Metrics>) -> Result<kube::Client, kube::Error> {
    let builder = kube::client::ClientBuilder::try_from(config)?;
    // Buffered, so that a page past the bound can be sent again from inside the layer.
    let builder = builder.with_layer(&tower::buffer::BufferLayer::new(BUFFERED_REQUESTS));
    Ok(builder.with_layer(&BoundedLayer::new(metrics)).build())
}

#[derive(Default)]
struct Pacer {
    /// Per kind: when the previous one was let go, and the current (unjittered) wait.
    state: HashMap<Kind, (Instant, Duration)>,
}

impl Pacer {
    /// The wait before a relist or watch at `now`; `jitter` in [0, 1) picks where in the upper
    /// half of the doubled wait it falls.
    fn wait(&mut self, kind: Kind, now: Instant, jitter: f64) -> Duration {
        let base = match self.state.get(&kind) {
            Some((last, delay)) if now.duration_since(*last) < QUIET => (*delay * 2).clamp(FIRST_DELAY, MAX_DELAY),
            _ => Duration::ZERO,
        };
        let delay = base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        self.state.insert(kind, (now + delay, base));
        delay
    }
}

/// The tower layer that bounds answers, sizes list pages and paces lists and watches.
#[derive(Clone)]
pub struct BoundedLayer {
    pacer: Arc<Mutex<Pacer>>,
    paging: Arc<Mutex<Paging>>,
    metrics: Arc<Metrics>,
}

impl BoundedLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        BoundedLayer {
            pacer: Arc::default(),
            paging: Arc::default(),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// A list page of ServiceAccounts: `first` without a `continue` token.
    ListPage {
        first: bool,
    },
    Watch,
    /// Anything else: a get, `/version`.
    Other,
}

fn classify(uri: &hyper::Uri) -> Call {
    let query = uri.query().unwrap_or_default();
    let has = |pair: &str| query.split('&').any(|p| p == pair);
    if has("watch=true") || has("watch=1") {
        return Call::Watch;
    }
    if !uri.path().ends_with("/serviceaccounts") {
        return Call::Other;
    }
    let continued = query
        .split('&')
        .any(|p| p.starts_with("continue=") && p.len() > "continue=".len());
    Call::ListPage { first: !continued }
}

/// `uri` with its `limit` set to `limit`.
fn with_limit(uri: &hyper::Uri, limit: u32) -> hyper::Uri {
    let query = uri.query().unwrap_or_default();
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("limit="))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("limit={limit}"));
    let path_and_query = format!("{}?{}", uri.path(), pairs.join("&"));
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok().or(parts.path_and_query);
    hyper::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

impl<S, RB> tower::Service<Request<kube::client::Body>> for Bounded<S>
where
    S: tower::Service<Request<kube::client::Body>, Response = Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    RB: Body<Data = Bytes> + Unpin + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = Response<Answer<RB>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        let what = classify(request.uri());
        let kind = match what {
            Call::ListPage { first: true } => Some(Kind::Relist),
            Call::Watch => Some(Kind::Watch),
            _ => None,
        };
        let delay = kind
            .map(|k| {
                let jitter = fastrand::f64();
                let mut pacer = self.layer.pacer.lock().unwrap_or_else(|p| p.into_inner());
                pacer.wait(k, Instant::now(), jitter)
            })
            .unwrap_or_default();
        if let Some(kind) = kind {
            self.layer.metrics.set_api_backoff(kind, delay);
        }
        // The service polled ready is the one that sends; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            if !delay.is_zero() {
                tracing::info!(?kind, ?delay, "pacing the API server's list or watch");
                tokio::time::sleep(delay).await;
            }
            match what {
                Call::ListPage { first } => list_page(inner, request, first, &layer).await,
                Call::Watch => streamed(inner, request, Limit::Line(EVENT_BYTES)).await,
                Call::Other => streamed(inner, request, Limit::Total(OBJECT_BYTES)).await,
            }
        })
    }
}

async fn streamed<S, RB>(
    mut inner: S,
    request: Request<kube::client::Body>,
    limit: Limit,
) -> Result<Response<Answer<RB>>, BoxError>
where
    S: tower::Service<Request<kube::client::Body>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
{
    let response = inner.call(request).await.map_err(Into::into)?;
    Ok(response.map(|inner| Answer::Streamed(BoundedBody { inner, limit, seen: 0 })))
}

/// One list page, sized by [`Paging`], read whole within [`LIST_PAGE_BYTES`] and its items
/// counted; a page past the bound is asked again at the smallest size.
async fn list_page<S, RB>(
    inner: S,
    request: Request<kube::client::Body>,
    first: bool,
    layer: &BoundedLayer,
) -> Result<Response<Answer<RB>>, BoxError>
where
    S: tower::Service<Request<kube::client::Body>, Response = Response<RB>> + Clone,
    S::Error: Into<BoxError>,
    RB: Body<Data = Bytes> + Unpin,
    RB::Error: Into<BoxError>,
{
    let paging = || layer.paging.lock().unwrap_or_else(|p| p.into_inner());
    if first {
        paging().start_list();
    }
    let (parts, _) = request.into_parts();
    loop {
        let limit = paging().limit();
        layer.metrics.set_page_size(limit);
        let mut request = Request::new(kube::client::Body::empty());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = with_limit(&parts.uri, limit);
        *request.headers_mut() = parts.headers.clone();
        let response = inner.clone().oneshot(request).await.map_err(Into::into)?;
        let (head, body) = response.into_parts();
        let Some(page) = read_whole(body, LIST_PAGE_BYTES).await? else {
            if paging().overflowed(limit) {
                tracing::info!(
                    limit,
                    "a list page went past {LIST_PAGE_BYTES} bytes; asking for it again in a smaller page"
                );
                continue;
            }
            return Err(format!(
                "the API server's list page of {limit} ServiceAccounts is larger than {LIST_PAGE_BYTES} bytes; not read further"
            )
            .into());
        };
        if head.status.is_success() {
            let items = count_items(&page).map_err(|e| format!("the API server's list page is not JSON: {e}"))?;
            paging().page(limit, page.len(), items).map_err(|cut| cut.to_string())?;
        }
        return Ok(Response::from_parts(head, Answer::Whole(Some(page))));
    }
}

/// The whole body within `max` bytes, in one buffer; `None` once it goes past.
async fn read_whole<B>(mut body: B, max: usize) -> Result<Option<Bytes>, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let announced = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    if announced > max {
        return Ok(None);
    }
    let mut buffer = BytesMut::with_capacity(announced.max(64 << 10));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Into::into)?;
        let Ok(data) = frame.into_data() else { continue };
        if buffer.len() + data.len() > max {
            return Ok(None);
        }
        buffer.extend_from_slice(&data);
    }
    Ok(Some(buffer.freeze()))
}

/// An answer as kube-rs reads it: streamed through its bound, or read whole already.
pub enum Answer<B> {
    Streamed(BoundedBody<B>),
    Whole(Option<Bytes>),
}

impl<B> Body for Answer<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Answer::Streamed(body) => Pin::new(body).poll_frame(cx),
            Answer::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Answer::Streamed(body) => body.is_end_stream(),
            Answer::Whole(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Streamed(body) => body.size_hint(),
            Answer::Whole(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
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
        let kind = |uri: &str| classify(&uri.parse().unwrap());
        assert_eq!(kind("/api/v1/serviceaccounts?limit=8"), Call::ListPage { first: true });
        assert_eq!(
            kind("/api/v1/serviceaccounts?limit=8&continue=abc"),
            Call::ListPage { first: false }
        );
        assert_eq!(
            kind("/api/v1/serviceaccounts?watch=true&resourceVersion=5"),
            Call::Watch
        );
        assert_eq!(kind("/api/v1/namespaces/a/serviceaccounts/b"), Call::Other);
        assert_eq!(kind("/version"), Call::Other);
    }

    #[test]
    fn the_limit_is_replaced_and_the_rest_of_the_query_kept() {
        let uri: hyper::Uri = "https://10.0.0.1/api/v1/serviceaccounts?limit=500&continue=eyJ2Ijoi%3D"
            .parse()
            .unwrap();
        assert_eq!(
            with_limit(&uri, 32).to_string(),
            "https://10.0.0.1/api/v1/serviceaccounts?continue=eyJ2Ijoi%3D&limit=32"
        );
        let bare: hyper::Uri = "/api/v1/serviceaccounts".parse().unwrap();
        assert_eq!(with_limit(&bare, 8).to_string(), "/api/v1/serviceaccounts?limit=8");
    }

    #[test]
    fn relists_close_together_wait_longer_each_time_jittered_down_to_half() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        let waits = |pacer: &mut Pacer, jitter: f64| -> Vec<u64> {
            (0..8)
                .map(|i| {
                    pacer
                        .wait(Kind::Relist, start + Duration::from_secs(i), jitter)
                        .as_millis() as u64
                })
                .collect()
        };
        assert_eq!(waits(&mut pacer, 1.0), [0, 1000, 2000, 4000, 8000, 16000, 32000, 60000]);
        let mut pacer = Pacer::default();
        assert_eq!(waits(&mut pacer, 0.0), [0, 500, 1000, 2000, 4000, 8000, 16000, 30000]);
        // Other kinds are paced on their own; a quiet minute starts over.
        assert_eq!(pacer.wait(Kind::Watch, start, 0.5), Duration::ZERO);
        let later = start + Duration::from_secs(8) + Duration::from_secs(60) + MAX_DELAY + QUIET;
        assert_eq!(pacer.wait(Kind::Relist, later, 0.5), Duration::ZERO);
    }
}
