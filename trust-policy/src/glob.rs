//! IAM's wildcards (`StringLike`, `Action`): `*` any run of characters, `?` exactly one.

/// Whether `value` matches `pattern`; linear backtracking, at most `pattern × value` steps.
pub fn matches(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let fold = |c: char| if ignore_case { c.to_ascii_lowercase() } else { c };
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let v: Vec<char> = value.chars().map(fold).collect();
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks() {
        let m = |p, v| matches(p, v, false);
        assert!(m("a*c", "abbc") && m("a?c", "abc") && m("*", "") && m("a*", "a"));
        assert!(!m("a?c", "ac") && !m("a*c", "ab") && !m("abc", "abcd") && !m("A", "a"));
        assert!(matches("STS:Assume*", "sts:AssumeRoleWithWebIdentity", true));
    }
}
