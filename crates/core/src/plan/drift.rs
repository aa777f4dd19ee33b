//! Drift: what changed in AWS outside bumarket-infra, told apart from what changed in the
//! file, without a state file.
//!
//! Every desired resource that has a `tags` object gets one more tag, [`TAG_APPLIED`],
//! recording a short hash of each of its desired attribute values:
//! `v1.<names>.<hashes>`, where `<names>` is 4 hex chars of the hash of the sorted
//! attribute names and `<hashes>` is, in that order, [`width`] hex chars per attribute
//! (3 unless the resource has so many attributes that the value would pass AWS's
//! 256-char limit). A hash is SHA-256 of the value's canonical JSON (object keys sorted);
//! `tags` is hashed without the applied tag itself.
//!
//! Because `tags` is an ordinary attribute, a create writes the record and any update
//! that changes something rewrites it. At plan time, an attribute that differs is drift
//! when the record's hash of it equals the hash of the value the file wants now: the
//! file did not change it since the last apply, so AWS did. With no record, or a record
//! made for another list of attributes, nothing is marked.

use super::AttrChange;
use crate::engine::Attrs;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Tag recording what was applied, attribute by attribute.
pub const TAG_APPLIED: &str = "bumarket-infra:applied";

/// Longest tag value AWS takes (every service this tool tags).
pub const MAX_TAG_VALUE: usize = 256;

const VERSION: &str = "v1";
/// Hex chars of the attribute-name list's hash.
const NAMES_WIDTH: usize = 4;
/// Hex chars per attribute, when they fit.
const ATTR_WIDTH: usize = 3;

/// Hex chars per attribute for a resource of `n` attributes: 3, fewer when 3 would not fit
/// in a tag value, 0 when not even one does (then no record is kept).
pub fn width(n: usize) -> usize {
    let room = MAX_TAG_VALUE - (VERSION.len() + 1 + NAMES_WIDTH + 1);
    room.checked_div(n).map_or(ATTR_WIDTH, |w| w.min(ATTR_WIDTH))
}

/// A JSON value with object keys sorted at every level, as text.
pub fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&o[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(v)).expect("JSON serialises")
}

fn hex(bytes: &[u8], chars: usize) -> String {
    let full: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    full[..chars].to_string()
}

/// `tags` without the applied tag (other values unchanged).
pub fn without_applied(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(k, _)| *k != TAG_APPLIED).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        other => other.clone(),
    }
}

/// The hash of one attribute's value as the record keeps it.
fn value_hash(name: &str, v: &Value, chars: usize) -> String {
    let v = if name == "tags" { without_applied(v) } else { v.clone() };
    hex(canonical(&v).as_bytes(), chars)
}

fn names_hash(attrs: &Attrs) -> String {
    let names: Vec<&str> = attrs.keys().map(String::as_str).collect();
    hex(names.join("\n").as_bytes(), NAMES_WIDTH)
}

/// The record of `attrs` (a resource's desired attributes), or `None` when it has no
/// `tags` object or too many attributes to fit one.
pub fn record(attrs: &Attrs) -> Option<String> {
    if !attrs.get("tags").is_some_and(Value::is_object) {
        return None;
    }
    let w = width(attrs.len());
    if w == 0 {
        return None;
    }
    // `Attrs` is a BTreeMap: its keys come sorted.
    let hashes: String = attrs.iter().map(|(k, v)| value_hash(k, v, w)).collect();
    Some(format!("{VERSION}.{}.{hashes}", names_hash(attrs)))
}

/// Add the applied tag to a desired resource's `tags`, when it has them.
pub fn stamp(attrs: &mut Attrs) {
    let Some(r) = record(attrs) else { return };
    if let Some(Value::Object(tags)) = attrs.get_mut("tags") {
        tags.insert(TAG_APPLIED.to_string(), Value::String(r));
    }
}

