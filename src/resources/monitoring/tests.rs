//! Desired attributes of the monitoring family for `stacks/bumarket.yaml`, checked
//! offline (no AWS call is made), and the mapping of live values back to addresses.

use super::{alarm::Alarms, dashboard, log_group::LogGroups, subscription::Subscriptions, topic::Topics, unresolve};
use crate::aws::{Aws, Options};
use crate::engine::{Addr, Desired, Kind};
use crate::resources::{Cx, Provider, TAG_RESOURCE};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

async fn cx() -> Cx {
    let stack =
        bumarket_stack::load_env(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml")), Some("prod"))
            .unwrap();
    let aws = Aws::connect(&Options { region: "ap-northeast-2".into(), ..Default::default() }).await;
    Cx::new(aws, stack, "123456789012".into(), None)
}

fn find<'a>(all: &'a [Desired], addr: &str) -> &'a Desired {
    all.iter().find(|d| d.addr.as_str() == addr).unwrap_or_else(|| panic!("no {addr} in {all:?}"))
}

#[tokio::test]
async fn alarms_watch_what_the_file_has_and_notify_the_topic() {
    let cx = cx().await;
    let all = Alarms.desired(&cx);
    let names: Vec<&str> = all.iter().map(|d| d.addr.as_str()).collect();
    assert_eq!(
        names,
        [
            "alarm.fleet-cpu",
            "alarm.unhealthy-hosts",
            "alarm.http-5xx",
            "alarm.database-cpu",
            "alarm.database-free-storage"
        ]
    );
    let cpu = find(&all, "alarm.fleet-cpu");
    assert_eq!(cpu.name, "bumarket-prod-fleet-cpu");
    assert_eq!(cpu.attrs["threshold"], json!(60.0));
    assert_eq!(cpu.attrs["alarm_actions"], json!(["topic.alerts"]));
    assert_eq!(cpu.attrs["dimensions"], json!({"AutoScalingGroupName": "bumarket-prod-app"}));
    assert_eq!((cpu.attrs["period_seconds"].clone(), cpu.attrs["evaluation_periods"].clone()), (json!(300), json!(2)));
    assert_eq!(cpu.attrs["comparison"], "GreaterThanThreshold");
    let hosts = find(&all, "alarm.unhealthy-hosts");
    assert_eq!(
        hosts.attrs["dimensions"],
        json!({"TargetGroup": "target_group.app", "LoadBalancer": "load_balancer.main"})
    );
    assert!(
        hosts.deps.contains(&Addr::new(Kind::TargetGroup, "app"))
            && hosts.deps.contains(&Addr::new(Kind::Topic, "alerts"))
    );
    assert_eq!(find(&all, "alarm.http-5xx").attrs["treat_missing_data"], "notBreaching");
    let storage = find(&all, "alarm.database-free-storage");
    assert_eq!(storage.attrs["threshold"], json!(2048.0 * 1024.0 * 1024.0));
    assert_eq!(storage.attrs["comparison"], "LessThanThreshold");
    assert_eq!(storage.attrs["statistic"], "Minimum");
}

#[tokio::test]
async fn topic_subscriptions_and_log_groups() {
    let cx = cx().await;
    assert_eq!(Topics.desired(&cx)[0].name, "bumarket-prod-alerts");
    let subs = Subscriptions.desired(&cx);
    assert_eq!(subs.len(), 1);
    assert_eq!((subs[0].addr.as_str(), subs[0].name.as_str()), ("subscription.0", "team@bumarket.example"));
    let groups = LogGroups.desired(&cx);
    let app = find(&groups, "log_group.app");
    assert_eq!(app.name, "/bumarket-infra/bumarket-prod/app");
    assert_eq!(app.attrs["retention_days"], json!(180));
    assert_eq!(app.attrs["tags"][TAG_RESOURCE], "log_group.app");
    let db = &cx.stack.database.as_ref().unwrap().log_exports;
    assert_eq!(groups.len(), 1 + db.len());
    for t in db {
        let g = find(&groups, &format!("log_group.database-{t}"));
        assert!(g.name.starts_with("/aws/rds/instance/") && g.name.ends_with(&format!("/{t}")), "{}", g.name);
        assert_eq!(g.attrs["retention_days"], json!(180));
    }
}

