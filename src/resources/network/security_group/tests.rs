//! The groups' rule sets for the BuMarket stack, exactly, and what a create changes from
//! AWS's defaults. Pure: `desired` reads only the stack file.

use super::*;
use crate::aws::{Aws, Options};
use crate::resources::Provider;
use serde_json::{json, Value};
use std::path::Path;

fn bumarket() -> Stack {
    bumarket_stack::load_env(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml")), Some("prod"))
        .unwrap()
}

async fn desired(stack: Stack) -> Vec<Desired> {
    let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    SecurityGroups.desired(&Cx::new(aws, stack, "123456789012".into(), None))
}

fn find<'a>(all: &'a [Desired], addr: &str) -> &'a Desired {
    all.iter().find(|d| d.addr.as_str() == addr).unwrap_or_else(|| panic!("no {addr}"))
}

fn rules_of(d: &Desired) -> (Value, Value) {
    (d.attrs["ingress"].clone(), d.attrs["egress"].clone())
}

#[tokio::test]
async fn the_bumarket_groups_allow_exactly_the_request_path() {
    let all = desired(bumarket()).await;
    let addrs: Vec<&str> = all.iter().map(|d| d.addr.as_str()).collect();
    assert_eq!(addrs, ["security_group.lb", "security_group.app", "security_group.db"]);

    let lb = find(&all, "security_group.lb");
    assert_eq!(lb.name, "bumarket-prod-lb");
    assert_eq!(lb.attrs["name"], "bumarket-prod-lb");
    assert_eq!(lb.attrs["vpc"], "vpc.main");
    assert_eq!(
        rules_of(lb),
        (
            json!([{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}]),
            json!([{"protocol": "tcp", "from_port": 8000, "to_port": 8000, "source_group": "security_group.app"}]),
        )
    );
    let app = find(&all, "security_group.app");
    assert_eq!(
        rules_of(app),
        (
            json!([{"protocol": "tcp", "from_port": 8000, "to_port": 8000, "source_group": "security_group.lb"}]),
            json!([{"protocol": "-1", "cidr": "0.0.0.0/0"}]),
        )
    );
    let db = find(&all, "security_group.db");
    assert_eq!(
        rules_of(db),
        (
            json!([{"protocol": "tcp", "from_port": 1521, "to_port": 1521, "source_group": "security_group.app"}]),
            json!([])
        ),
    );
    // No SSH, and nothing but the load balancer open to the internet.
    for d in &all {
        let text = d.attrs["ingress"].to_string();
        assert!(!text.contains("\"from_port\":22"), "{}: {text}", d.addr);
        assert_eq!(text.contains("0.0.0.0/0"), d.addr.as_str() == "security_group.lb", "{}: {text}", d.addr);
    }
    let tags = &lb.attrs["tags"];
    assert_eq!(tags["Name"], "bumarket-prod-lb");
    assert_eq!(tags["bumarket-infra:resource"], "security_group.lb");
    assert_eq!(tags["project"], "bumarket");
}

#[tokio::test]
async fn groups_that_name_each_other_depend_one_way_only() {
    let all = desired(bumarket()).await;
    let deps = |a: &str| find(&all, a).deps.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    // lb's egress names app and app's ingress names lb: only app waits for lb.
    assert_eq!(deps("security_group.lb"), ["vpc.main"]);
    assert_eq!(deps("security_group.app"), ["vpc.main", "security_group.lb"]);
    assert_eq!(deps("security_group.db"), ["vpc.main", "security_group.app"]);
}