/// The recorded hash of each attribute, by name, when `recorded` was made for the same
/// attribute names as `desired` has now.
fn recorded_hashes<'a>(desired: &'a Attrs, recorded: &str) -> Option<Vec<(&'a str, String)>> {
    let mut parts = recorded.splitn(3, '.');
    let (Some(VERSION), Some(names), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let w = width(desired.len());
    if names != names_hash(desired) || w == 0 || body.len() != w * desired.len() || !body.is_ascii() {
        return None;
    }
    Some(desired.keys().enumerate().map(|(i, k)| (k.as_str(), body[i * w..(i + 1) * w].to_string())).collect())
}

/// The applied record a live resource carries in its `tags`.
pub fn applied_of(observed: &Attrs) -> Option<&str> {
    observed.get("tags")?.get(TAG_APPLIED)?.as_str()
}

/// Mark as drift each change whose attribute the file did not change since the last
/// apply (its recorded hash equals the hash of the desired value now).
pub fn mark(desired: &Attrs, observed: &Attrs, changes: &mut [AttrChange]) {
    let Some(recorded) = applied_of(observed) else { return };
    let Some(hashes) = recorded_hashes(desired, recorded) else { return };
    let w = width(desired.len());
    for c in changes.iter_mut() {
        let Some((_, then)) = hashes.iter().find(|(n, _)| *n == c.name) else { continue };
        let now = value_hash(&c.name, desired.get(&c.name).unwrap_or(&Value::Null), w);
        c.drift = *then == now && !only_applied(c);
    }
}

/// A change that only rewrites the applied tag: not worth a line of its own.
pub fn only_applied(c: &AttrChange) -> bool {
    c.name == "tags"
        && c.before.as_ref().map(without_applied).filter(|v| !is_empty_object(v))
            == c.after.as_ref().map(without_applied).filter(|v| !is_empty_object(v))
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::decide;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).unwrap()
    }

    /// The file as applied last time.
    fn applied() -> Attrs {
        attrs(json!({
            "name": "logs",
            "lifecycle": [{"id": "expire", "expire_after_days": 180}],
            "versioning": true,
            "tags": {"bumarket-infra:stack": "s", "team": "web"},
        }))
    }

    fn stamped(mut a: Attrs) -> Attrs {
        stamp(&mut a);
        a
    }

    /// Plan `desired` (the file now, stamped as the registry does) against `live`.
    fn drifted(desired: Attrs, live: Attrs) -> Vec<(String, bool)> {
        let desired = stamped(desired);
        let rules = crate::testing::Rules::new(|_| 0);
        let schema = crate::plan::KindRules::schema(&rules, crate::engine::Kind::Bucket);
        let (_, mut changes) = decide(Some(&desired), Some(&live), schema);
        mark(&desired, &live, &mut changes);
        changes.into_iter().filter(|c| !only_applied(c)).map(|c| (c.name, c.drift)).collect()
    }

    fn set(mut a: Attrs, name: &str, v: Value) -> Attrs {
        a.insert(name.into(), v);
        a
    }

    #[test]
    fn the_record_has_one_hash_per_attribute_and_ignores_its_own_tag() {
        let a = stamped(applied());
        let r = applied_of(&a).unwrap().to_string();
        assert!(r.starts_with("v1."), "{r}");
        assert_eq!(r.len(), "v1.".len() + 4 + 1 + 3 * 4, "{r}");
        // Stamping again (the tag now present) gives the same record.
        assert_eq!(record(&a).as_deref(), Some(r.as_str()));
        // Key order inside values does not matter.
        let mut b = applied();
        b.insert("tags".into(), json!({"team": "web", "bumarket-infra:stack": "s"}));
        assert_eq!(record(&b).as_deref(), Some(r.as_str()));
    }

    #[test]
    fn resources_without_tags_get_no_record() {
        let mut a = attrs(json!({"name": "g", "policy": {}}));
        stamp(&mut a);
        assert_eq!(a, attrs(json!({"name": "g", "policy": {}})));
        assert_eq!(record(&attrs(json!({"name": "g", "tags": null}))), None);
    }

    #[test]
    fn a_change_made_outside_is_drift() {
        let live = set(stamped(applied()), "versioning", json!(false));
        assert_eq!(drifted(applied(), live), [("versioning".to_string(), true)]);
    }

    #[test]
    fn a_change_made_in_the_file_is_not_drift() {
        let live = stamped(applied());
        let file = set(applied(), "versioning", json!(false));
        assert_eq!(drifted(file, live), [("versioning".to_string(), false)]);
    }

    #[test]
    fn file_and_outside_changes_together_are_each_told_apart() {
        let live = set(stamped(applied()), "versioning", json!(false));
        let file = set(applied(), "lifecycle", json!([{"id": "expire", "expire_after_days": 30}]));
        assert_eq!(drifted(file, live), [("lifecycle".to_string(), false), ("versioning".to_string(), true)]);
        // The same attribute changed in both places: the file's change wins, no drift.
        let live = set(stamped(applied()), "versioning", json!(false));
        let file = set(applied(), "versioning", json!(null));
        assert_eq!(drifted(file, live), [("versioning".to_string(), false)]);
    }

    #[test]
    fn tags_changed_outside_are_drift_but_the_record_is_never_a_line() {
        let mut live = stamped(applied());
        live.insert("tags".into(), {
            let mut t = live["tags"].clone();
            t["team"] = json!("ops");
            t
        });
        assert_eq!(drifted(applied(), live), [("tags".to_string(), true)]);
        // Only the record differs: no visible change at all.
        let live = stamped(set(applied(), "versioning", json!(false)));
        let live = set(live, "versioning", json!(true));
        assert_eq!(drifted(applied(), live), []);
    }

    #[test]
    fn without_a_record_nothing_is_marked() {
        let live = set(applied(), "versioning", json!(false));
        assert_eq!(drifted(applied(), live), [("versioning".to_string(), false)]);
        let mut live = set(stamped(applied()), "versioning", json!(false));
        live.get_mut("tags").unwrap()[TAG_APPLIED] = json!("garbage");
        assert_eq!(drifted(applied(), live), [("versioning".to_string(), false)]);
    }

    #[test]
    fn a_record_for_another_list_of_attributes_marks_nothing() {
        let live = set(stamped(applied()), "versioning", json!(false));
        // The file now has one more attribute (a new version of the tool, say).
        let file = set(applied(), "encryption", json!("AES256"));
        assert_eq!(drifted(file, live), [("encryption".to_string(), false), ("versioning".to_string(), false)]);
    }

    #[test]
    fn the_widest_resource_fits_a_tag_value() {
        for n in [3, 10, 30, 82, 83, 100, 124, 125, 248] {
            let mut a: Attrs = (0..n - 1).map(|i| (format!("attr_{i:03}"), json!(i))).collect();
            a.insert("tags".into(), json!({"k": "v"}));
            let r = record(&a).unwrap();
            assert!(r.len() <= MAX_TAG_VALUE, "{n} attributes: {} chars", r.len());
            assert_eq!(
                width(n),
                if n <= 82 {
                    3
                } else if n <= 124 {
                    2
                } else {
                    1
                },
                "{n}"
            );
            // And it still tells drift apart.
            let live = set(stamped(a.clone()), "attr_000", json!("moved"));
            let file = set(a.clone(), "attr_001", json!("edited"));
            assert_eq!(drifted(file, live), [("attr_000".to_string(), true), ("attr_001".to_string(), false)]);
        }
        let mut too_many: Attrs = (0..249).map(|i| (format!("a{i}"), json!(i))).collect();
        too_many.insert("tags".into(), json!({}));
        assert_eq!(record(&too_many), None);
    }
}
