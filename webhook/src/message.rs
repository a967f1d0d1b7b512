//! What `kubectl` shows of an answer: warnings within the length Kubernetes recommends
//! ("limit warnings to 120 characters if possible"; the API server may cut one over 256 and
//! drops warnings beyond 4,096 characters in all), and values from the pod or the KSA quoted
//! with a cap, so that a 256 KiB annotation never becomes a 256 KiB denial.

/// Longest warning: what the AdmissionResponse's `warnings` field recommends.
pub const MAX_WARNING_CHARS: usize = 120;
/// All warnings of one answer together (the API server's budget for every webhook's).
pub const MAX_WARNINGS_CHARS: usize = 2048;
/// Longest value quoted from the pod or the KSA.
const MAX_QUOTED_CHARS: usize = 64;

/// `value` quoted (`"..."`, escaped as Rust's `{:?}` does), cut to [`MAX_QUOTED_CHARS`].
pub fn quoted(value: &str) -> String {
    if value.chars().count() <= MAX_QUOTED_CHARS {
        return format!("{value:?}");
    }
    let cut: String = value.chars().take(MAX_QUOTED_CHARS).collect();
    format!("{cut:?}… ({} characters)", value.chars().count())
}

/// The warnings as sent: each cut to [`MAX_WARNING_CHARS`] (ending in `…`), duplicates
/// dropped, and no more than the whole answer's budget.
pub fn warnings(all: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut total = 0;
    for warning in all {
        let warning = if warning.chars().count() > MAX_WARNING_CHARS {
            let mut cut: String = warning.chars().take(MAX_WARNING_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            warning
        };
        if out.contains(&warning) {
            continue;
        }
        total += warning.chars().count();
        if total > MAX_WARNINGS_CHARS {
            break;
        }
        out.push(warning);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_and_warnings_are_cut() {
        assert_eq!(quoted("cluster"), "\"cluster\"");
        let long = quoted(&"x".repeat(262_144));
        assert!(long.len() < 100 && long.ends_with("(262144 characters)"), "{long}");
        let w = warnings(vec!["a".repeat(300), "b".into(), "b".into()]);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].chars().count(), MAX_WARNING_CHARS);
        assert!(w[0].ends_with('…'));
        let many = warnings((0..100).map(|i| format!("{i}{}", "w".repeat(100))).collect());
        assert!(many.iter().map(|w| w.chars().count()).sum::<usize>() <= MAX_WARNINGS_CHARS);
    }
}
