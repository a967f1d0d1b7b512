//! A trust policy's text as IAM hands it out: `GetRole`'s `AssumeRolePolicyDocument` is
//! URL-encoded JSON (RFC 3986), the aws CLI and Terraform print it decoded.

use serde_json::Value;

/// Longest document read: IAM caps trust policies at 4,096 characters (URL-encoded, three
/// times that at most).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The policy in `text`, plain or URL-encoded JSON; an error says what is wrong with it.
pub fn parse(text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("the trust policy is larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let decoded;
    let json = if text.starts_with('{') {
        text
    } else {
        decoded = percent_decode(text).ok_or("the trust policy is neither JSON nor URL-encoded JSON")?;
        decoded.as_str()
    };
    let policy: Value = serde_json::from_str(json).map_err(|e| format!("the trust policy is not JSON: {e}"))?;
    if !policy.is_object() {
        return Err("the trust policy is not a JSON object".into());
    }
    Ok(policy)
}

/// `%XX` decoded; `None` when an escape is broken or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn plain_and_url_encoded_documents() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse(plain).unwrap(), parse(encoded).unwrap());
        assert!(parse("%7B%2").is_err() && parse("[]").is_err() && parse("%FF").is_err());
        assert!(parse(&"x".repeat(70_000)).unwrap_err().contains("larger"));
    }
}
