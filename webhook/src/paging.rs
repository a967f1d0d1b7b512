//! How many ServiceAccounts each list page asks for: many when they are small, fewer as a
//! page's bytes approach [`LIST_PAGE_BYTES`], and never a page that can go past it unread.
//!
//! A page's size is known before it is parsed (the client reads the whole answer, bounded,
//! then counts its items without building them), so the next page's `limit` follows the bytes
//! per object seen: [`TARGET_PAGE_BYTES`] worth, between [`MIN_LIMIT`] and [`MAX_LIMIT`],
//! growing at most fourfold a page. A page that goes past the bound is not parsed: the same
//! page is asked again with [`MIN_LIMIT`], whose worst case (that many objects of the largest
//! size etcd stores) fits. The API server accepts a different `limit` on every page of a list:
//! the `continue` token, not the limit, says where the next page starts
//! (<https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks>).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The largest object the webhook reads, with room for the envelope: etcd stores objects up
/// to 1.5 MiB (its default request limit).
pub const OBJECT_BYTES: usize = 2 << 20;
/// The fewest objects a page asks for: a page of this many of the largest always fits.
pub const MIN_LIMIT: u32 = 8;
/// One list page, read whole before it is parsed.
pub const LIST_PAGE_BYTES: usize = MIN_LIMIT as usize * OBJECT_BYTES;
/// A list's first page: client-go's default page size
/// (<https://github.com/kubernetes/client-go/blob/master/tools/pager/pager.go>, `defaultPageSize = 500`).
pub const START_LIMIT: u32 = 500;
/// The most objects a page asks for (100,000 small KSAs are then 20 pages).
pub const MAX_LIMIT: u32 = 5000;
/// What a page aims at: a quarter of the bound, so that objects larger than the average so far
/// still fit.
pub const TARGET_PAGE_BYTES: usize = LIST_PAGE_BYTES / 4;
/// Objects in one list: twice the 100,000 KSAs the webhook is built for. A list that goes on
/// is cut and listed again (paced); reviews meanwhile read KSAs directly.
pub const MAX_LIST_ITEMS: u64 = 200_000;
/// Pages of one list: [`MAX_LIST_ITEMS`] at [`MIN_LIMIT`] (empty pages with a `continue`
/// token end here).
pub const MAX_PAGES: u32 = (MAX_LIST_ITEMS / MIN_LIMIT as u64) as u32;

/// The page size as it adapts, and the list in progress.
#[derive(Debug, Clone)]
pub struct Paging {
    limit: u32,
    items: u64,
    pages: u32,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            limit: START_LIMIT,
            items: 0,
            pages: 0,
        }
    }
}

/// Why a list is given up (then listed again, paced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// More objects than the `limit` asked for: not an API server's answer.
    OverLimit { items: usize, limit: u32 },
    /// The list went past [`MAX_LIST_ITEMS`] or [`MAX_PAGES`].
    Endless,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::OverLimit { items, limit } => write!(
                f,
                "the API server answered {items} ServiceAccounts to a page of limit {limit}; listing again"
            ),
            Cut::Endless => write!(
                f,
                "the API server's list went on for more than {MAX_LIST_ITEMS} ServiceAccounts or {MAX_PAGES} pages; listing again"
            ),
        }
    }
}

impl Paging {
    /// The `limit` of the next page.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// A list starts over (its first page, no `continue`).
    pub fn start_list(&mut self) {
        self.items = 0;
        self.pages = 0;
    }

    /// A page of `bytes` holding `items` objects came back for `limit`: counted, and the next
    /// limit follows its bytes per object.
    pub fn page(&mut self, limit: u32, bytes: usize, items: usize) -> Result<(), Cut> {
        if items > limit as usize {
            return Err(Cut::OverLimit { items, limit });
        }
        self.items += items as u64;
        self.pages += 1;
        if self.items > MAX_LIST_ITEMS || self.pages > MAX_PAGES {
            return Err(Cut::Endless);
        }
        if items > 0 {
            let per_object = bytes.div_ceil(items).max(1);
            let fits = u32::try_from(TARGET_PAGE_BYTES / per_object).unwrap_or(MAX_LIMIT);
            let grown = limit.saturating_mul(4);
            self.limit = fits.min(grown).clamp(MIN_LIMIT, MAX_LIMIT);
        }
        Ok(())
    }

