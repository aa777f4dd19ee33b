//! Every kind's schema against what its provider does: `desired` produces exactly the
//! schema's attributes, every kind has its provider, and every attribute the schema
//! says changes in place is one the provider's `update` handles (so a plan never shows
//! `~` for a change that apply then refuses). What `read` produces is held to the same
//! keys by the end-to-end suite (`tests/e2e/schema.rs`), against the emulator.

use super::*;
use crate::aws::Options;
use crate::engine::{Attrs, OnChange, Ownership};
use std::collections::BTreeSet;
use std::path::Path;

async fn seed_cx(edit: impl Fn(String) -> String) -> Cx {
    let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
    let text = edit(std::fs::read_to_string(file).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("bumarket.yaml");
    std::fs::write(&copy, text).unwrap();
    std::fs::copy(file.with_file_name("bumarket-app.sh"), dir.path().join("bumarket-app.sh")).unwrap();
    let stack = bumarket_stack::load_env(&copy, Some("prod")).unwrap_or_else(|d| panic!("{d}"));
    // Nothing answers here: a call fails at once, and is not retried.
    let opts = Options {
        region: "ap-northeast-2".into(),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        max_attempts: Some(1),
        ..Default::default()
    };
    Cx::new(Aws::connect(&opts).await, stack, "123456789012".into(), Some("ami-1".into()))
}

/// The seed stack, its HTTPS variant (a listener with a certificate) and with a domain in
/// an existing zone and in its own.
async fn stacks() -> Vec<Cx> {
    let https = |t: String| {
        t.replace(
            "  listen_port: 80\n",
            "  listen_port: 443\n  certificate_arn: arn:aws:acm:ap-northeast-2:123456789012:certificate/abc\n",
        )
    };
    // A domain: the certificate it requests and its alias record.
    let domain = |t: String| {
        format!("{t}\nexisting:\n  hosted_zone: {{name: example.com}}\ndomain: {{name: shop.example.com, zone: existing}}\n")
            .replace("  listen_port: 80\n", "")
    };
    // A domain in the stack's own zone.
    let owned = |t: String| {
        format!("{t}\ndomain: {{name: shop.example.com, zone: {{name: example.com}}}}\n")
            .replace("  listen_port: 80\n", "")
    };
    vec![seed_cx(|t| t).await, seed_cx(https).await, seed_cx(domain).await, seed_cx(owned).await]
}

fn keys(a: &Attrs) -> BTreeSet<&str> {
    a.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn every_kind_has_its_provider_and_desired_has_exactly_the_schema_keys() {
    let mut seen = BTreeSet::new();
    for cx in stacks().await {
        for &kind in Kind::ALL {
            let p = provider(kind);
            assert_eq!(p.schema().kind, kind, "the registry gives `{kind}` another kind's provider");
            for d in p.desired(&cx) {
                assert_eq!(d.addr.kind(), kind, "`{}` made by the `{kind}` provider", d.addr);
                let schema: BTreeSet<&str> = p.schema().names().collect();
                assert_eq!(keys(&d.attrs), schema, "`{}`: desired keys differ from its schema", d.addr);
                seen.insert(kind);
            }
        }
    }
    let missing: Vec<&Kind> = Kind::ALL.iter().filter(|k| !seen.contains(k)).collect();
    assert!(missing.is_empty(), "the seed stack makes no {missing:?}: test them another way");
}

struct Quiet;
impl crate::apply::Reporter for Quiet {
    fn event(&self, _: crate::apply::events::Event) {}
}

/// An update of one attribute reaches AWS (and fails there: nothing answers), or stops
/// before any call as "cannot be changed in place". Every attribute the schema calls
/// updatable must do the former.
#[tokio::test]
async fn every_attribute_the_schema_updates_in_place_is_one_update_handles() {
    for cx in stacks().await {
        let desired = super::desired(&cx);
        for d in &desired {
            cx.set_id(&d.addr, format!("id-of-{}", d.addr));
        }
        for d in &desired {
            let schema = provider(d.addr.kind()).schema();
            for spec in schema.attrs.iter().filter(|a| a.on_change == OnChange::Update) {
                let o = Observed {
                    addr: d.addr.clone(),
                    name: d.name.clone(),
                    id: format!("id-of-{}", d.addr),
                    attrs: d.attrs.clone(),
                    ownership: Ownership::Ours,
                    outputs: Default::default(),
                    deps: vec![],
                };
                let change = AttrChange {
                    name: spec.name.to_string(),
                    before: Some(serde_json::json!("before")),
                    after: d.attrs.get(spec.name).cloned(),
                    forces_replacement: false,
                    sensitive: spec.sensitive,
                    drift: false,
                };
                let progress = Progress::new(&d.addr, &Quiet);
                let result = provider(d.addr.kind()).update(&cx, d, &o, &[change], &progress).await;
                if let Err(e) = result {
                    assert!(
                        !e.is_not_in_place(),
                        "`{}`: its schema says `{}` changes in place, but update refuses: {e}",
                        d.addr,
                        spec.name
                    );
                }
            }
        }
    }
}
