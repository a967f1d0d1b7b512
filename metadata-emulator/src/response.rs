//! The answers handlers build: the response type, content types, and "no answer".
//! A leaf module, so handlers and the servers that call them don't import each other.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

/// The response type of every handler.
pub(crate) type Reply = Response<Full<Bytes>>;

/// `Content-Type` of plain metadata values and directory listings on GKE.
pub(crate) const APPLICATION_TEXT: &str = "application/text";
/// `Content-Type` of ID tokens on GKE (and of the proxy page faults).
pub(crate) const TEXT_HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of GKE's error messages.
pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// `Content-Type` of JSON answers.
pub(crate) const APPLICATION_JSON: &str = "application/json";

/// A handler's way of saying "drop the connection without an answer". Hyper closes
/// the connection when a service fails, which is what an unready or down metadata
/// server looks like to a client.
#[derive(Debug)]
pub(crate) struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused by fault injection")
    }
}

impl std::error::Error for Refused {}

/// Builds a response with a body and its content type.
pub(crate) fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
