//! What the load balancer family wants for the shipped stack (`stacks/bumarket.yaml`) and
//! for variants of it: the exact attributes of each resource, the references between
//! them, the listeners with and without a certificate, and the access-log statement in the
//! logs bucket's policy. Pure: building the clients makes no AWS call.

use super::{listener, load_balancer, target_group};
use crate::aws::{Aws, Options};
use crate::engine::{Addr, Desired, Kind};
use crate::resources::{Cx, Provider};
use serde_json::{json, Value};
use std::path::Path;

const STACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml");
const CERT: &str = "arn:aws:acm:ap-northeast-2:123456789012:certificate/0b2c3d4e-aaaa-bbbb-cccc-0123456789ab";

/// The shipped stack, with `edit` applied to its text.
async fn cx_with(edit: impl Fn(String) -> String) -> Cx {
    let text = edit(std::fs::read_to_string(STACK).unwrap());
    let stack = bumarket_stack::parse_env(Path::new(STACK), &text, Some("prod")).unwrap_or_else(|d| panic!("{d}"));
    let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    Cx::new(aws, stack, "123456789012".into(), None)
}

async fn cx() -> Cx {
    cx_with(|t| t).await
}

fn one(p: &dyn Provider, cx: &Cx) -> Desired {
    let mut all = p.desired(cx);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn without_tags(d: &Desired) -> Value {
    let mut a = d.attrs.clone();
    let tags = a.remove("tags").expect("tags");
    assert_eq!(tags["bumarket-infra:resource"], d.addr.as_str());
    assert_eq!(tags["bumarket-infra:stack"], "bumarket-prod");
    assert_eq!(tags["project"], "bumarket");
    serde_json::to_value(a).unwrap()
}

fn addrs(list: &[&str]) -> Vec<Addr> {
    list.iter().map(|a| Addr::parse(a).unwrap()).collect()
}

#[tokio::test]
async fn the_target_group_serves_the_app_port_with_the_files_generous_health_check() {
    let cx = cx().await;
    let d = one(&target_group::TargetGroups, &cx);
    assert_eq!(d.addr.as_str(), "target_group.app");
    assert_eq!(d.name, "bumarket-prod-app");
    assert_eq!(
        without_tags(&d),
        json!({"name": "bumarket-prod-app", "protocol": "HTTP", "port": 8000, "vpc": "vpc.main", "target_type": "instance",
               "health_check": {"path": "/health/", "interval_seconds": 30, "timeout_seconds": 10,
                                "healthy_threshold": 2, "unhealthy_threshold": 5, "matcher": "200-399"}})
    );
    assert_eq!(d.deps, addrs(&["vpc.main"]));
    let schema = target_group::TargetGroups.schema();
    assert!(["name", "port", "protocol", "vpc"].iter().all(|k| schema.forces_replacement(k)));
    assert!(!schema.forces_replacement("health_check"));
}

#[tokio::test]
async fn the_load_balancer_is_public_over_every_public_subnet_and_logs_to_the_logs_bucket() {
    let cx = cx().await;
    let d = one(&load_balancer::LoadBalancers, &cx);
    assert_eq!((d.addr.as_str(), d.name.as_str()), ("load_balancer.main", "bumarket-prod-lb"));
    assert_eq!(
        without_tags(&d),
        json!({"name": "bumarket-prod-lb", "scheme": "internet-facing",
               "subnets": ["subnet.public-0", "subnet.public-1"], "security_groups": ["security_group.lb"],
               "deletion_protection": true, "drop_invalid_header_fields": true, "idle_timeout_seconds": 60,
               "access_logs": {"enabled": true, "bucket": "bumarket-prod-logs-123456789012-ap-northeast-2", "prefix": "alb"}})
    );
    assert_eq!(
        d.deps,
        addrs(&["subnet.public-0", "subnet.public-1", "security_group.lb", "bucket.logs"]),
        "the bucket (with its policy) must exist before access logs are turned on"
    );
    let schema = load_balancer::LoadBalancers.schema();
    let forced: Vec<&str> = schema.names().filter(|a| schema.forces_replacement(a)).collect();
    assert_eq!(forced, ["name", "scheme"]);
    assert_eq!(load_balancer::url(&cx, "lb-1.example"), "http://lb-1.example/");
}

#[tokio::test]
async fn without_access_logs_the_bucket_is_no_dependency_and_has_no_delivery_statement() {
    let cx = cx_with(|t| t.replace("  access_logs: {bucket: logs, prefix: alb}\n", "")).await;
    let d = one(&load_balancer::LoadBalancers, &cx);
    assert_eq!(d.attrs["access_logs"], json!({"enabled": false}));
    assert!(!d.deps.contains(&Addr::new(Kind::Bucket, "logs")));
    let logs =
        crate::resources::bucket::Buckets.desired(&cx).into_iter().find(|b| b.addr.as_str() == "bucket.logs").unwrap();
    assert!(!logs.attrs["policy"].to_string().contains("AWSLogs"));
}

#[tokio::test]
async fn the_logs_bucket_policy_lets_the_regions_elb_account_write_under_the_prefix() {
    let cx = cx().await;
    let buckets = crate::resources::bucket::Buckets.desired(&cx);
    let logs = buckets.iter().find(|b| b.addr.as_str() == "bucket.logs").unwrap();
    let statements = logs.attrs["policy"]["Statement"].as_array().unwrap();
    let delivery = statements.iter().find(|s| s["Sid"] == "AllowLoadBalancerAccessLogs").expect("delivery statement");
    // Normalised as the bucket provider compares policies.
    assert_eq!(
        delivery,
        &json!({"Action": ["s3:PutObject"], "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::600734575887:root"]},
                "Resource": ["arn:aws:s3:::bumarket-prod-logs-123456789012-ap-northeast-2/alb/AWSLogs/123456789012/*"],
                "Sid": "AllowLoadBalancerAccessLogs"})
    );
    // The TLS-only statement stays, and the images bucket gets no delivery statement.
    assert!(statements.iter().any(|s| s["Sid"] == "DenyInsecureTransport"));
    let images = buckets.iter().find(|b| b.addr.as_str() == "bucket.images").unwrap();
    assert!(!images.attrs["policy"].to_string().contains("AWSLogs"));
}

