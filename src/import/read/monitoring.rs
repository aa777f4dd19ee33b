//! What `import` reads of monitoring: SNS topics and their subscriptions, CloudWatch
//! alarms and dashboards, and the log groups RDS made for the database's exports. Wave
//! one lists (one paged listing of each, narrowed by the prefix where the API takes one);
//! wave two reads, side by side, only what concerns the chosen resources: the tags and
//! subscriptions of the topics the prefix names or the alarms notify, the tags of the
//! alarms that watch the chosen group, load balancer or database, and the tags of that
//! database's log groups.

use super::{owned, wanted_name, Options};
use crate::apply::StepError;
use crate::aws::{call_error, Aws};
use crate::resources::monitoring::{alarm, log_group, topic};
use crate::resources::Cx;
use aws_sdk_cloudwatch::types::MetricAlarm;
use futures::future::try_join_all;
use std::collections::BTreeMap;

/// A topic no stack owns, with whom it mails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topic {
    pub name: String,
    pub arn: String,
    /// Endpoints of its `email` subscriptions (confirmed or waiting for the click).
    pub emails: Vec<String>,
    /// `protocol endpoint` of every other subscription (SMS, HTTPS, Lambda…).
    pub others: Vec<String>,
}

/// An alarm no stack owns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
    pub threshold: f64,
    /// ARNs it notifies when it goes into ALARM.
    pub actions: Vec<String>,
}

/// A log group no stack owns, with its retention (`None`: never expire).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogGroup {
    pub name: String,
    pub retention_days: Option<i32>,
}

/// Wave one: the listings.
pub struct Lists {
    topics: Vec<String>,
    alarms: Vec<MetricAlarm>,
    dashboards: Vec<String>,
    /// Log groups under `/aws/rds/instance/`: (name, retention).
    rds_groups: Vec<(String, Option<i32>)>,
    /// The first page of the other log groups (for the file's comments).
    other_groups: Vec<String>,
}

pub const RDS_GROUPS: &str = "/aws/rds/instance/";

pub async fn lists(aws: &Aws, o: &Options) -> Result<Lists, StepError> {
    let topics = async {
        pages!(aws.sns.list_topics(), "sns:ListTopics", |p| p
            .topics
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| t.topic_arn))
    };
    let alarms = async {
        let mut req = aws.cloudwatch.describe_alarms().max_records(100);
        if let Some(p) = &o.prefix {
            req = req.alarm_name_prefix(p);
        }
        pages!(req, "cloudwatch:DescribeAlarms", |p| p.metric_alarms.unwrap_or_default())
    };
    // The stack's own dashboard is named as the stack: listed too, for the prefix's
    // usual shape (`shop-` for the stack `shop`).
    let dashboards = async {
        let mut req = aws.cloudwatch.list_dashboards();
        if let Some(p) = &o.prefix {
            req = req.dashboard_name_prefix(if p.starts_with(&o.stack) { &o.stack } else { p });
        }
        pages!(req, "cloudwatch:ListDashboards", |p| p
            .dashboard_entries
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| d.dashboard_name))
    };
    let rds_groups = async {
        pages!(aws.logs.describe_log_groups().log_group_name_prefix(RDS_GROUPS), "logs:DescribeLogGroups", |p| p
            .log_groups
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| Some((g.log_group_name?, g.retention_in_days))))
    };
    let other_groups = async {
        let out = aws
            .logs
            .describe_log_groups()
            .limit(50)
            .send()
            .await
            .map_err(|e| call_error("logs:DescribeLogGroups", e))?;
        Ok::<_, StepError>(out.log_groups.unwrap_or_default().into_iter().filter_map(|g| g.log_group_name).collect())
    };
    let (topics, alarms, dashboards, rds_groups, other_groups) =
        tokio::join!(topics, alarms, dashboards, rds_groups, other_groups);
    Ok(Lists {
        topics: topics?,
        alarms: alarms?,
        dashboards: dashboards?,
        rds_groups: rds_groups?,
        other_groups: other_groups?,
    })
}

/// What the chosen resources are known by in an alarm's dimensions: the group's name,
/// the load balancers' and the target group's ARN suffixes, the databases' identifiers.
#[derive(Debug, Default)]
pub struct Refs {
    pub values: Vec<String>,
    pub databases: Vec<String>,
}

/// What wave two found: the topics, alarms, dashboards and the database's log groups no
/// stack owns, and lines for the file's comments.
#[derive(Debug, Clone, Default)]
pub struct Monitoring {
    pub topics: Vec<Topic>,
    pub alarms: Vec<Alarm>,
    pub dashboards: Vec<String>,
    pub log_groups: Vec<LogGroup>,
    pub left_out: Vec<String>,
}

