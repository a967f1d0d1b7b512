//! The shared AWS config file of a pod with several roles: one web identity profile per role
//! (`[default]` for the default role, `[profile NAME]` for each named one), the file the webhook
//! injects (`AWS_CONFIG_FILE`) and `verify --profile` reads back. The one renderer and parser
//! of it, so both sides agree on every byte.
//!
//! The dialect is the intersection of what the AWS SDKs read the same way
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html>): where they disagree,
//! [`parse`] refuses the file, naming the line, instead of picking one SDK's reading.
//! - Comments: whole lines starting with `#` or `;` (after optional whitespace); blank lines.
//! - Sections: `[default]`, `[profile default]` (the same profile) and `[profile NAME]`; other
//!   sections (`[sso-session x]`, `[services x]`, a bare `[x]`) are no profile to any SDK and
//!   are skipped, as they are.
//! - Properties: `key = value`. Only `=` separates: botocore also takes `:`, the Rust, Go and
//!   Java SDKs do not, so such a line is refused.
//! - Duplicate sections, or a key twice in one section, are refused: botocore refuses the whole
//!   file (Python's configparser is strict), while the Rust and Java SDKs merge them, the later
//!   value winning. `[default]` beside `[profile default]` is refused for the same reason
//!   (botocore keeps whichever comes last, the Rust SDK `[profile default]`).
//! - In the values this module reads (`role_arn`, `web_identity_token_file`,
//!   `role_session_name`, `region`): an inline comment (`#` or `;` after whitespace) is
//!   refused, since the Rust and Go SDKs cut it off and botocore keeps it in the value; so is a
//!   continuation line, an empty value and a key in another case than lower (botocore folds
//!   case, the other SDKs do not). Other keys and their continuation lines are passed over.
//!
//! A profile is a web identity profile when it has both `role_arn` and
//! `web_identity_token_file`; [`parse`] returns those, [`parse_file`] also names the others and
//! what they lack (a `credential_process` profile, for one, is not a web identity profile:
//! this crate never runs a `credential_process` line, so it cannot call itself).

pub mod file;

use std::fmt;

/// Named roles a pod may have besides its default role (the KSA annotations
/// `gke-aws-verifier/role.NAME`).
pub const MAX_NAMED_ROLES: usize = 10;

/// Largest config file [`parse`] reads: a pod's file with eleven profiles is under 4 KiB,
/// a hand-written `~/.aws/config` with many profiles well under this.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Longest profile name [`valid_name`] accepts: `gke-aws-verifier/region.NAME` must remain a
/// valid annotation key, whose name part is at most 63 characters.
pub const MAX_NAME_CHARS: usize = 56;

/// The keys of a web identity profile, as the SDKs spell them.
const ROLE_ARN: &str = "role_arn";
const TOKEN_FILE: &str = "web_identity_token_file";
const SESSION_NAME: &str = "role_session_name";
const REGION: &str = "region";
const KNOWN_KEYS: [&str; 4] = [ROLE_ARN, TOKEN_FILE, SESSION_NAME, REGION];

/// The section that holds the default profile.
pub const DEFAULT_PROFILE: &str = "default";

/// One role of the pod, as a web identity profile of the shared config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `default` renders as `[default]`, any other name as `[profile NAME]`.
    pub name: String,
    /// The role to assume (`role_arn`).
    pub role_arn: String,
    /// The token the role trusts (`web_identity_token_file`).
    pub web_identity_token_file: String,
    /// `role_session_name`; the SDKs pick their own when absent.
    pub role_session_name: Option<String>,
    /// `region`: the region of the STS endpoint and the clients that use this profile.
    pub region: Option<String>,
}

/// A section of the file that is a profile but not a web identity profile, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherProfile {
    /// The profile's name (`default` for `[default]`).
    pub name: String,
    /// The keys it lacks, e.g. `web_identity_token_file`.
    pub missing: Vec<&'static str>,
    /// It has a `credential_process` line (which this crate never runs).
    pub credential_process: bool,
}

/// Everything [`parse_file`] found: the web identity profiles and the other profiles, each in
/// the file's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigFile {
    pub profiles: Vec<Profile>,
    pub others: Vec<OtherProfile>,
}

