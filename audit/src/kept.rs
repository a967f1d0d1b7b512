//! Strings kept by key, packed: what the audit keeps of an object's labels, annotations and env
//! in one allocation each, for the hundreds of thousands of objects of a large cluster.

use std::collections::BTreeMap;

/// Strings kept by key (labels, annotations, env), packed in one buffer: each key and value after
/// its length (4 bytes, little-endian), keys sorted. A KSA's role and GSA take one allocation of
/// about 150 bytes where a map took six and 800.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept(Box<[u8]>);

impl Kept {
    /// As a map again, for the webhook's own code that reads a KSA's annotations.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    /// The map's entries, packed.
    pub fn from_map(map: BTreeMap<String, String>) -> Kept {
        // A part longer than a length can say is dropped, never cut: no answer holds one
        // (they are at most MAX_ANSWER_BYTES), and a wrong length would shift every later part.
        let fits = |(k, v): &(&String, &String)| u32::try_from(k.len().max(v.len())).is_ok();
        let mut out = Vec::with_capacity(map.iter().filter(fits).map(|(k, v)| 8 + k.len() + v.len()).sum());
        for (k, v) in map.iter().filter(fits) {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        Kept(out.into_boxed_slice())
    }

    /// In key order. Ends at the first part that is not whole (never the case for what
    /// `from_map` packed): every step checks its bounds, so no bytes make it panic.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest: &[u8] = &self.0;
        let mut next = move || -> Option<&str> {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
            let (part, after) = tail.split_at_checked(len)?;
            rest = after;
            std::str::from_utf8(part).ok()
        };
        std::iter::from_fn(move || Some((next()?, next()?)))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `key` is kept.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_strings_come_back_by_key_in_order() {
        let map = BTreeMap::from([
            ("b".to_owned(), String::new()),
            ("a".to_owned(), "é".repeat(300)),
            (String::new(), "x".to_owned()),
        ]);
        let kept = Kept::from_map(map.clone());
        let back: Vec<(&str, &str)> = kept.iter().collect();
        let want: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(back, want);
        assert_eq!(
            (kept.len(), kept.get("a"), kept.get("b"), kept.get("c")),
            (3, Some(&*"é".repeat(300)), Some(""), None)
        );
        assert!(Kept::from_map(BTreeMap::new()).is_empty() && !kept.is_empty());
    }

    #[test]
    fn kept_bytes_that_are_not_whole_end_the_iteration_without_a_panic() {
        let whole = Kept::from_map(BTreeMap::from([("key".to_owned(), "value".to_owned())]))
            .0
            .into_vec();
        let mut cases: Vec<Vec<u8>> = (0..whole.len()).map(|n| whole[..n].to_vec()).collect();
        cases.push([&whole[..], &u32::MAX.to_le_bytes()[..], b"x"].concat());
        cases.push([&3u32.to_le_bytes()[..], &[0xff, 0xfe, 0xfd][..], &whole[..]].concat());
        for bytes in cases {
            let kept = Kept(bytes.clone().into_boxed_slice());
            let pairs: Vec<_> = kept.iter().collect();
            assert!(pairs.len() <= 1, "{bytes:?} gave {pairs:?}");
            assert!(pairs.iter().all(|p| *p == ("key", "value")), "{bytes:?} gave {pairs:?}");
        }
    }
}