#[tokio::test]
async fn without_a_certificate_one_http_listener_forwards_to_the_app() {
    let cx = cx().await;
    let all = listener::Listeners.desired(&cx);
    assert_eq!(all.len(), 1);
    let http = &all[0];
    assert_eq!((http.addr.as_str(), http.name.as_str()), ("listener.http", "bumarket-prod-lb:80"));
    assert_eq!(
        serde_json::to_value(&http.attrs).unwrap(),
        json!({"load_balancer": "load_balancer.main", "port": 80, "protocol": "HTTP",
               "certificate": null, "ssl_policy": null,
               "default_action": {"type": "forward", "target_group": "target_group.app"}})
    );
    assert_eq!(http.deps, addrs(&["load_balancer.main", "target_group.app"]));
}

#[tokio::test]
async fn with_a_certificate_https_forwards_and_http_redirects() {
    let cx = cx_with(|t| t.replace("  listen_port: 80\n", &format!("  certificate_arn: {CERT}\n"))).await;
    let all = listener::Listeners.desired(&cx);
    let by = |a: &str| all.iter().find(|d| d.addr.as_str() == a).unwrap_or_else(|| panic!("{a} in {all:?}"));
    assert_eq!(all.len(), 2);
    let https = by("listener.https");
    assert_eq!(https.name, "bumarket-prod-lb:443");
    assert_eq!(
        serde_json::to_value(&https.attrs).unwrap(),
        json!({"load_balancer": "load_balancer.main", "port": 443, "protocol": "HTTPS", "certificate": CERT,
               "ssl_policy": listener::SSL_POLICY,
               "default_action": {"type": "forward", "target_group": "target_group.app"}})
    );
    assert_eq!(https.deps, addrs(&["load_balancer.main", "target_group.app"]));
    let http = by("listener.http");
    assert_eq!(
        serde_json::to_value(&http.attrs).unwrap(),
        json!({"load_balancer": "load_balancer.main", "port": 80, "protocol": "HTTP",
               "certificate": null, "ssl_policy": null,
               "default_action": {"type": "redirect", "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}})
    );
    assert_eq!(http.deps, addrs(&["load_balancer.main", "listener.https"]), "a redirect references no target group");
    assert_eq!(load_balancer::url(&cx, "lb-1.example"), "https://lb-1.example/");
}

#[tokio::test]
async fn a_stack_without_a_load_balancer_wants_none_of_it() {
    let cx = cx_with(|t| {
        let start = t.find("load_balancer:\n").unwrap();
        let end = t.find("database:\n").unwrap();
        // Production's `require:` keeps the load balancer protected: with none, it goes too.
        format!("{}{}", &t[..start], &t[end..]).replace("load_balancer_deletion_protection: true, ", "")
    })
    .await;
    assert!(cx.stack.load_balancer.is_none());
    assert!(target_group::TargetGroups.desired(&cx).is_empty());
    assert!(load_balancer::LoadBalancers.desired(&cx).is_empty());
    assert!(listener::Listeners.desired(&cx).is_empty());
}

#[tokio::test]
async fn deletion_protection_refuses_the_delete_and_says_how_to_lift_it() {
    // The live one is protected (the default); the file lifts it.
    let cx = cx_with(|t| {
        t.replace("deletion_protection: true    # default: protected load balancer", "deletion_protection: false")
            .replace("load_balancer_deletion_protection: true, ", "")
    })
    .await;
    let d = one(&load_balancer::LoadBalancers, &cx);
    let mut attrs = d.attrs.clone();
    attrs.insert("deletion_protection".into(), json!(true));
    let o = crate::engine::Observed {
        addr: d.addr.clone(),
        name: d.name.clone(),
        id: "arn".into(),
        attrs,
        ownership: crate::engine::Ownership::Ours,
        outputs: Default::default(),
        deps: vec![],
    };
    let why = load_balancer::LoadBalancers.refuse_delete(&cx, &o, None).await.unwrap().expect("refused");
    assert!(why.contains("`bumarket-prod-lb` has deletion protection on"), "{why}");
    assert!(why.contains("deletion_protection: false") && why.contains("bumarket-infra apply"), "{why}");
    // A replacement the file allows (protection off in the file) goes ahead.
    assert_eq!(load_balancer::LoadBalancers.refuse_delete(&cx, &o, Some(&d)).await.unwrap(), None);
}