/// Why a config file could not be read, rendered or used, with the line where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// Longer than [`MAX_CONFIG_BYTES`].
    TooLarge { bytes: usize },
    /// A line the SDKs would refuse or read differently from each other (1-based line number).
    Syntax { line: usize, problem: String },
    /// A profile [`render`] cannot write as given.
    Invalid { name: String, problem: String },
    /// No profile of that name; the web identity profiles the file has.
    Unknown { name: String, known: Vec<String> },
    /// The profile exists but is not a web identity profile.
    NotWebIdentity(OtherProfile),
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::TooLarge { bytes } => write!(
                f,
                "the config file is {bytes} bytes, more than the {MAX_CONFIG_BYTES} a pod's profiles need"
            ),
            ProfileError::Syntax { line, problem } => write!(f, "line {line}: {problem}"),
            ProfileError::Invalid { name, problem } => write!(f, "profile {name:?}: {problem}"),
            ProfileError::Unknown { name, known } if known.is_empty() => {
                write!(f, "no profile {name:?}: the file has no web identity profile")
            }
            ProfileError::Unknown { name, known } => {
                write!(f, "no profile {name:?}: the file has {}", known.join(", "))
            }
            ProfileError::NotWebIdentity(other) => {
                write!(
                    f,
                    "profile {:?} is not a web identity profile: it has no {}",
                    other.name,
                    other.missing.join(" and no ")
                )?;
                if other.credential_process {
                    write!(
                        f,
                        " (it has a credential_process line, which is never run here: name the \
                         web identity profile the credential_process line serves, not the line's own profile)"
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ProfileError {}

/// A role's name: 1 to [`MAX_NAME_CHARS`] ASCII letters, digits, `-` and `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The config file holding `profiles`, in their order. A profile [`try_render`] would refuse
/// (a bad name, a value that would not read back the same, a second profile of a name) is
/// left out, with a comment line saying so in its place: nothing a caller passes can add a
/// line or a key of its own.
pub fn render(profiles: &[Profile]) -> String {
    let mut text = String::from(HEADER);
    for (index, profile) in profiles.iter().enumerate() {
        match check(profile, &profiles[..index]) {
            Ok(()) => write_profile(&mut text, profile),
            Err(e) => {
                text.push_str("\n# a profile was left out: ");
                // The reason quotes the caller's values: keep it on this one comment line.
                text.extend(e.to_string().chars().map(|c| if c.is_control() { ' ' } else { c }));
                text.push('\n');
            }
        }
    }
    text
}

/// [`render`], refusing instead of leaving a profile out; also refuses more than
/// [`MAX_NAMED_ROLES`] named profiles.
pub fn try_render(profiles: &[Profile]) -> Result<String, ProfileError> {
    for (index, profile) in profiles.iter().enumerate() {
        check(profile, &profiles[..index])?;
    }
    let named = profiles.iter().filter(|p| p.name != DEFAULT_PROFILE).count();
    if named > MAX_NAMED_ROLES {
        return Err(ProfileError::Invalid {
            name: profiles.last().map(|p| p.name.clone()).unwrap_or_default(),
            problem: format!("{named} named roles, more than the {MAX_NAMED_ROLES} a pod may have"),
        });
    }
    Ok(render(profiles))
}

const HEADER: &str = "# AWS shared config file (AWS_CONFIG_FILE): one web identity profile per role of this pod.\n";

fn write_profile(text: &mut String, profile: &Profile) {
    text.push('\n');
    if profile.name == DEFAULT_PROFILE {
        text.push_str("[default]\n");
    } else {
        text.push_str(&format!("[profile {}]\n", profile.name));
    }
    let optional = [(SESSION_NAME, &profile.role_session_name), (REGION, &profile.region)];
    let values = [
        (ROLE_ARN, Some(&profile.role_arn)),
        (TOKEN_FILE, Some(&profile.web_identity_token_file)),
    ]
    .into_iter()
    .chain(optional.into_iter().map(|(key, value)| (key, value.as_ref())));
    for (key, value) in values {
        if let Some(value) = value {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
}

/// What [`render`] requires of a profile, given the ones before it.
fn check(profile: &Profile, before: &[Profile]) -> Result<(), ProfileError> {
    let invalid = |problem: String| ProfileError::Invalid {
        name: profile.name.clone(),
        problem,
    };
    if !valid_name(&profile.name) {
        return Err(invalid(format!(
            "a profile name is 1 to {MAX_NAME_CHARS} letters, digits, '-' or '_'"
        )));
    }
    if before.iter().any(|p| p.name == profile.name) {
        return Err(invalid("a second profile of this name".into()));
    }
    let values = [
        (ROLE_ARN, Some(&profile.role_arn)),
        (TOKEN_FILE, Some(&profile.web_identity_token_file)),
        (SESSION_NAME, profile.role_session_name.as_ref()),
        (REGION, profile.region.as_ref()),
    ];
    for (key, value) in values {
        if let Some(value) = value {
            check_value(value).map_err(|problem| invalid(format!("{key}: {problem}")))?;
        }
    }
    Ok(())
}

/// A value every SDK reads back as written from `key = value`.
fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty".into());
    }
    if value.chars().any(char::is_control) {
        return Err("a control character (a line break would start a new line of the file)".into());
    }
    if value.trim() != value {
        return Err("leading or trailing whitespace, which the SDKs drop".into());
    }
    // As written, the value follows "= ", so a '#' or ';' at its start is after whitespace too.
    let spaced = format!(" {value}");
    if spaced
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_whitespace() && (w[1] == b'#' || w[1] == b';'))
    {
        return Err(
            "'#' or ';' after whitespace, which the Rust and Go SDKs read as a comment and botocore does not".into(),
        );
    }
    Ok(())
}

/// The web identity profiles of a config file, in its order; see the module's notes for the
/// dialect and [`parse_file`] for the other profiles.
pub fn parse(text: &str) -> Result<Vec<Profile>, ProfileError> {
    parse_file(text).map(|file| file.profiles)
}

/// A config file's profiles: the web identity ones and the others.
pub fn parse_file(text: &str) -> Result<ConfigFile, ProfileError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ProfileError::TooLarge { bytes: text.len() });
    }
    let sections = sections(text)?;
    let mut file = ConfigFile::default();
    for section in sections {
        let Some(name) = section.profile else { continue };
        let get = |key: &str| section.values.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        match (get(ROLE_ARN), get(TOKEN_FILE)) {
            (Some(role_arn), Some(web_identity_token_file)) => file.profiles.push(Profile {
                name,
                role_arn,
                web_identity_token_file,
                role_session_name: get(SESSION_NAME),
                region: get(REGION),
            }),
            (role_arn, token_file) => file.others.push(OtherProfile {
                name,
                missing: [(ROLE_ARN, role_arn.is_none()), (TOKEN_FILE, token_file.is_none())]
                    .into_iter()
                    .filter_map(|(key, missing)| missing.then_some(key))
                    .collect(),
                credential_process: section.credential_process,
            }),
        }
    }
    Ok(file)
}