#[tokio::test]
async fn https_opens_port_80_for_the_redirect_and_missing_tiers_drop_their_rules() {
    let mut stack = bumarket();
    let lb = stack.load_balancer.as_mut().unwrap();
    lb.certificate_arn = Some("arn:aws:acm:ap-northeast-2:123456789012:certificate/x".into());
    lb.listen_port = 443;
    let all = desired(stack.clone()).await;
    assert_eq!(
        find(&all, "security_group.lb").attrs["ingress"],
        json!([{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"},
               {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"}])
    );

    // Without a load balancer the app takes no traffic in; without a fleet the database
    // takes none either; without a network there are no groups at all.
    stack.load_balancer = None;
    let all = desired(stack.clone()).await;
    assert!(all.iter().all(|d| d.addr.as_str() != "security_group.lb"));
    assert_eq!(find(&all, "security_group.app").attrs["ingress"], json!([]));
    stack.fleet = None;
    let all = desired(stack.clone()).await;
    assert_eq!(all.len(), 1);
    assert_eq!(rules_of(find(&all, "security_group.db")), (json!([]), json!([])));
    stack.network = None;
    assert!(desired(stack).await.is_empty());
}

#[test]
fn a_new_group_revokes_the_aws_default_egress_unless_it_wants_it() {
    let stack = bumarket();
    let groups = wanted(&stack);
    let egress = |tier: &str| &groups.iter().find(|w| w.tier == tier).unwrap().egress;
    let (add, remove) = rules::diff(&aws_default_egress(), egress("lb"));
    assert_eq!(add, vec![Rule::tcp(8000, Peer::Group("security_group.app".into()))]);
    assert_eq!(remove, aws_default_egress());
    assert_eq!(rules::diff(&aws_default_egress(), egress("app")), (vec![], vec![]));
    assert_eq!(rules::diff(&aws_default_egress(), egress("db")), (vec![], aws_default_egress()));
}

#[test]
fn the_flow_orders_groups_and_strangers_come_last() {
    let me = group_addr("app");
    let zzz = Addr::new(Kind::SecurityGroup, "zzz");
    let peers = [group_addr("db"), group_addr("lb"), zzz.clone(), Addr::new(Kind::Vpc, "main")];
    assert_eq!(before(&me, peers.clone()), vec![group_addr("lb")]);
    assert_eq!(before(&zzz, peers), vec![group_addr("db"), group_addr("lb")]);
}

// With canned EC2 answers: what a create and a delete send, call by call.

mod calls {
    use super::*;
    use crate::apply::{Event, Progress, Reporter};
    use aws_sdk_ec2::config::Credentials;
    use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressError;
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::delete_security_group::DeleteSecurityGroupOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::revoke_security_group_egress::RevokeSecurityGroupEgressOutput;
    use aws_sdk_ec2::operation::revoke_security_group_ingress::RevokeSecurityGroupIngressOutput;
    use aws_sdk_ec2::types::{IpPermission, SecurityGroup, UserIdGroupPair};
    use aws_sdk_ec2::Client as Ec2;
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule as Mock, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    struct Quiet;
    impl Reporter for Quiet {
        fn event(&self, _: Event) {}
    }

    /// `mock_client!` needs aws-sdk-ec2's `test-util` feature; this is the same by hand.
    async fn cx(rules: &[&Mock]) -> Cx {
        let mut aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
        let mut answers = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            answers = answers.with_rule(rule);
        }
        let conf = aws
            .ec2
            .config()
            .to_builder()
            .credentials_provider(Credentials::new("test", "test", None, None, "unit test"))
            .http_client(create_mock_http_client())
            .interceptor(answers)
            .build();
        aws.ec2 = Ec2::from_conf(conf);
        let cx = Cx::new(aws, bumarket(), "123456789012".into(), None);
        cx.set_id(&vpc_addr(), "vpc-1");
        cx
    }

    fn names(p: &IpPermission, group: &str) -> bool {
        p.user_id_group_pairs().first().and_then(UserIdGroupPair::group_id) == Some(group)
    }

    #[tokio::test]
    async fn a_group_made_before_the_one_it_names_skips_that_rule_and_drops_the_default_egress() {
        let create = mock!(Ec2::create_security_group)
            .match_requests(|r| r.group_name() == Some("bumarket-prod-lb") && r.vpc_id() == Some("vpc-1"))
            .then_output(|| CreateSecurityGroupOutput::builder().group_id("sg-lb").build());
        let exists = mock!(Ec2::describe_security_groups).then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(SecurityGroup::builder().group_id("sg-lb").build())
                .build()
        });
        // Port 80 from the internet, already there (a re-run): fine.
        let http = mock!(Ec2::authorize_security_group_ingress)
            .match_requests(|r| r.ip_permissions()[0].from_port() == Some(80))
            .then_error(|| {
                AuthorizeSecurityGroupIngressError::generic(
                    ErrorMetadata::builder().code("InvalidPermission.Duplicate").message("exists").build(),
                )
            });
        let default = mock!(Ec2::revoke_security_group_egress)
            .match_requests(|r| r.ip_permissions()[0].ip_protocol() == Some("-1"))
            .then_output(|| RevokeSecurityGroupEgressOutput::builder().r#return(true).build());
        let cx = cx(&[&create, &exists, &http, &default]).await;
        let d = SecurityGroups.desired(&cx).into_iter().find(|d| d.addr.as_str() == "security_group.lb").unwrap();
        // No authorize-egress rule: the egress to the app group waits for that group.
        SecurityGroups.create(&cx, &d, &Progress::new(&d.addr, &Quiet)).await.unwrap();
        assert_eq!((create.num_calls(), http.num_calls(), default.num_calls()), (1, 1, 1));
        assert_eq!(cx.id_of(&d.addr).unwrap(), "sg-lb");
    }

    #[tokio::test]
    async fn a_delete_first_revokes_every_rule_naming_the_group() {
        // moto gap: moto deletes a group that another group's rule names; AWS refuses.
        let pair = |g: &str| UserIdGroupPair::builder().group_id(g).build();
        let tcp = |port: i32| IpPermission::builder().ip_protocol("tcp").from_port(port).to_port(port);
        let lb = SecurityGroup::builder()
            .group_id("sg-lb")
            .ip_permissions(
                tcp(80).ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build()).build(),
            )
            .ip_permissions_egress(tcp(8000).user_id_group_pairs(pair("sg-app")).build())
            .build();
        let app = SecurityGroup::builder()
            .group_id("sg-app")
            .ip_permissions(tcp(8000).user_id_group_pairs(pair("sg-lb")).build())
            .build();
        let listed = mock!(Ec2::describe_security_groups).then_output(move || {
            DescribeSecurityGroupsOutput::builder().security_groups(lb.clone()).security_groups(app.clone()).build()
        });
        let lb_egress = mock!(Ec2::revoke_security_group_egress)
            .match_requests(|r| r.group_id() == Some("sg-lb") && names(&r.ip_permissions()[0], "sg-app"))
            .then_output(|| RevokeSecurityGroupEgressOutput::builder().r#return(true).build());
        let app_ingress = mock!(Ec2::revoke_security_group_ingress)
            .match_requests(|r| r.group_id() == Some("sg-app") && names(&r.ip_permissions()[0], "sg-lb"))
            .then_output(|| RevokeSecurityGroupIngressOutput::builder().r#return(true).build());
        let delete = mock!(Ec2::delete_security_group)
            .match_requests(|r| r.group_id() == Some("sg-app"))
            .then_output(|| DeleteSecurityGroupOutput::builder().build());
        let cx = cx(&[&listed, &lb_egress, &app_ingress, &delete]).await;
        let addr = group_addr("app");
        cx.set_id(&addr, "sg-app");
        let o = Observed {
            addr: addr.clone(),
            name: "bumarket-app".into(),
            id: "sg-app".into(),
            attrs: Attrs::new(),
            ownership: crate::engine::Ownership::Ours,
            outputs: Default::default(),
            deps: vec![],
        };
        SecurityGroups.delete(&cx, &o, None, &Progress::new(&addr, &Quiet)).await.unwrap();
        // The load balancer's port-80 rule names no group: untouched (no mock matches it).
        assert_eq!((lb_egress.num_calls(), app_ingress.num_calls(), delete.num_calls()), (1, 1, 1));
        assert!(cx.known_id(&addr).is_none(), "a deleted group's id is forgotten");
    }
}