    /// A page went past [`LIST_PAGE_BYTES`]: the next ask is [`MIN_LIMIT`]. `false` when it was
    /// already that small (the page cannot be read within the bound).
    pub fn overflowed(&mut self, limit: u32) -> bool {
        self.limit = MIN_LIMIT;
        limit > MIN_LIMIT
    }
}

/// Counts a list answer's `items` without building any of them.
pub fn count_items(page: &[u8]) -> Result<usize, serde_json::Error> {
    struct Page(usize);
    impl<'de> Deserialize<'de> for Page {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_map(PageVisitor)
        }
    }
    struct PageVisitor;
    impl<'de> Visitor<'de> for PageVisitor {
        type Value = Page;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page, A::Error> {
            let mut count = 0;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "items" {
                    count = map.next_value::<Count>()?.0;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Page(count))
        }
    }
    struct Count(usize);
    impl<'de> Deserialize<'de> for Count {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(CountVisitor)
        }
    }
    struct CountVisitor;
    impl<'de> Visitor<'de> for CountVisitor {
        type Value = Count;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("items")
        }
        fn visit_unit<E>(self) -> Result<Count, E> {
            Ok(Count(0))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
            let mut n = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(Count(n))
        }
    }
    serde_json::from_slice::<Page>(page).map(|p| p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_get_large_pages_and_large_ones_small_pages() {
        let mut paging = Paging::default();
        assert_eq!(paging.limit(), START_LIMIT);
        // 500 objects of 700 bytes: 350 KB; the target is 4 MiB, so up fourfold, then to the cap.
        paging.page(500, 500 * 700, 500).unwrap();
        assert_eq!(paging.limit(), 2000);
        paging.page(2000, 2000 * 700, 2000).unwrap();
        assert_eq!(paging.limit(), MAX_LIMIT);
        // Pages of 128 KiB objects: 32 of them make the target.
        paging.page(MAX_LIMIT, 100 * (128 << 10), 100).unwrap();
        assert_eq!(paging.limit(), 32);
        // The largest objects: never below the floor, whose worst case fits the bound.
        paging.page(32, 8 * OBJECT_BYTES, 8).unwrap();
        assert_eq!(paging.limit(), MIN_LIMIT);
        assert!(MIN_LIMIT as usize * OBJECT_BYTES <= LIST_PAGE_BYTES);
        // An empty page teaches nothing.
        paging.page(MIN_LIMIT, 60, 0).unwrap();
        assert_eq!(paging.limit(), MIN_LIMIT);
    }

    #[test]
    fn a_page_past_the_bound_is_asked_again_at_the_floor_once() {
        let mut paging = Paging::default();
        assert!(paging.overflowed(START_LIMIT), "asked again, smaller");
        assert_eq!(paging.limit(), MIN_LIMIT);
        assert!(!paging.overflowed(MIN_LIMIT), "the floor itself did not fit: given up");
    }

    #[test]
    fn a_list_ends_at_its_caps_and_more_items_than_asked_is_refused() {
        let mut paging = Paging::default();
        assert_eq!(paging.page(10, 1000, 11), Err(Cut::OverLimit { items: 11, limit: 10 }));
        paging.start_list();
        let mut result = Ok(());
        for _ in 0..(MAX_LIST_ITEMS / 5000 + 1) {
            result = paging.page(5000, 5000 * 100, 5000);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(Cut::Endless));
        // A new list starts the count over; empty pages end at the page cap.
        paging.start_list();
        let ended = (0..=MAX_PAGES).map(|_| paging.page(8, 50, 0)).find(Result::is_err);
        assert_eq!(ended, Some(Err(Cut::Endless)));
    }

    #[test]
    fn items_are_counted_without_building_them() {
        let page =
            br#"{"kind":"ServiceAccountList","metadata":{"continue":"x"},"items":[{"a":[1,{"b":2}]},{},{"c":"d"}]}"#;
        assert_eq!(count_items(page).unwrap(), 3);
        assert_eq!(count_items(br#"{"items":null}"#).unwrap(), 0);
        assert_eq!(count_items(br#"{"metadata":{}}"#).unwrap(), 0);
        assert!(count_items(br#"{"items":[1,2"#).is_err());
    }
}