impl ConfigFile {
    /// The web identity profile `name`, or why there is none: the names the file has, or what
    /// the profile of that name lacks.
    pub fn select(&self, name: &str) -> Result<&Profile, ProfileError> {
        if let Some(profile) = self.profiles.iter().find(|p| p.name == name) {
            return Ok(profile);
        }
        if let Some(other) = self.others.iter().find(|p| p.name == name) {
            return Err(ProfileError::NotWebIdentity(other.clone()));
        }
        Err(ProfileError::Unknown {
            name: name.to_string(),
            known: self.profiles.iter().map(|p| p.name.clone()).collect(),
        })
    }
}

/// One section as read: its profile name (None for a section that is no profile), the known
/// keys' values, and whether it has a `credential_process` line.
struct Section {
    profile: Option<String>,
    header: String,
    values: Vec<(String, String)>,
    keys: Vec<String>,
    credential_process: bool,
}

fn sections(text: &str) -> Result<Vec<Section>, ProfileError> {
    let mut sections: Vec<Section> = Vec::new();
    // The key of the property a continuation line would belong to, if any.
    let mut last_key: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let syntax = |problem: String| ProfileError::Syntax { line, problem };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            // A continuation (or sub-property) line of the property above it.
            match &last_key {
                Some(key) if KNOWN_KEYS.contains(&key.as_str()) => {
                    return Err(syntax(format!("{key} continues on this line: write it on one line")));
                }
                Some(_) => continue,
                None => return Err(syntax("an indented line that continues no property".into())),
            }
        }
        if trimmed.starts_with('[') {
            let section = header(trimmed).map_err(syntax)?;
            if let Some(earlier) = sections.iter().find(|s| s.header == section.header) {
                return Err(syntax(format!(
                    "[{}] a second time: botocore refuses such a file, other SDKs merge the two; write it once",
                    earlier.header
                )));
            }
            if section.profile.as_deref() == Some(DEFAULT_PROFILE)
                && sections.iter().any(|s| s.profile.as_deref() == Some(DEFAULT_PROFILE))
            {
                return Err(syntax(
                    "[default] and [profile default] both: the SDKs pick different ones; keep one".into(),
                ));
            }
            sections.push(section);
            last_key = None;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(syntax("a property before any [section]".into()));
        };
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(syntax(
                "not `key = value`: only '=' separates a key from its value".into(),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let folded = key.to_ascii_lowercase();
        if section.keys.contains(&folded) {
            return Err(syntax(format!(
                "{key} a second time in [{}]: botocore refuses such a file, other SDKs keep the last; write it once",
                section.header
            )));
        }
        section.keys.push(folded.clone());
        last_key = Some(folded.clone());
        if folded == "credential_process" {
            section.credential_process = true;
        }
        if !KNOWN_KEYS.contains(&folded.as_str()) {
            continue;
        }
        if key != folded {
            return Err(syntax(format!(
                "{key}: write it {folded}, in lower case (botocore folds case, the other SDKs do not)"
            )));
        }
        check_value(value).map_err(|problem| syntax(format!("{key}: {problem}")))?;
        section.values.push((folded, value.to_string()));
    }
    Ok(sections)
}

