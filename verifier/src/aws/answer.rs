//! What an AWS answer must be before it counts: XML that parses to its end. The SDK's parser
//! reads what it needs and stops, so a listing cut short or STS credentials followed by junk
//! would pass; [`WholeAnswer`] checks the whole body the SDK read, and notes STS's clock
//! (the `Date` header) for the clock checks.

use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use xmlparser::{ElementEnd, Token, Tokenizer};

/// An answer with status 2xx whose XML does not parse to its end: something other than AWS
/// answered, or the answer was damaged on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedAnswer(pub String);

impl std::fmt::Display for MalformedAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the answer's XML {}", self.0)
    }
}

impl std::error::Error for MalformedAnswer {}

impl MalformedAnswer {
    /// The malformed answer behind an SDK error, if that is what it is.
    pub fn in_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e MalformedAnswer> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(found) = error.downcast_ref::<MalformedAnswer>() {
                return Some(found);
            }
            cause = error.source();
        }
        None
    }
}

/// Refuses a 2xx answer whose body is not whole XML, and keeps the last `Date` header seen.
/// Streaming bodies (an object's bytes) are not XML and are left alone.
#[derive(Debug, Clone, Default)]
pub struct WholeAnswer {
    date: Arc<Mutex<Option<String>>>,
}

/// A `Date` header is about 29 characters; a longer one is not kept.
const MAX_DATE_CHARS: usize = 64;

impl WholeAnswer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `Date` header of the last answer, as the peer wrote it (an HTTP date).
    pub fn date(&self) -> Option<String> {
        self.date.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Intercept for WholeAnswer {
    fn name(&self) -> &'static str {
        "WholeAnswer"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if let Some(date) = response.headers().get("date").filter(|d| d.len() <= MAX_DATE_CHARS) {
            *self.date.lock().unwrap_or_else(PoisonError::into_inner) = Some(date.to_owned());
        }
        // Error answers are diagnosed by their code (or as unreadable) already.
        if !response.status().is_success() {
            return Ok(());
        }
        match response.body().bytes() {
            Some(body) => check_whole(body).map_err(|why| Box::new(MalformedAnswer(why)) as BoxError),
            None => Ok(()),
        }
    }
}

/// Longest element name a diagnosis quotes.
const MAX_NAME_CHARS: usize = 40;

/// `Ok` when `body` is one XML document, parsed to its last byte: every element closed by its
/// own name, one root, nothing but whitespace, comments or processing instructions after it.
/// The error says where it broke, never the body's text beyond an element's name.
pub fn check_whole(body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| "is not UTF-8".to_owned())?;
    let name = |prefix: &str, local: &str| {
        let full = if prefix.is_empty() {
            local.to_owned()
        } else {
            format!("{prefix}:{local}")
        };
        full.chars().take(MAX_NAME_CHARS).collect::<String>()
    };
    let mut open: Vec<String> = Vec::new();
    let (mut root_seen, mut root_closed) = (false, false);
    for token in Tokenizer::from(text) {
        let token = token.map_err(|e| format!("does not parse ({e})"))?;
        match token {
            Token::ElementStart { prefix, local, .. } => {
                if root_closed {
                    return Err("has a second root element after the first".into());
                }
                root_seen = true;
                open.push(name(prefix.as_str(), local.as_str()));
            }
            Token::ElementEnd { end, .. } => {
                let closes = match end {
                    ElementEnd::Open => continue,
                    ElementEnd::Empty => None,
                    ElementEnd::Close(prefix, local) => Some(name(prefix.as_str(), local.as_str())),
                };
                let opened = open.pop().ok_or("closes an element it never opened")?;
                if let Some(closed) = closes.filter(|closed| *closed != opened) {
                    return Err(format!("closes <{closed:?}> where <{opened:?}> is open"));
                }
                root_closed = open.is_empty();
            }
            Token::Text { text } if open.is_empty() && !text.as_str().trim().is_empty() => {
                return Err("has text outside its root element".into());
            }
            Token::Cdata { .. } if open.is_empty() => return Err("has CDATA outside its root element".into()),
            _ => {}
        }
    }
    match open.last() {
        Some(inside) => Err(format!("ends inside <{inside:?}> (cut short)")),
        None if !root_seen => Err("has no element".into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "<R><Result><Credentials><AccessKeyId>A</AccessKeyId></Credentials></Result></R>";

    #[test]
    fn whole_documents_pass() {
        for body in [
            CREDENTIALS.to_owned(),
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{CREDENTIALS}\n"),
            "<a xmlns=\"x\"><b/><c>t &amp; u</c></a><!-- done -->".to_owned(),
        ] {
            assert_eq!(check_whole(body.as_bytes()), Ok(()), "{body}");
        }
    }

    #[test]
    fn answers_that_break_anywhere_are_refused() {
        let cut = &CREDENTIALS[..CREDENTIALS.find("</Result>").unwrap()];
        for (case, body, says) in [
            ("cut after the credentials", cut.to_owned(), "ends inside <\"Result\">"),
            (
                "junk after the root",
                format!("{CREDENTIALS}junk"),
                "outside its root|does not parse",
            ),
            (
                "a second root",
                format!("{CREDENTIALS}<R/>"),
                "second root|does not parse",
            ),
            (
                "mismatched close",
                "<a><b></a></b>".to_owned(),
                "closes <\"a\"> where <\"b\"> is open",
            ),
            ("broken markup", format!("{CREDENTIALS}<"), "does not parse"),
            ("empty", String::new(), "no element"),
            (
                "not XML",
                "{\"json\": true}".to_owned(),
                "outside its root|does not parse",
            ),
        ] {
            let error = check_whole(body.as_bytes()).unwrap_err();
            assert!(says.split('|').any(|s| error.contains(s)), "{case}: {error}");
        }
        assert!(check_whole(b"<a>\xff</a>").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn the_error_quotes_no_text_and_only_short_names() {
        let long = "N".repeat(500);
        let error = check_whole(format!("<{long}>secret text").as_bytes()).unwrap_err();
        assert!(!error.contains("secret") && error.len() < 120, "{error}");
    }
}
