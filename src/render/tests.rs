//! Snapshot tests of the human plan: what a reviewer reads in a pull request.

use super::*;
use crate::engine::{Addr, Attrs, Desired, Observed, Ownership};
use crate::plan::{build, KindRules, Mode};
use serde_json::json;

struct Rules;
impl KindRules for Rules {
    fn force_new(&self, _: &Addr) -> &'static [&'static str] {
        &["name"]
    }
    fn layer(&self, addr: &Addr) -> u8 {
        u8::from(addr.kind() == "role")
    }
}

fn d(addr: &str, name: &str, attrs: serde_json::Value) -> Desired {
    let attrs: Attrs = serde_json::from_value(attrs).unwrap();
    Desired { addr: Addr(addr.into()), name: name.into(), attrs, deps: vec![] }
}

fn o(addr: &str, name: &str, attrs: serde_json::Value) -> Observed {
    let attrs: Attrs = serde_json::from_value(attrs).unwrap();
    Observed {
        addr: Addr(addr.into()),
        name: name.into(),
        id: name.into(),
        attrs,
        ownership: Ownership::Ours,
        outputs: Default::default(),
        deps: vec![],
    }
}

#[test]
fn plan_with_every_action() {
    let desired = vec![
        d("bucket.images", "bumarket-images", json!({"name": "bumarket-images"})),
        d(
            "bucket.logs",
            "bumarket-logs",
            json!({"name": "bumarket-logs",
            "lifecycle": [{"id": "expire", "expire_after_days": 180}], "versioning": true}),
        ),
        d("bucket.media", "bumarket-media-2", json!({"name": "bumarket-media-2"})),
    ];
    let observed = vec![
        o(
            "bucket.logs",
            "bumarket-logs",
            json!({"name": "bumarket-logs",
            "lifecycle": [{"id": "expire", "expire_after_days": 30}], "versioning": false}),
        ),
        o("bucket.media", "bumarket-media", json!({"name": "bumarket-media"})),
        o("role.legacy", "bumarket-legacy", json!({"name": "bumarket-legacy"})),
    ];
    let p = build("bumarket", "ap-northeast-2", Mode::Converge, &desired, observed, &Rules).unwrap();
    insta::assert_snapshot!(plan(&p, "stacks/bumarket.yaml", Style { color: false }));
}

#[test]
fn no_changes_says_so() {
    let desired = vec![d("bucket.images", "i", json!({"name": "i"}))];
    let observed = vec![o("bucket.images", "i", json!({"name": "i", "region": "x"}))];
    let p = build("s", "r", Mode::Converge, &desired, observed, &Rules).unwrap();
    assert_eq!(
        plan(&p, "stacks/bumarket.yaml", Style { color: false }),
        "No changes. Live AWS matches stacks/bumarket.yaml (1 resource).\n"
    );
}

#[test]
fn leaf_diff_paths() {
    let mut out = vec![];
    diff(
        "policy",
        Some(&json!({"Statement": [{"Action": ["a"]}]})),
        Some(&json!({"Statement": [{"Action": ["b"]}]})),
        &mut out,
    );
    assert_eq!(out, vec![("policy.Statement[0].Action[0]".to_string(), Some(json!("a")), Some(json!("b")))]);
}
