//! Snapshot tests of the human plan: what a reviewer reads in a pull request.

use super::*;
use crate::engine::{Attrs, Desired, Kind, Observed, Ownership};
use crate::plan::{build, Mode};
use crate::testing::{addr as a, Rules};
use serde_json::json;

fn rules() -> Rules {
    Rules::new(|k| u8::from(k == Kind::Role))
}

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
    let p = build("bumarket", "ap-northeast-2", Mode::Converge, &desired, observed, &rules()).unwrap();
    insta::assert_snapshot!(plan(&p, "stacks/bumarket.yaml", Style { color: false }));
}

#[test]
fn no_changes_says_so() {
    let desired = vec![d("bucket.images", "i", json!({"name": "i"}))];
    let observed = vec![o("bucket.images", "i", json!({"name": "i", "region": "x"}))];
    let p = build("s", "r", Mode::Converge, &desired, observed, &rules()).unwrap();
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

/// The stack of `plan_with_drift`: the logs bucket as the file wants it now (stamped as
/// the registry does), and as AWS has it after an apply of `applied` and then changes.
fn drift_plan() -> Plan {
    let file = |days: i64, versioning: bool| {
        let mut attrs: Attrs = serde_json::from_value(json!({"name": "bumarket-logs",
            "lifecycle": [{"id": "expire", "expire_after_days": days}], "versioning": versioning,
            "tags": {"bumarket-infra:stack": "bumarket", "team": "web"}}))
        .unwrap();
        crate::plan::drift::stamp(&mut attrs);
        attrs
    };
    let desired_of =
        |addr: &str, name: &str, attrs: Attrs| Desired { addr: a(addr), name: name.into(), attrs, deps: vec![] };
    let observed_of = |addr: &str, name: &str, attrs: Attrs| Observed {
        addr: a(addr),
        name: name.into(),
        id: name.into(),
        attrs,
        ownership: Ownership::Ours,
        outputs: Default::default(),
        deps: vec![],
    };
    // logs: applied with 180 days; someone set 30 in the console. The file is unchanged.
    let mut logs_live = file(180, true);
    logs_live.insert("lifecycle".into(), json!([{"id": "expire", "expire_after_days": 30}]));
    // media: applied with versioning on; then the file turned it off, and someone set the
    // lifecycle to 30 days in the console.
    let mut media_live = file(180, true);
    media_live.insert("lifecycle".into(), json!([{"id": "expire", "expire_after_days": 30}]));
    // images: applied by a version without drift detection (no record).
    let mut images_live = file(180, true);
    images_live.get_mut("tags").unwrap().as_object_mut().unwrap().remove(crate::plan::drift::TAG_APPLIED);
    let desired = vec![
        desired_of("bucket.logs", "bumarket-logs", file(180, true)),
        desired_of("bucket.media", "bumarket-media", file(180, false)),
        desired_of("bucket.images", "bumarket-images", file(180, true)),
    ];
    let observed = vec![
        observed_of("bucket.logs", "bumarket-logs", logs_live),
        observed_of("bucket.media", "bumarket-media", media_live),
        observed_of("bucket.images", "bumarket-images", images_live),
    ];
    build("bumarket", "ap-northeast-2", Mode::Converge, &desired, observed, &rules()).unwrap()
}

#[test]
fn plan_with_drift() {
    insta::assert_snapshot!(plan(&drift_plan(), "stacks/bumarket.yaml", Style { color: false }));
}

#[test]
fn json_marks_drift_and_never_shows_the_record() {
    let doc = crate::render::json::plan(&drift_plan());
    let by_addr = |a: &str| doc["resources"].as_array().unwrap().iter().find(|r| r["address"] == a).unwrap().clone();
    let logs = by_addr("bucket.logs");
    assert_eq!(logs["action"], "update");
    assert_eq!(logs["changes"].as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs["changes"][0]["attribute"], "lifecycle");
    assert_eq!(logs["changes"][0]["drift"], true);
    let media = by_addr("bucket.media");
    let marks: Vec<(String, bool)> = media["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["attribute"].as_str().unwrap().to_string(), c["drift"].as_bool().unwrap()))
        .collect();
    assert_eq!(marks, [("lifecycle".to_string(), true), ("versioning".to_string(), false)]);
    // Only the record is missing: an update with no change line, and words saying why.
    let images = by_addr("bucket.images");
    assert_eq!(images["action"], "update");
    assert_eq!(images["changes"], json!([]));
    assert_eq!(images["notes"], json!([crate::plan::build::RECORD_ONLY]));
    assert!(!doc.to_string().contains("bumarket-infra:applied"), "{doc}");
}

#[test]
fn an_adoption_reads_as_one_with_its_live_id_and_is_counted_first() {
    let desired = vec![
        d("vpc.main", "shop", json!({"tags": {"Name": "shop", "bumarket-infra:stack": "shop"}})),
        d("bucket.images", "shop-images", json!({"name": "shop-images", "versioning": true})),
    ];
    let mut vpc = o("vpc.main", "shop-vpc", json!({"tags": {"Name": "shop"}}));
    vpc.id = "vpc-0abc".into();
    vpc.ownership = Ownership::Unowned("the vpc exists without the tag".into());
    let mut bucket = o("bucket.images", "shop-images", json!({"name": "shop-images", "versioning": false}));
    bucket.ownership = Ownership::Unowned("the bucket exists without the tag".into());
    let mut r = rules();
    r.adopt = vec![a("vpc.main"), a("bucket.images")];
    let p = build("shop", "ap-northeast-2", Mode::Converge, &desired, vec![vpc, bucket], &r).unwrap();
    let text = plan(&p, "stacks/shop.yaml", Style { color: false });
    assert!(
        text.contains(
            " <= vpc.main              shop   (adopted vpc-0abc: made outside bumarket-infra, kept as it runs)"
        ),
        "{text}"
    );
    // A bucket's id is its name: not said twice.
    assert!(text.contains(" <= bucket.images         shop-images   (adopted: made outside"), "{text}");
    assert!(text.contains("~ versioning   false -> true"), "{text}");
    assert!(text.ends_with("Plan: 2 to adopt, 0 to add, 0 to change, 0 to destroy.\n"), "{text}");
}