#[tokio::test]
async fn dashboard_has_a_graph_per_section_and_compares_by_meaning() {
    let cx = cx().await;
    let d = &dashboard::Dashboards.desired(&cx)[0];
    assert_eq!(d.name, "bumarket-prod");
    let widgets = d.attrs["body"]["widgets"].as_array().unwrap();
    let titles: Vec<&str> = widgets.iter().map(|w| w["properties"]["title"].as_str().unwrap()).collect();
    for t in ["Fleet CPU (%)", "Fleet network (bytes)", "Requests", "Healthy hosts", "Database free storage (bytes)"] {
        assert!(titles.contains(&t), "{titles:?}");
    }
    let metrics: Vec<&Value> = widgets.iter().flat_map(|w| w["properties"]["metrics"].as_array().unwrap()).collect();
    assert!(metrics.contains(&&json!(["AWS/EC2", "NetworkOut", "AutoScalingGroupName", "bumarket-prod-app"])));
    assert!(metrics.contains(&&json!(["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "load_balancer.main"])));
    assert!(d.deps.contains(&Addr::new(Kind::LoadBalancer, "main")));
    // What AWS hands back: other key order and whitespace, the live ARN suffix.
    let arn =
        "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:loadbalancer/app/bumarket-prod-lb/50dc6c495c0c9188";
    cx.set_id(&Addr::new(Kind::LoadBalancer, "main"), arn);
    let topic = "arn:aws:sns:ap-northeast-2:123456789012:bumarket-prod-alerts";
    cx.set_id(&Addr::new(Kind::Topic, "alerts"), topic);
    let actions = super::resolve(&cx, &find(&Alarms.desired(&cx), "alarm.fleet-cpu").attrs["alarm_actions"]).unwrap();
    assert_eq!(actions, json!([topic]), "the topic's whole ARN");
    let sent = super::resolve(&cx, &d.attrs["body"]).unwrap();
    assert!(sent.to_string().contains("\"app/bumarket-prod-lb/50dc6c495c0c9188\""));
    let text = serde_json::to_string_pretty(&sent).unwrap().replace("\"widgets\"", "\n  \"widgets\"");
    let mut back: Value = serde_json::from_str(&text).unwrap();
    if let Some(w) = back["widgets"][0].as_object_mut() {
        let props = w.shift_remove("properties").unwrap();
        w.insert("properties".into(), props);
    }
    let lb = Addr::new(Kind::LoadBalancer, "main");
    let known = BTreeMap::from([(arn.to_string(), lb.clone()), (super::arn_suffix(arn).to_string(), lb)]);
    assert_eq!(unresolve(&known, &back), d.attrs["body"]);
    assert_ne!(unresolve(&BTreeMap::new(), &back), d.attrs["body"]);
}

/// Canned CloudWatch and tagging answers: moto 5.2.5 does not speak the rpc-v2-cbor
/// protocol the SDK uses for CloudWatch, so the alarm and dashboard reads are tested here.
mod canned {
    use super::*;
    use crate::resources::Live;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::operation::get_dashboard::{GetDashboardError, GetDashboardOutput};
    use aws_sdk_cloudwatch::types::error::DashboardNotFoundError;
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic};
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
    use aws_smithy_mocks::{mock, Rule};

    use crate::resources::testing::mocked;

    const TOPIC: &str = "arn:aws:sns:ap-northeast-2:123456789012:bumarket-prod-alerts";
    const TG: &str =
        "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/bumarket-app/73e2d6bc24d8a067";
    const LB: &str =
        "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:loadbalancer/app/bumarket-prod-lb/50dc6c495c0c9188";
    const ALARM: &str = "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:bumarket-prod-unhealthy-hosts";

    /// The load balancer and target group as ELB answers for them (with their own tags),
    /// the alarm's tags as CloudWatch answers, and a tagging index that lists nothing:
    /// it lags behind new tags, so nothing may rest on it.
    async fn setup(cw: &[&Rule]) -> (Cx, Live) {
        use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput;
        use aws_sdk_elasticloadbalancingv2::operation::{
            describe_load_balancers::DescribeLoadBalancersOutput, describe_tags::DescribeTagsOutput,
            describe_target_groups::DescribeTargetGroupsOutput,
        };
        use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, TagDescription, TargetGroup};
        let mut cx = cx().await;
        let index = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
            .then_output(|| GetResourcesOutput::builder().build());
        cx.aws.tagging = mocked!(aws_sdk_resourcegroupstagging, &[&index]);
        let elb_tags = |arn: &str, addr: &str| {
            let tags = cx.tags(&Addr::parse(addr).unwrap());
            let tags =
                tags.iter().map(|(k, v)| aws_sdk_elasticloadbalancingv2::types::Tag::builder().key(k).value(v).build());
            TagDescription::builder().resource_arn(arn).set_tags(Some(tags.collect())).build()
        };
        let descriptions = vec![elb_tags(LB, "load_balancer.main"), elb_tags(TG, "target_group.app")];
        let lbs = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_load_balancers).then_output(|| {
            let lb = LoadBalancer::builder().load_balancer_arn(LB).load_balancer_name("bumarket-prod-lb").build();
            DescribeLoadBalancersOutput::builder().load_balancers(lb).build()
        });
        let tgs = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups).then_output(|| {
            let tg = TargetGroup::builder().target_group_arn(TG).target_group_name("bumarket-prod-app").build();
            DescribeTargetGroupsOutput::builder().target_groups(tg).build()
        });
        let tags = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_tags).then_output(move || {
            DescribeTagsOutput::builder().set_tag_descriptions(Some(descriptions.clone())).build()
        });
        cx.aws.elb = mocked!(aws_sdk_elasticloadbalancingv2, &[&lbs, &tgs, &tags]);
        let alarm_tags: Vec<aws_sdk_cloudwatch::types::Tag> = cx
            .tags(&Addr::new(Kind::Alarm, "unhealthy-hosts"))
            .into_iter()
            .map(|(k, v)| aws_sdk_cloudwatch::types::Tag::builder().key(k).value(v).build())
            .collect();
        let tagged = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(ALARM))
            .then_output(move || ListTagsForResourceOutput::builder().set_tags(Some(alarm_tags.clone())).build());
        let untagged = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
            .then_output(|| ListTagsForResourceOutput::builder().build());
        let mut rules: Vec<&Rule> = cw.to_vec();
        rules.extend([&tagged, &untagged]);
        cx.aws.cloudwatch = mocked!(aws_sdk_cloudwatch, rules);
        let live = Live::new(cx.aws.clone(), &cx.stack);
        (cx, live)
    }

    fn unhealthy(name: &str, threshold: f64) -> MetricAlarm {
        let dim = |k: &str, v: &str| Dimension::builder().name(k).value(v).build();
        MetricAlarm::builder()
            .alarm_name(name)
            .alarm_arn(format!("arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{name}"))
            .namespace("AWS/ApplicationELB")
            .metric_name("UnHealthyHostCount")
            .statistic(Statistic::Maximum)
            .dimensions(dim("LoadBalancer", "app/bumarket-prod-lb/50dc6c495c0c9188"))
            .dimensions(dim("TargetGroup", "targetgroup/bumarket-app/73e2d6bc24d8a067"))
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .threshold(threshold)
            .period(300)
            .evaluation_periods(2)
            .datapoints_to_alarm(2)
            .treat_missing_data("missing")
            .alarm_actions(TOPIC)
            .build()
    }

    #[tokio::test]
    async fn live_alarms_map_back_to_addresses_and_untagged_ones_are_foreign_or_ignored() {
        let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(unhealthy("bumarket-prod-unhealthy-hosts", 1.0))
                .metric_alarms(unhealthy("bumarket-prod-http-5xx", 10.0))
                .metric_alarms(unhealthy("bumarket-prod-other-team", 3.0))
                .build()
        });
        let (cx, live) = setup(&[&alarms]).await;
        let desired = Alarms.desired(&cx);
        let wanted: Vec<&Desired> = desired.iter().collect();
        let read = Alarms.read(&cx, &live, &wanted).await.unwrap();
        assert_eq!(read.len(), 2, "the untagged alarm the file does not want is left out: {read:?}");
        let ours = read.iter().find(|o| o.addr.as_str() == "alarm.unhealthy-hosts").unwrap();
        assert!(ours.is_ours());
        let want = find(&desired, "alarm.unhealthy-hosts");
        for (k, v) in &want.attrs {
            assert_eq!(ours.attrs.get(k), Some(v), "attribute {k}");
        }
        let foreign = read.iter().find(|o| o.name == "bumarket-prod-http-5xx").unwrap();
        assert!(!foreign.is_ours(), "untagged with a wanted name: someone else's");
    }

    #[tokio::test]
    async fn a_neighbour_stacks_alarms_under_the_same_prefix_cost_no_tag_read() {
        use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput;
        // `bumarket-prod-dbg` is another stack; its alarms share the prefix `bumarket-prod-`.
        let neighbours =
            ["bumarket-prod-dbg-unhealthy-hosts", "bumarket-prod-dbg-http-5xx", "bumarket-prod-dbg-cpu-high"];
        let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(move || {
            let mut out =
                DescribeAlarmsOutput::builder().metric_alarms(unhealthy("bumarket-prod-unhealthy-hosts", 1.0));
            for n in neighbours {
                out = out.metric_alarms(unhealthy(n, 1.0));
            }
            out.build()
        });
        let theirs = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn().is_some_and(|a| a.contains(":alarm:bumarket-prod-dbg-")))
            .then_output(|| ListTagsForResourceOutput::builder().build());
        let (cx, live) = setup(&[&alarms, &theirs]).await;
        let desired = Alarms.desired(&cx);
        let wanted: Vec<&Desired> = desired.iter().collect();
        let read = Alarms.read(&cx, &live, &wanted).await.unwrap();
        assert!(read.iter().any(|o| o.addr.as_str() == "alarm.unhealthy-hosts" && o.is_ours()));
        assert!(read.iter().all(|o| !o.name.starts_with("bumarket-prod-dbg-")), "{read:?}");
        assert_eq!(theirs.num_calls(), 0, "a neighbour's alarms are not read: the read does not grow with the account");
    }

    #[tokio::test]
    async fn a_missing_dashboard_is_absent_and_a_live_one_compares_by_meaning() {
        let missing = mock!(aws_sdk_cloudwatch::Client::get_dashboard).then_error(|| {
            GetDashboardError::DashboardNotFoundError(DashboardNotFoundError::builder().message("no").build())
        });
        let (cx, live) = setup(&[&missing]).await;
        assert!(dashboard::Dashboards.read(&cx, &live, &[]).await.unwrap().is_empty());

        let (cx, _) = setup(&[]).await;
        cx.set_id(&Addr::new(Kind::LoadBalancer, "main"), LB);
        let want = dashboard::Dashboards.desired(&cx).remove(0);
        let text = serde_json::to_string_pretty(&super::super::resolve(&cx, &want.attrs["body"]).unwrap()).unwrap();
        let found = mock!(aws_sdk_cloudwatch::Client::get_dashboard).then_output(move || {
            GetDashboardOutput::builder().dashboard_name("bumarket-prod").dashboard_body(&text).build()
        });
        let (cx, live) = setup(&[&found]).await;
        let read = dashboard::Dashboards.read(&cx, &live, &[&want]).await.unwrap();
        assert_eq!(read[0].attrs["body"], want.attrs["body"]);
        assert!(read[0].is_ours());
    }
}
