//! The last line of defence for secrets in messages: whatever a peer or a library put into an
//! error text (a request body, an echoed token), these never reach a report or a log.
//! Every message built from a peer's text passes through [`redact`] and [`cap`].

/// Names whose values are secrets, as they appear in STS's query/form bodies, its XML and
/// JSON answers, and the `credential_process` JSON.
const SECRET_NAMES: [&str; 4] = ["WebIdentityToken", "SessionToken", "SecretAccessKey", "Password"];
const REDACTED: &str = "<redacted>";
/// A message echoed from a peer is cut here: enough to diagnose, not enough to flood.
pub const MESSAGE_LIMIT: usize = 400;

/// `text` with every secret value and every JWT-shaped string replaced by `<redacted>`.
pub fn redact(text: &str) -> String {
    let mut out = redact_jwts(text);
    for name in SECRET_NAMES {
        out = redact_values_of(&out, name);
    }
    out
}

/// `text` redacted, folded to one line (no forged report lines) and cut to `MESSAGE_LIMIT` characters.
pub fn cap(text: &str) -> String {
    let redacted = redact(text);
    let folded: String = redacted
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if folded.chars().count() > MESSAGE_LIMIT {
        let cut: String = folded.chars().take(MESSAGE_LIMIT).collect();
        format!("{cut}… (cut)")
    } else {
        folded
    }
}

/// `text` redacted and cut to `limit` characters, its lines kept: for diagnoses, whose hints
/// may run long but never without end.
pub fn bounded(text: &str, limit: usize) -> String {
    let redacted = redact(text);
    if redacted.chars().count() <= limit {
        return redacted;
    }
    let cut: String = redacted.chars().take(limit).collect();
    format!("{cut}… (cut)")
}

/// How much of a peer's body a report quotes: enough to recognise a proxy's page or an error
/// code, not enough to carry a document into the report.
pub const EXCERPT_LIMIT: usize = 120;

/// A peer's body as a report may quote it: redacted, on one line, at most [`EXCERPT_LIMIT`]
/// characters, and said to be an excerpt.
pub fn excerpt(body: &[u8]) -> String {
    let folded = cap(&String::from_utf8_lossy(body));
    let folded = folded.strip_suffix("… (cut)").unwrap_or(&folded);
    if folded.chars().count() <= EXCERPT_LIMIT {
        return format!("{folded:?}");
    }
    let cut: String = folded.chars().take(EXCERPT_LIMIT).collect();
    format!("{cut:?}… ({} bytes in all)", body.len())
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='
}

/// Replaces `eyJ…` runs of base64url with at least one dot (a JWS header always starts `eyJ`).
fn redact_jwts(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 3 <= bytes.len() {
        let starts_word = i == 0 || !is_base64url(bytes[i - 1]);
        if starts_word && &bytes[i..i + 3] == b"eyJ" {
            let mut end = i;
            let mut dots = 0;
            while end < bytes.len() && (is_base64url(bytes[end]) || bytes[end] == b'.' || bytes[end] == b'%') {
                if bytes[end] == b'.' {
                    dots += 1;
                }
                end += 1;
            }
            if dots >= 1 {
                out.push_str(&text[copied..i]);
                out.push_str(REDACTED);
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces the value after each occurrence of `name` in its usual spellings:
/// `name=value`, `<name>value</name>`, `"name":"value"` (and `name: value`).
fn redact_values_of(text: &str, name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(name) {
        let after_name = at + name.len();
        out.push_str(&rest[..after_name]);
        let tail = &rest[after_name..];
        // The separator: `=`, `>`, `":"`, `": "`, `: `.
        let sep_len = tail
            .char_indices()
            .take_while(|(_, c)| matches!(c, '=' | '>' | '"' | ':' | ' ' | '\''))
            .map(|(i, c)| i + c.len_utf8())
            .last()
            .unwrap_or(0);
        let separator = &tail[..sep_len];
        let value = &tail[sep_len..];
        let value_len = value
            .char_indices()
            .find(|(_, c)| matches!(c, '&' | '<' | '"' | '\'' | ',' | '}') || c.is_whitespace())
            .map_or(value.len(), |(i, _)| i);
        let is_assignment = separator.contains('=') || separator.contains('>') || separator.contains(':');
        if is_assignment && value_len > 0 {
            out.push_str(separator);
            out.push_str(REDACTED);
            rest = &value[value_len..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// A value from a peer as one report line may show it: as is when plain, else quoted and
/// escaped, so that no newline or escape sequence can forge a line.
pub fn shown(value: &str) -> String {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic()) {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    #[test]
    fn secrets_in_every_spelling_are_redacted() {
        for (case, text) in [
            (
                "form body",
                format!("Action=AssumeRoleWithWebIdentity&WebIdentityToken={JWT}&RoleArn=x"),
            ),
            (
                "form body, token last",
                "RoleSessionName=s&WebIdentityToken=abc.def%2Eghi".to_owned(),
            ),
            (
                "xml",
                "<SessionToken>FwoGZXIvYXdzEK</SessionToken><SecretAccessKey>wJalrX</SecretAccessKey>".into(),
            ),
            ("json", r#"{"SecretAccessKey":"wJalrX","SessionToken": "FwoG"}"#.into()),
            ("bare jwt", format!("got {JWT} from the server")),
            ("url password", "Password=hunter2&user=a".into()),
        ] {
            let out = redact(&text);
            for secret in [JWT, "abc.def", "FwoGZXIvYXdzEK", "wJalrX", "FwoG", "hunter2"] {
                assert!(!out.contains(secret), "{case}: {secret} survived in {out}");
            }
            assert!(out.contains(REDACTED), "{case}: {out}");
        }
    }

    #[test]
    fn plain_messages_are_unchanged() {
        for text in [
            "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
            "error sending request for url (http://127.0.0.1:1/): connection refused",
            "the token named SessionToken is missing",
            "",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn excerpts_are_short_quoted_and_redacted() {
        let body = format!("<html>\n{} {JWT}</html>", "p".repeat(5000));
        let shown = excerpt(body.as_bytes());
        assert!(
            shown.starts_with("\"<html> ppp") && shown.ends_with(&format!("({} bytes in all)", body.len())),
            "{shown}"
        );
        assert!(shown.chars().count() < EXCERPT_LIMIT + 40, "{shown}");
        assert_eq!(excerpt(format!("no {JWT}").as_bytes()), "\"no <redacted>\"");
        assert_eq!(bounded(&"x".repeat(50), 10), format!("{}… (cut)", "x".repeat(10)));
    }

    #[test]
    fn cap_folds_lines_and_bounds_length() {
        assert_eq!(cap("a\nERROR forged: line\r\n"), "a ERROR forged: line");
        let long = "x".repeat(10_000);
        let capped = cap(&long);
        assert!(capped.chars().count() <= MESSAGE_LIMIT + 10, "{}", capped.len());
        assert!(capped.ends_with("(cut)"));
        assert!(!cap(&format!("m {JWT}")).contains("eyJ"));
    }
}
