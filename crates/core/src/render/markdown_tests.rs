//! The plan as a pull-request comment: risk first, folded tags, never over the limit,
//! never without a deletion or replacement line.

use super::*;
use crate::engine::{Attrs, Desired, Observed, Ownership};
use crate::plan::{build, Mode};
use crate::testing::{addr as a, Rules};
use serde_json::json;

fn d(addr: &str, name: &str, attrs: serde_json::Value) -> Desired {
    let attrs: Attrs = serde_json::from_value(attrs).unwrap();
    Desired { addr: a(addr), name: name.into(), attrs, deps: vec![] }
}

fn o(addr: &str, name: &str, attrs: serde_json::Value) -> Observed {
    let attrs: Attrs = serde_json::from_value(attrs).unwrap();
    Observed {
        addr: a(addr),
        name: name.into(),
        id: name.into(),
        attrs,
        ownership: Ownership::Ours,
        outputs: Default::default(),
        deps: vec![],
    }
}

/// A database replaced (its `name` forces it), a bucket gone from the file, a listener
/// changed, an alarm added, a role whose tags alone change; `extra` more alarms added.
fn review_plan(extra: usize) -> crate::plan::Plan {
    let mut desired = vec![
        d("database.main", "shop-db-2", json!({"name": "shop-db-2", "a": 1})),
        d("listener.https", "shop-lb:443", json!({"name": "shop-lb:443", "a": "TLS13-PQ"})),
        d("alarm.cpu", "shop-cpu", json!({"name": "shop-cpu"})),
        d("role.app", "shop-app", json!({"name": "shop-app", "tags": {"team": "web"}})),
    ];
    for i in 0..extra {
        desired.push(d(
            &format!("alarm.extra-{i}"),
            &format!("shop-extra-{i}"),
            json!({"name": "x", "a": "y".repeat(40)}),
        ));
    }
    let observed = vec![
        o("database.main", "shop-db", json!({"name": "shop-db", "a": 1})),
        o("bucket.old", "shop-old", json!({"name": "shop-old"})),
        o("listener.https", "shop-lb:443", json!({"name": "shop-lb:443", "a": "TLS13-2021"})),
        o("role.app", "shop-app", json!({"name": "shop-app", "tags": {"team": "ops"}})),
    ];
    build("shop", "ap-northeast-2", Mode::Converge, &desired, observed, &Rules::new(|_| 0)).unwrap()
}

#[test]
fn risk_comes_first_then_traffic_then_the_rest_with_tags_folded() {
    let text = plan(&review_plan(0), "stacks/shop.yaml", DEFAULT_MAX_BYTES);
    insta::assert_snapshot!(text);
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("no `{needle}` in\n{text}"));
    assert!(at("[!CAUTION]") < at("#### Data at risk"));
    assert!(at("**`database.main`**") < at("#### Can interrupt traffic"));
    assert!(at("**`bucket.old`**") < at("#### Can interrupt traffic"));
    assert!(at("**`listener.https`**") < at("#### Other changes"));
    assert!(at("**`alarm.cpu`**") < at("<b>Tags only</b>"));
    assert!(at("**`role.app`**") > at("<b>Tags only</b>"));
    assert!(text.contains("**replaced**: `name` cannot change in place"), "{text}");
}

#[test]
fn a_long_plan_is_cut_to_the_limit_keeping_every_deletion_and_replacement() {
    let p = review_plan(400);
    let full = plan(&p, "stacks/shop.yaml", usize::MAX);
    assert!(full.len() > 15_000, "{}", full.len());
    for limit in [12_000, 6_000, 3_000] {
        let text = plan(&p, "stacks/shop.yaml", limit);
        assert!(text.len() <= limit, "{} bytes over {limit}", text.len());
        for line in ["`-/+` **`database.main`**", "`-` **`bucket.old`**"] {
            assert!(text.contains(line), "{limit}: lost `{line}`:\n{text}");
        }
        assert!(text.contains("more, left out to keep this comment short"), "{text}");
        assert!(text.contains(&format!("Shortened to fit {limit} bytes")), "{text}");
    }
    // Nothing is said to be left out when all of it fits.
    assert!(!full.contains("left out"), "{full}");
}

#[test]
fn details_are_diffs_and_values_cannot_break_out_of_their_block() {
    let desired = vec![d("role.app", "shop-app", json!({"name": "shop-app", "policy": "```\n</details>"}))];
    let observed = vec![o("role.app", "shop-app", json!({"name": "shop-app", "policy": "old"}))];
    let p = build("shop", "r", Mode::Converge, &desired, observed, &Rules::new(|_| 0)).unwrap();
    let text = plan(&p, "f.yaml", DEFAULT_MAX_BYTES);
    assert!(text.contains("- policy: \"old\"\n+ policy: \"```\\n</details>\""), "{text}");
    // The fence is longer than any run of backticks inside it.
    assert!(text.contains("````diff"), "{text}");
}

#[test]
fn no_changes_is_one_line() {
    let desired = vec![d("bucket.images", "i", json!({"name": "i"}))];
    let observed = vec![o("bucket.images", "i", json!({"name": "i"}))];
    let p = build("shop", "r", Mode::Converge, &desired, observed, &Rules::new(|_| 0)).unwrap();
    let text = plan(&p, "stacks/shop.yaml", DEFAULT_MAX_BYTES);
    assert!(text.ends_with("**No changes.** Live AWS matches `stacks/shop.yaml` (1 resource).\n"), "{text}");
}
