//! The top-level keys: `stack` (the name in every physical name), `region`, and `tags`.
//!
//! A stack name has 1-24 characters of a-z, 0-9 and `-`, starts with a letter and does not
//! end with `-`; the region looks like an AWS region (`ap-northeast-2`). `tags:` is a
//! string-to-string map added to every taggable resource: keys have 1-128 characters and values 0-256 (AWS's limits). Keys starting with `aws:`
//! (AWS's own) or `bumarket-infra:` (the tool's ownership tags) are reserved. Values may be
//! written as numbers or booleans (`cost-center: 1234`); they are kept as written.

use crate::names;
use crate::reader::{text, Ctx, Map, Val};
use std::collections::BTreeMap;

const RESERVED: &[&str] = &["aws:", "bumarket-infra:"];

/// Reads `stack` and `region` (both required); empty strings stand in for bad values.
pub(crate) fn name_and_region(cx: &mut Ctx, top: &Map) -> (String, String) {
    top.need(cx, "stack");
    top.need(cx, "region");
    let name = top.string(cx, "stack");
    if let Val::Got(name, span) = &name {
        for problem in names::stack_name(name) {
            cx.error(*span, format!("stack name `{name}` {problem}"), "invalid stack name");
        }
    }
    let region = top.string(cx, "region");
    if let Val::Got(region, span) = &region {
        if !names::is_region(region) {
            let message = format!("`{region}` does not look like an AWS region");
            cx.error(*span, message, "expected a region like `ap-northeast-2`");
        }
    }
    (name.or(String::new()), region.or(String::new()))
}

/// Reads `tags:`.
pub(crate) fn tags(cx: &mut Ctx, top: &Map) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(entry) = top.entry("tags") else { return tags };
    let map = Map::open(cx, &entry.value, "tags", entry.key.span, None);
    for e in map.entries {
        let key = &e.key.name;
        let n = key.chars().count();
        if !(1..=128).contains(&n) {
            cx.error(e.key.span, format!("tag key `{key}` is {n} characters long"), "AWS allows 1 to 128");
        }
        if let Some(reserved) = RESERVED.iter().find(|r| key.to_lowercase().starts_with(*r)) {
            cx.error(e.key.span, format!("tag key `{key}` uses the reserved prefix `{reserved}`"), "reserved prefix");
        }
        if let Val::Got(value, span) = text(cx, &e.value, &map.what(key)) {
            let n = value.chars().count();
            if n > 256 {
                cx.error(span, format!("value of tag `{key}` is {n} characters long"), "AWS allows at most 256");
            }
            tags.insert(key.clone(), value);
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn tags_keep_values_as_written_and_refuse_reserved_keys() {
        let text = "stack: s\nregion: ap-northeast-2\ntags: {cost-center: 1234, empty: ~}\n";
        let tags = crate::parse(Path::new("t.yaml"), text).unwrap().tags;
        assert_eq!(tags["cost-center"], "1234");
        assert_eq!(tags["empty"], "");
        let bad = "stack: s\nregion: ap-northeast-2\ntags: {AWS:x: y, bumarket-infra:stack: z}\n";
        let e = crate::parse(Path::new("t.yaml"), bad).unwrap_err();
        assert_eq!(e.items.len(), 2, "{e}");
        assert!(e.items[0].message.contains("reserved prefix `aws:`"));
    }
}
