//! CPU and memory of the injected init container and sidecar, requests equal to limits for
//! both: a namespace whose ResourceQuota tracks `limits.cpu` or `limits.memory` admits the pod,
//! a LimitRange `max` or `maxLimitRequestRatio` is met, and a Guaranteed pod stays Guaranteed.
//! The figures come from the webhook's flags, overridable per pod by annotation, each checked
//! against bounds the token writer runs within.

use serde_json::{Value, json};

/// Default CPU (requests = limits). The writer spends a few milliseconds of CPU per token; at
/// 50m the first token (TLS to the metadata server, parsing) is not throttled for long.
pub const DEFAULT_CPU: &str = "50m";
/// Default memory (requests = limits): the writer's peak RSS is well under it.
pub const DEFAULT_MEMORY: &str = "64Mi";

/// Bounds on a CPU figure, in millicores: below 10m the first token can take seconds of CFS
/// throttling; above 2 CPUs is a typo.
const CPU_MILLIS: (u128, u128) = (10, 2000);
/// Bounds on a memory figure, in bytes: below 32Mi the writer may be OOM-killed; above 1Gi is
/// a typo.
const MEMORY_BYTES: (u128, u128) = (32 << 20, 1 << 30);

/// The figures for both injected containers, as Kubernetes quantities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu: DEFAULT_CPU.to_owned(),
            memory: DEFAULT_MEMORY.to_owned(),
        }
    }
}

impl Resources {
    /// The container's `resources`: requests equal to limits.
    pub fn json(&self) -> Value {
        let both = json!({ "cpu": self.cpu, "memory": self.memory });
        json!({ "requests": both, "limits": both })
    }
}

/// A CPU quantity (`50m`, `0.1`, `1`) within the bounds; the problem otherwise.
pub fn cpu(value: &str) -> Result<String, String> {
    let (min, max) = CPU_MILLIS;
    let millis = quantity(value, 1000).filter(|_| !value.contains(['K', 'M', 'G', 'k', 'i']));
    match millis {
        Some(m) if (min..=max).contains(&m) => Ok(value.to_owned()),
        Some(_) => Err("is outside 10m to 2 (CPU, requests = limits)".to_owned()),
        None => Err("is not a CPU quantity; expected millicores such as 50m or cores such as 0.5".to_owned()),
    }
}

/// A memory quantity (`64Mi`, `128M`, bytes) within the bounds; the problem otherwise.
pub fn memory(value: &str) -> Result<String, String> {
    let (min, max) = MEMORY_BYTES;
    let bytes = quantity(value, 1).filter(|_| !value.ends_with('m'));
    match bytes {
        Some(b) if (min..=max).contains(&b) => Ok(value.to_owned()),
        Some(_) => Err("is outside 32Mi to 1Gi (memory, requests = limits)".to_owned()),
        None => Err("is not a memory quantity; expected a size such as 64Mi or 128M".to_owned()),
    }
}

/// The quantity in units of 1/`scale` (1000: millis; 1: whole units), `None` when it is not a
/// non-negative Kubernetes quantity with a suffix of m, k, M, G, Ki, Mi or Gi (or none), or
/// when it is not a whole number of those units.
fn quantity(value: &str, scale: u128) -> Option<u128> {
    if value.is_empty() || value.len() > 32 {
        return None;
    }
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // (numerator, denominator) of the suffix's multiplier.
    let (mul, div): (u128, u128) = match suffix {
        "" => (1, 1),
        "m" => (1, 1000),
        "k" => (1000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        _ => return None,
    };
    let fraction_scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    let mantissa: u128 = format!("{whole}{fraction}").parse().ok()?;
    let numerator = mantissa.checked_mul(mul)?.checked_mul(scale)?;
    let denominator = fraction_scale * div;
    (numerator % denominator == 0).then(|| numerator / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_as_kubernetes_reads_them() {
        assert_eq!(quantity("50m", 1000), Some(50));
        assert_eq!(quantity("0.1", 1000), Some(100));
        assert_eq!(quantity("2", 1000), Some(2000));
        assert_eq!(quantity("64Mi", 1), Some(64 << 20));
        assert_eq!(quantity("1.5Gi", 1), Some(3 << 29));
        assert_eq!(quantity("128M", 1), Some(128_000_000));
        for bad in ["", "m", "-1", "1e3", "1..2", ".5", "5 m", "5mi", "64MB", "0.5m"] {
            assert_eq!(quantity(bad, 1000), None, "{bad:?}");
        }
    }

    #[test]
    fn figures_outside_the_bounds_are_refused() {
        assert_eq!(cpu("100m").as_deref(), Ok("100m"));
        assert_eq!(cpu("1").as_deref(), Ok("1"));
        assert!(cpu("5m").unwrap_err().contains("10m to 2"));
        assert!(cpu("3").is_err());
        assert!(cpu("64Mi").unwrap_err().contains("not a CPU quantity"));
        assert_eq!(memory("64Mi").as_deref(), Ok("64Mi"));
        assert!(memory("16Mi").unwrap_err().contains("32Mi to 1Gi"));
        assert!(memory("2Gi").is_err());
        assert!(memory("100m").unwrap_err().contains("not a memory quantity"));
    }
}
