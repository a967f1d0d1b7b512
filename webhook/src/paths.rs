//! Mount paths as the kubelet resolves them: `/var/run/secrets//gke-aws/` and
//! `/var/run/secrets/./gke-aws` are the same folder, so they are compared normalised.

/// `path` with empty and `.` segments dropped, `..` applied and no trailing `/`.
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// True when `path` is `dir` or lies inside it (both normalised first).
pub fn within(path: &str, dir: &str) -> bool {
    let (path, dir) = (normalise(path), normalise(dir));
    path == dir || path.starts_with(&format!("{dir}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_folder_are_one_folder() {
        for spelling in [
            "/var/run/secrets/gke-aws",
            "/var/run/secrets//gke-aws",
            "/var/run/secrets/gke-aws/",
            "/var/run/./secrets/gke-aws",
            "/var/run/x/../secrets/gke-aws",
            "var/run/secrets/gke-aws",
        ] {
            assert_eq!(normalise(spelling), "/var/run/secrets/gke-aws", "{spelling}");
        }
        assert!(within("/var/run/secrets//gke-aws/token", "/var/run/secrets/gke-aws"));
        assert!(!within("/var/run/secrets/gke-aws-config", "/var/run/secrets/gke-aws"));
        assert!(!within("/var/run/secrets", "/var/run/secrets/gke-aws"));
    }
}