/// A section line: `[default]`, `[profile NAME]` or another kind of section.
fn header(line: &str) -> Result<Section, String> {
    let Some(end) = line.find(']') else {
        return Err("a section line without its closing ']'".into());
    };
    let rest = line[end + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        return Err("text after a section's closing ']'".into());
    }
    let inner = &line[1..end];
    if inner.trim() != inner || inner.is_empty() {
        return Err(format!(
            "[{inner}]: whitespace inside the brackets, which the SDKs read differently; write [profile NAME]"
        ));
    }
    let profile = if inner == DEFAULT_PROFILE {
        Some(DEFAULT_PROFILE.to_string())
    } else if let Some(name) = inner.strip_prefix("profile").filter(|n| n.starts_with([' ', '\t'])) {
        let name = name.trim();
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/.%@:+".contains(&b))
        {
            return Err(format!(
                "[{inner}]: a profile name the Rust SDK skips; use letters, digits, '-' and '_'"
            ));
        }
        Some(name.to_string())
    } else {
        None
    };
    Ok(Section {
        // `[profile default]` and `[default]` are one profile, but two headers.
        header: inner.to_string(),
        profile,
        values: Vec::new(),
        keys: Vec::new(),
        credential_process: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, region: Option<&str>) -> Profile {
        Profile {
            name: name.into(),
            role_arn: format!("arn:aws:iam::123456789012:role/{name}"),
            web_identity_token_file: "/var/run/secrets/gke-aws/token".into(),
            role_session_name: Some(format!("pod-{name}")),
            region: region.map(str::to_string),
        }
    }

    fn pod() -> Vec<Profile> {
        vec![
            profile("default", Some("eu-west-1")),
            profile("reader", None),
            Profile {
                role_session_name: None,
                ..profile("log_shipper-2", Some("us-east-1"))
            },
        ]
    }

    #[test]
    fn render_writes_default_and_named_sections() {
        let text = render(&pod());
        assert!(
            text.contains("\n[default]\nrole_arn = arn:aws:iam::123456789012:role/default\n"),
            "{text}"
        );
        assert!(text.contains("\n[profile reader]\nrole_arn = "), "{text}");
        assert!(text.contains("role_session_name = pod-reader\n"), "{text}");
        let shipper = &text[text.find("[profile log_shipper-2]").unwrap()..];
        assert!(
            shipper.contains("region = us-east-1\n") && !shipper.contains(SESSION_NAME),
            "{text}"
        );
    }

    #[test]
    fn render_then_parse_is_the_same_profiles() {
        for profiles in [
            pod(),
            vec![],
            vec![profile("only", None)],
            vec![profile("default", None)],
        ] {
            assert_eq!(parse(&render(&profiles)).unwrap(), profiles);
            assert_eq!(try_render(&profiles).unwrap(), render(&profiles));
        }
    }

    #[test]
    fn render_leaves_out_what_would_not_read_back_and_try_render_refuses_it() {
        let injected = Profile {
            role_arn: "arn:aws:iam::1:role/x\ncredential_process = /bin/evil".into(),
            ..profile("a", None)
        };
        let cases = [
            injected,
            profile("bad name", None),
            profile("", None),
            Profile {
                region: Some("eu-west-1 # x".into()),
                ..profile("b", None)
            },
            Profile {
                region: Some(";x".into()),
                ..profile("b", None)
            },
            Profile {
                web_identity_token_file: " /t".into(),
                ..profile("c", None)
            },
            Profile {
                role_session_name: Some(String::new()),
                ..profile("d", None)
            },
        ];
        for bad in cases {
            let text = render(&[profile("ok", None), bad.clone()]);
            assert_eq!(parse(&text).unwrap(), vec![profile("ok", None)], "{bad:?}\n{text}");
            assert!(
                !text.contains("/bin/evil\n") && !text.contains("\ncredential_process"),
                "{text}"
            );
            assert!(
                matches!(
                    try_render(std::slice::from_ref(&bad)),
                    Err(ProfileError::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
        let twice = [profile("a", None), profile("a", Some("eu-west-1"))];
        assert_eq!(parse(&render(&twice)).unwrap(), vec![profile("a", None)]);
        assert!(try_render(&twice).is_err());
    }

    #[test]
    fn try_render_holds_at_most_ten_named_roles_besides_the_default() {
        let mut profiles: Vec<Profile> = (0..MAX_NAMED_ROLES).map(|i| profile(&format!("r{i}"), None)).collect();
        profiles.push(profile("default", None));
        assert!(try_render(&profiles).is_ok());
        profiles.push(profile("one-more", None));
        assert!(
            try_render(&profiles)
                .unwrap_err()
                .to_string()
                .contains("11 named roles")
        );
    }

    #[test]
    fn names_are_letters_digits_dash_and_underscore() {
        for good in ["a", "reader", "log_shipper-2", "A9", &"x".repeat(MAX_NAME_CHARS)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "a b",
            "a.b",
            "a/b",
            "ä",
            "a\n",
            "[x]",
            &"x".repeat(MAX_NAME_CHARS + 1),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn parse_reads_what_people_write() {
        let text = "# top comment\n\n; another\n[default]\nregion=eu-west-1\n\
                    \n[profile reader] # trailing comment\n  # indented comment\nrole_arn   =   arn:aws:iam::1:role/r\n\
                    web_identity_token_file=/t\noutput = json # kept by botocore, cut by others: not read here\n\
                    s3 =\n  max_concurrent_requests = 10\n\n[sso-session corp]\nsso_region = us-east-1\n\
                    [services local]\ns3 =\n  endpoint_url = http://127.0.0.1\n[plain]\nrole_arn = x\n\
                    [profile cached]\ncredential_process = gke-aws-verifier credential-process --profile reader\n";
        let file = parse_file(text).unwrap();
        assert_eq!(
            file.profiles,
            vec![Profile {
                name: "reader".into(),
                role_arn: "arn:aws:iam::1:role/r".into(),
                web_identity_token_file: "/t".into(),
                role_session_name: None,
                region: None,
            }]
        );
        assert_eq!(file.select("reader").unwrap().name, "reader");
        assert_eq!(
            file.others,
            vec![
                OtherProfile {
                    name: "default".into(),
                    missing: vec![ROLE_ARN, TOKEN_FILE],
                    credential_process: false
                },
                OtherProfile {
                    name: "cached".into(),
                    missing: vec![ROLE_ARN, TOKEN_FILE],
                    credential_process: true
                },
            ]
        );
        let cached = file.select("cached").unwrap_err().to_string();
        assert!(
            cached.contains("not a web identity profile") && cached.contains("credential_process"),
            "{cached}"
        );
        let unknown = file.select("plain").unwrap_err().to_string();
        assert_eq!(unknown, "no profile \"plain\": the file has reader");
        assert!(
            parse_file("")
                .unwrap()
                .select("x")
                .unwrap_err()
                .to_string()
                .contains("no web identity profile")
        );
    }

    #[test]
    fn profile_default_is_the_default_profile() {
        let file = parse("[profile default]\nrole_arn = r\nweb_identity_token_file = /t\n").unwrap();
        assert_eq!(file[0].name, "default");
    }

    /// Each case is a file the SDKs would refuse or read in different ways.
    #[test]
    fn parse_refuses_what_the_sdks_disagree_on() {
        let cases = [
            (
                "duplicate section",
                "[profile a]\nregion = x\n[profile a]\nregion = y\n",
                3,
                "a second time",
            ),
            (
                "default both ways",
                "[default]\nregion = x\n[profile default]\nregion = y\n",
                3,
                "both",
            ),
            (
                "duplicate key",
                "[profile a]\nregion = x\nREGION = y\n",
                3,
                "a second time",
            ),
            ("colon separator", "[profile a]\nregion: x\n", 2, "only '='"),
            ("inline comment", "[profile a]\nrole_arn = arn # x\n", 2, "comment"),
            ("value is a comment", "[profile a]\nregion = ;x\n", 2, "comment"),
            (
                "continued role",
                "[profile a]\nrole_arn = arn:aws:iam::1:\n  role/r\n",
                3,
                "one line",
            ),
            ("upper case key", "[profile a]\nRole_Arn = r\n", 2, "lower case"),
            ("empty value", "[profile a]\nregion =\n", 2, "empty"),
            ("property first", "region = x\n[default]\n", 1, "before any"),
            ("indent first", "[default]\n  x = y\n", 2, "continues no property"),
            ("unclosed", "[profile a\n", 1, "closing"),
            ("after bracket", "[profile a] x\n", 1, "after"),
            ("space inside", "[ profile a ]\n", 1, "whitespace"),
            ("odd name", "[profile a*b]\n", 1, "skips"),
        ];
        for (situation, text, line, words) in cases {
            match parse(text) {
                Err(ProfileError::Syntax { line: at, problem }) => {
                    assert_eq!(at, line, "{situation}: {problem}");
                    assert!(problem.contains(words), "{situation}: {problem}");
                }
                other => panic!("{situation}: {other:?}"),
            }
        }
    }

    #[test]
    fn parse_is_bounded() {
        let big = format!("[default]\n# {}\n", "x".repeat(MAX_CONFIG_BYTES));
        assert_eq!(parse(&big), Err(ProfileError::TooLarge { bytes: big.len() }));
    }

    /// botocore, the parser of the aws CLI and boto3, reads what `render` writes as the same
    /// values: the venv's python (make venv), which the test needs and fails without.
    #[test]
    fn botocore_reads_render_output_to_the_same_values() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".venv/bin/python");
        assert!(python.exists(), "{} is missing: run `make venv`", python.display());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let profiles = pod();
        std::fs::write(&path, render(&profiles)).unwrap();
        let script = "import json, sys, botocore.configloader as c\n\
                      print(json.dumps(c.raw_config_parse(sys.argv[1])))";
        let output = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut expected = serde_json::Map::new();
        for p in &profiles {
            let section = if p.name == DEFAULT_PROFILE {
                "default".to_string()
            } else {
                format!("profile {}", p.name)
            };
            let mut values = serde_json::Map::new();
            values.insert(ROLE_ARN.into(), p.role_arn.clone().into());
            values.insert(TOKEN_FILE.into(), p.web_identity_token_file.clone().into());
            if let Some(v) = &p.role_session_name {
                values.insert(SESSION_NAME.into(), v.clone().into());
            }
            if let Some(v) = &p.region {
                values.insert(REGION.into(), v.clone().into());
            }
            expected.insert(section, values.into());
        }
        assert_eq!(read, serde_json::Value::Object(expected));
    }
}
