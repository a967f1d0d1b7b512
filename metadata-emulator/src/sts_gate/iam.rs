//! Reads what STS consults from moto's IAM: the OIDC providers and the role's trust policy.
//! moto without IAM enforcement (as in the demo) routes a request by the service named in
//! its `Authorization` header and checks no signature, so the header is a placeholder.

use std::time::Duration;

use serde_json::Value;

use super::trust::Provider;

/// A request to moto that found nothing usable.
pub type IamError = String;

/// Longest an IAM answer may take; moto on loopback answers in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(10);
/// IAM answers here are a few KiB.
const MAX_ANSWER: usize = 1024 * 1024;

pub struct Iam {
    http: reqwest::Client,
    endpoint: String,
}

impl Iam {
    pub fn new(endpoint: &str) -> Iam {
        Iam {
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .no_proxy()
                .build()
                .unwrap_or_default(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    /// The provider registered for `host_path`, if any.
    pub async fn provider(&self, host_path: &str) -> Result<Option<Provider>, IamError> {
        let list = self.call(&[("Action", "ListOpenIDConnectProviders")]).await?.1;
        let Some(arn) = tags(&list, "Arn").into_iter().find(|arn| {
            arn.split_once(":oidc-provider/")
                .is_some_and(|(_, url)| url == host_path)
        }) else {
            return Ok(None);
        };
        let (status, details) = self
            .call(&[
                ("Action", "GetOpenIDConnectProvider"),
                ("OpenIDConnectProviderArn", &arn),
            ])
            .await?;
        if status != 200 {
            return Err(format!("GetOpenIDConnectProvider {arn}: HTTP {status}"));
        }
        let client_ids = section(&details, "ClientIDList")
            .map(|ids| tags(ids, "member"))
            .unwrap_or_default();
        Ok(Some(Provider { arn, client_ids }))
    }

    /// The trust policy of the role named by `role_arn`; `None` if there is no such role.
    pub async fn trust_policy(&self, role_arn: &str) -> Result<Option<Value>, IamError> {
        let name = role_arn.rsplit('/').next().unwrap_or_default();
        let (status, answer) = self.call(&[("Action", "GetRole"), ("RoleName", name)]).await?;
        if status == 404 {
            return Ok(None);
        }
        let document = tags(&answer, "AssumeRolePolicyDocument")
            .into_iter()
            .next()
            .ok_or_else(|| format!("GetRole {name}: HTTP {status}, no trust policy in the answer"))?;
        // IAM returns the document URL-encoded; moto sometimes as plain JSON.
        trust_policy::document::parse(&document)
            .map(Some)
            .map_err(|error| format!("GetRole {name}: {error}"))
    }

    async fn call(&self, params: &[(&str, &str)]) -> Result<(u16, String), IamError> {
        let action = params[0].1;
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .append_pair("Version", "2010-05-08")
            .finish();
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDSTSGATE/20260101/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host, Signature=0",
            )
            .body(form)
            .send()
            .await
            .map_err(|error| format!("{action} on {}: {error}", self.endpoint))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|error| format!("{action}: reading the answer: {error}"))?;
        if body.len() > MAX_ANSWER {
            return Err(format!("{action}: answer larger than {MAX_ANSWER} bytes"));
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The text between `<tag>` and `</tag>`, first occurrence.
fn section<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + end])
}

/// Every `<tag>…</tag>` content, XML entities decoded.
fn tags(xml: &str, tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(content) = section(rest, tag) {
        found.push(unescape(content.trim()));
        let consumed = content.as_ptr() as usize - rest.as_ptr() as usize + content.len();
        rest = &rest[consumed..];
    }
    found
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_tag_and_decodes_entities() {
        let xml = "<L><member><Arn>a</Arn></member><member><Arn>b&amp;c</Arn></member></L>";
        assert_eq!(tags(xml, "Arn"), ["a", "b&c"]);
        assert_eq!(section(xml, "member"), Some("<Arn>a</Arn>"));
        assert!(tags(xml, "Nothing").is_empty());
    }
}
