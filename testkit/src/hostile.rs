//! A peer that answers whatever a test tells it to: a metadata server, STS or S3 gone wrong
//! or gone bad. Redirects, missing headers, huge or endless bodies, echoed requests: what a
//! hostile network or a lying endpoint could send, on 127.0.0.1, recorded for the asserts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A request as the peer saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ReplyBody,
}

#[derive(Debug, Clone)]
pub enum ReplyBody {
    Bytes(Vec<u8>),
    /// `head`, `repeat` `times` times, then `tail`: a huge body made as it is sent, so that
    /// the test process stays small (the verifier's peak RSS is measured beside it).
    Repeated {
        head: Vec<u8>,
        repeat: Vec<u8>,
        times: usize,
        tail: Vec<u8>,
    },
    /// Chunks of 64 KiB for as long as the client reads (chunked encoding, no length).
    Endless,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(body.into()),
        }
    }

    /// `head`, then `repeat` `times` times, then `tail`, made as it is sent.
    pub fn repeated(status: u16, head: &str, repeat: &str, times: usize, tail: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Repeated {
                head: head.into(),
                repeat: repeat.into(),
                times,
                tail: tail.into(),
            },
        }
    }

    pub fn endless(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Endless,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Answer = dyn Fn(&Seen) -> Reply + Send + Sync;

/// Stops when dropped.
pub struct HostilePeer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl HostilePeer {
    /// Starts the peer on the current tokio runtime; `answer` decides each reply.
    pub async fn start(answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> HostilePeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, answer) = (Arc::clone(&shared), Arc::clone(&answer));
                let service = service_fn(move |request| handle(Arc::clone(&seen), Arc::clone(&answer), request));
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        HostilePeer { addr, seen, task }
    }

    /// `127.0.0.1:PORT`, the value for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`, the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("peer state").clone()
    }
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Answer>,
    request: Request<Incoming>,
) -> Result<Response<Out>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let request = Seen {
        method: parts.method.to_string(),
        target: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = answer(&request);
    seen.lock().expect("peer state").push(request);
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let out = match reply.body {
        ReplyBody::Bytes(bytes) => Out::Parts(vec![Bytes::from(bytes)], 0),
        ReplyBody::Repeated {
            head,
            repeat,
            times,
            tail,
        } => {
            // About 64 KiB a frame.
            let per_frame = (64 * 1024 / repeat.len().max(1)).max(1);
            let frame = Bytes::from(repeat.repeat(per_frame));
            let mut parts = vec![Bytes::from(head)];
            parts.extend(std::iter::repeat_n(frame, times / per_frame));
            parts.push(Bytes::from(repeat.repeat(times % per_frame)));
            parts.push(Bytes::from(tail));
            parts.reverse();
            Out::Parts(parts, 0)
        }
        ReplyBody::Endless => Out::Endless(Bytes::from(vec![b'A'; 64 * 1024])),
    };
    Ok(response.body(out).expect("valid reply"))
}

/// The reply's body: frames to send (last first; the `Bytes` of repeated frames are shared),
/// or one frame forever.
pub enum Out {
    Parts(Vec<Bytes>, usize),
    Endless(Bytes),
}

impl Body for Out {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Out::Parts(parts, _) => Poll::Ready(parts.pop().map(|b| Ok(Frame::data(b)))),
            Out::Endless(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk.clone())))),
        }
    }
}
