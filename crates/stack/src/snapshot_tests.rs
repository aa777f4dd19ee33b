//! Snapshot tests of what a person sees when a stack file is wrong.
//!
//! Each test feeds a broken file to [`parse`] and snapshots the rendered [`Diagnostics`]:
//! every problem at once, in file order, each underlined where it is written. The
//! snapshots live in `src/snapshots/`; review them as text whenever a message changes.

use crate::parse;
use std::path::Path;

fn render(text: &str) -> String {
    match parse(Path::new("stacks/bad.yaml"), text) {
        Ok(_) => panic!("the file was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn many_problems_at_once() {
    let text = r#"stack: shop
region: ap-northeast-2
network:
  cidr: 10.0.0.0/15
  availability_zones: [ap-northeast-2a, ap-northeast-2c]
  public_subnets: [10.0.0.0/24, 10.0.1.0/24]
  private_subnets: [10.0.10.0/24, 10.0.11.1/24]
fleet:
  instance_type: t3.micro
  app_port: "8000"
  min_size: 3
  max_size: 2
  instance_role: ap
database:
  engine: oracle-ee
  engine_version: "12.1.0.2"
  instance_class: db.t3.small
  password: hunter2
  backups:
    retension_days: 7
    retention_days: 40
buckets:
  images:
    name: "{stack}_Images"
  logs: {}
access:
  roles:
    app:
      assumed_by: ec2.amazonaws.com
      instance_profile: true
      grants:
        - {bucket: image, access: read-write}
"#;
    insta::assert_snapshot!(render(text));
}

#[test]
fn yaml_syntax_error_is_the_only_problem() {
    insta::assert_snapshot!(render("stack: shop\nregion: [ap-northeast-2\nfleet: {}\n"));
}

#[test]
fn structure_problems() {
    let text = "region: ap-northeast-2
tags: {team: shop, \"aws:owner\": me}
defaults: &d {versioning: true}
buckets:
  images:
    <<: *d
    versioning: true
    versioning: false
  Logs:
    public_access: false
    require_tls: {enabled: false}
    lifecycle:
      - {id: expire, prefix: /logs}
---
stack: second
";
    insta::assert_snapshot!(render(text));
}

#[test]
fn cross_section_problems() {
    let text = "stack: shop
region: ap-northeast-2
network:
  cidr: 10.0.0.0/16
  availability_zones: [ap-northeast-2a, us-east-1b]
  public_subnets: [10.0.0.0/24, 10.0.0.128/25]
load_balancer:
  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc-123
  health_check: {interval_seconds: 10, timeout_seconds: 10}
database:
  engine: oracle-ee
  engine_version: 19
  license_model: license-included
  instance_class: db.t3.micro
  admin_user: Admin
  backups: {window: \"18:15-18:45\"}
  storage: {encrypted: false}
monitoring:
  emails: [team-at-shop]
  log_retention_days: 200
  database_logs_to_bucket: {bucket: logs}
cloud9:
  subnet: 2
  members_group: developers
";
    insta::assert_snapshot!(render(text));
}