fn alarm_of(m: &MetricAlarm) -> Alarm {
    Alarm {
        name: m.alarm_name().unwrap_or_default().into(),
        namespace: m.namespace().unwrap_or_default().into(),
        metric: m.metric_name().unwrap_or_default().into(),
        dimensions: m
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
            .collect(),
        threshold: m.threshold().unwrap_or_default(),
        actions: m.alarm_actions().to_vec(),
    }
}

/// Wave two (see the module's comment).
pub async fn details(cx: &Cx, o: &Options, lists: Lists, refs: &Refs) -> Result<Monitoring, StepError> {
    let not_ours = |name: &str| !name.starts_with("bumarket-infra");
    // Alarms: with a prefix, those it names; without, those watching what was chosen.
    let alarms: Vec<Alarm> = lists
        .alarms
        .iter()
        .map(alarm_of)
        .filter(|a| not_ours(&a.name))
        .filter(|a| o.prefix.is_some() || a.dimensions.values().any(|v| refs.values.contains(v)))
        .collect();
    let topics: Vec<&String> = lists
        .topics
        .iter()
        .filter(|arn| {
            let name = arn.rsplit(':').next().unwrap_or_default();
            not_ours(name)
                && if o.prefix.is_some() {
                    wanted_name(o, name)
                } else {
                    alarms.iter().any(|a| a.actions.contains(arn))
                }
        })
        .collect();
    let groups: Vec<&(String, Option<i32>)> = lists
        .rds_groups
        .iter()
        .filter(|(n, _)| refs.databases.iter().any(|id| n.starts_with(&format!("{RDS_GROUPS}{id}/"))))
        .collect();

    // Whose each is, by the providers' own reads of its tags (a topic or log group gone
    // since the listing reads as `None`, by its error code).
    let alarm_tags = try_join_all(
        lists.alarms.iter().filter(|m| alarms.iter().any(|a| Some(a.name.as_str()) == m.alarm_name())).map(
            |m| async move {
                let tags = alarm::alarm_tags(cx, m.alarm_arn().unwrap_or_default()).await?;
                Ok::<_, StepError>((m.alarm_name().unwrap_or_default().to_string(), tags))
            },
        ),
    );
    let topic_reads = try_join_all(topics.iter().map(|arn| async move {
        let subscriptions = async {
            pages!(cx.aws.sns.list_subscriptions_by_topic().topic_arn(*arn), "sns:ListSubscriptionsByTopic", |p| p
                .subscriptions
                .unwrap_or_default())
        };
        let (tags, subscriptions) = tokio::join!(topic::tags_of_topic(cx, arn), subscriptions);
        Ok::<_, StepError>((arn.to_string(), tags?, subscriptions?))
    }));
    let group_tags = try_join_all(groups.iter().map(|(name, _)| log_group::group_tags(cx, name)));
    let (alarm_tags, topic_reads, group_tags) = tokio::join!(alarm_tags, topic_reads, group_tags);
    let (alarm_tags, topic_reads, group_tags) = (alarm_tags?, topic_reads?, group_tags?);

    let mut found = Monitoring::default();
    let owned_alarms: Vec<&String> = alarm_tags.iter().filter(|(_, t)| owned(t)).map(|(n, _)| n).collect();
    found.alarms = alarms.into_iter().filter(|a| !owned_alarms.contains(&&a.name)).collect();
    for (arn, tags, subscriptions) in topic_reads {
        // Gone since the listing, or some stack's: not the team's to adopt.
        if tags.is_none_or(|t| owned(&t)) {
            continue;
        }
        let mut topic = Topic { name: arn.rsplit(':').next().unwrap_or_default().into(), arn, ..Topic::default() };
        for s in subscriptions {
            match (s.protocol.as_deref(), s.endpoint) {
                (Some("email"), Some(e)) => topic.emails.push(e),
                (Some(p), Some(e)) => topic.others.push(format!("{p} {e}")),
                _ => {}
            }
        }
        topic.emails.sort();
        topic.emails.dedup();
        found.topics.push(topic);
    }
    for ((name, retention), tags) in groups.into_iter().zip(group_tags) {
        if tags.is_some_and(|t| !owned(&t)) {
            found.log_groups.push(LogGroup { name: name.clone(), retention_days: *retention });
        }
    }
    found.dashboards =
        lists.dashboards.into_iter().filter(|d| not_ours(d) && (wanted_name(o, d) || *d == o.stack)).collect();
    for n in lists.other_groups.into_iter().filter(|n| !n.starts_with("/bumarket-infra/") && !n.starts_with(RDS_GROUPS))
    {
        if o.prefix.as_deref().is_none_or(|p| n.contains(p)) {
            found.left_out.push(format!("log group `{n}`"));
        }
    }
    Ok(found)
}
