//! The one decision every plan rests on: given what the file wants and what AWS has,
//! which action, and which attributes differ. Pure, and tested as a table of cases.

use super::{Action, AttrChange};
use crate::engine::{Attrs, Schema};

/// Decide the action for one resource of the kind `schema` describes.
///
/// - only in the file → `Create`; only in AWS → `Delete`;
/// - both: compare every attribute the file sets, as the schema says (absent and `null`
///   are equal); none differ → `NoOp`; any whose change needs a new resource differs →
///   `Replace`; else `Update`. Sensitive attributes are marked so.
pub fn decide(desired: Option<&Attrs>, observed: Option<&Attrs>, schema: &Schema) -> (Action, Vec<AttrChange>) {
    match (desired, observed) {
        (None, None) => (Action::NoOp, vec![]),
        (Some(_), None) => (Action::Create, vec![]),
        (None, Some(_)) => (Action::Delete, vec![]),
        (Some(d), Some(o)) => {
            let changes: Vec<AttrChange> = d
                .iter()
                .filter_map(|(name, after)| {
                    let before = o.get(name).filter(|v| !v.is_null());
                    let after = Some(after).filter(|v| !v.is_null());
                    let same = schema.attr(name).map_or(before == after, |spec| spec.same(before, after));
                    (!same).then(|| AttrChange {
                        name: name.clone(),
                        before: before.cloned(),
                        after: after.cloned(),
                        forces_replacement: schema.forces_replacement(name),
                        sensitive: schema.is_sensitive(name),
                        drift: false,
                    })
                })
                .collect();
            let action = if changes.is_empty() {
                Action::NoOp
            } else if changes.iter().any(|c| c.forces_replacement) {
                Action::Replace
            } else {
                Action::Update
            };
            (action, changes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AttrSpec, Kind};
    use serde_json::{json, Value};

    static SCHEMA: Schema = Schema {
        kind: Kind::Bucket,
        layer: 0,
        attrs: &[
            AttrSpec::replace("name"),
            AttrSpec::update("a"),
            AttrSpec::update("l"),
            AttrSpec::update("s").set(),
            AttrSpec::update("password").sensitive(),
        ],
        deleted_after: &[],
    };

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn decision_table() {
        // (desired, observed, expected action, expected changed attribute names)
        type Case = (Option<Value>, Option<Value>, Action, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (Some(json!({"a": 1})), None, Action::Create, vec![]),
            (None, Some(json!({"a": 1})), Action::Delete, vec![]),
            (None, None, Action::NoOp, vec![]),
            (Some(json!({"a": 1})), Some(json!({"a": 1})), Action::NoOp, vec![]),
            // attributes AWS fills in by itself are not compared
            (Some(json!({"a": 1})), Some(json!({"a": 1, "created": "x"})), Action::NoOp, vec![]),
            // absent and null mean the same
            (Some(json!({"a": null})), Some(json!({})), Action::NoOp, vec![]),
            (Some(json!({"a": 2})), Some(json!({"a": 1})), Action::Update, vec!["a"]),
            (Some(json!({"a": 2})), Some(json!({})), Action::Update, vec!["a"]),
            (Some(json!({"a": null})), Some(json!({"a": 1})), Action::Update, vec!["a"]),
            (Some(json!({"name": "n2", "a": 1})), Some(json!({"name": "n1", "a": 1})), Action::Replace, vec!["name"]),
            (
                Some(json!({"name": "n2", "a": 2})),
                Some(json!({"name": "n1", "a": 1})),
                Action::Replace,
                vec!["a", "name"],
            ),
            (Some(json!({"l": [1, 2]})), Some(json!({"l": [2, 1]})), Action::Update, vec!["l"]),
            // a set: order and repeats carry no meaning
            (Some(json!({"s": [1, 2]})), Some(json!({"s": [2, 1, 1]})), Action::NoOp, vec![]),
            // an attribute the schema does not declare cannot be promised in place
            (Some(json!({"undeclared": 2})), Some(json!({"undeclared": 1})), Action::Replace, vec!["undeclared"]),
        ];
        for (i, (d, o, action, names)) in cases.into_iter().enumerate() {
            let d = d.map(attrs);
            let o = o.map(attrs);
            let (got, changes) = decide(d.as_ref(), o.as_ref(), &SCHEMA);
            assert_eq!(got, action, "case {i}");
            let got_names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(got_names, names, "case {i}");
        }
    }

    #[test]
    fn replacement_marks_forcing_attributes_and_sensitive_ones() {
        let d = attrs(json!({"name": "b", "password": "x"}));
        let o = attrs(json!({"name": "a", "password": "y"}));
        let (_, changes) = decide(Some(&d), Some(&o), &SCHEMA);
        assert!(changes[0].forces_replacement && !changes[0].sensitive);
        assert!(!changes[1].forces_replacement && changes[1].sensitive);
    }
}
