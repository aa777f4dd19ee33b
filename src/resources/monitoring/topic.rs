//! `topic.alerts`: the SNS topic `<stack>-alerts` that alarms notify and the team's
//! addresses subscribe to. Only its tags can change in place.
//!
//! Reads: one `ListTagsForResource` on the ARN its name gives: absent (`NotFound`), ours
//! or someone else's by its own tags (the tagging index lags behind new tags). A topic of
//! the stack under another name, which only the index can tell, is checked the same way.
//! The topic also keeps the record of whom it mailed a confirmation link
//! ([`TAG_MAILED`], see `subscription.rs`), which is never a change.

use super::tagged_of;
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use serde_json::json;
use std::collections::BTreeMap;

pub struct Topics;

pub fn addr() -> Addr {
    Addr::new(Kind::Topic, "alerts")
}

pub fn topic_name(cx: &Cx) -> String {
    cx.stack.name_of("topic.alerts", || format!("{}-alerts", cx.stack.name))
}

/// Tag of the topic recording the e-mail addresses it asked to confirm, and when.
pub const TAG_MAILED: &str = "bumarket-infra:mailed";

/// The stack's topic as SNS has it.
#[derive(Debug, Clone)]
pub struct LiveTopic {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

impl LiveTopic {
    /// The topic of the file's name, when it exists (one call, none without monitoring).
    pub async fn fetch(cx: &Cx) -> Result<Option<LiveTopic>, StepError> {
        if cx.stack.monitoring.is_none() {
            return Ok(None);
        }
        let arn = arn(cx);
        Ok(tags_of_topic(cx, &arn).await?.map(|tags| LiveTopic { arn, tags }))
    }
}

/// A topic's tags from SNS; `None` when it does not exist.
pub async fn tags_of_topic(cx: &Cx, arn: &str) -> Result<Option<BTreeMap<String, String>>, StepError> {
    match cx.aws.sns.list_tags_for_resource().resource_arn(arn).send().await {
        Ok(out) => Ok(Some(out.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect())),
        Err(e) if is_code(&e, "NotFound") || is_code(&e, "ResourceNotFound") => Ok(None),
        Err(e) => Err(call_error("sns:ListTagsForResource", e)),
    }
}

/// The topic's ARN, which follows from its name.
pub fn arn(cx: &Cx) -> String {
    format!("arn:{}:sns:{}:{}:{}", cx.partition(), cx.region(), cx.account, topic_name(cx))
}

fn observed(addr: Addr, arn: &str, mut tags: BTreeMap<String, String>, ownership: Ownership) -> Observed {
    tags.remove(TAG_MAILED);
    let name = arn.rsplit(':').next().unwrap_or_default().to_string();
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("tags".into(), tags_value(&tags));
    let outputs = BTreeMap::from([("arn".to_string(), arn.to_string())]);
    Observed { addr, name, id: arn.into(), attrs, ownership, outputs, deps: vec![] }
}

fn sns_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value")).collect()
}

/// A topic keeps its name; its tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Topic,
    layer: 0,
    attrs: &[AttrSpec::replace("name"), AttrSpec::update("tags")],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Topics {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["sns:ListTagsForResource"],
            writes: &["sns:CreateTopic", "sns:DeleteTopic", "sns:TagResource", "sns:UntagResource"],
        }
    }
    fn arns(&self, cx: &Cx, d: &Desired) -> Vec<String> {
        vec![format!("arn:{}:sns:{}:*:{}", cx.partition(), cx.region(), d.name)]
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        if cx.stack.monitoring.is_none() {
            return vec![];
        }
        let name = topic_name(cx);
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("tags".into(), tags_value(&cx.tags(&addr())));
        vec![Desired { addr: addr(), name, attrs, deps: vec![] }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let (topic, tagged) = tokio::try_join!(live.topic(cx), live.tagged())?;
        let mut found: Vec<(String, BTreeMap<String, String>)> =
            topic.map(|t| (t.arn.clone(), t.tags.clone())).into_iter().collect();
        // Topics of the stack under another name (the index says which): checked by SNS.
        let others: Vec<String> = tagged_of(tagged, "sns")
            .filter(|t| !found.iter().any(|(a, _)| *a == t.arn))
            .map(|t| t.arn.clone())
            .collect();
        let checked = futures::future::try_join_all(others.iter().map(|arn| tags_of_topic(cx, arn))).await?;
        found.extend(others.into_iter().zip(checked).filter_map(|(arn, tags)| Some((arn, tags?))));
        let mut out = Vec::new();
        for (arn, tags) in found {
            let name = arn.rsplit(':').next().unwrap_or_default();
            let ownership = cx.tag_ownership("the topic", &tags);
            if ownership != Ownership::Ours && !wanted.iter().any(|d| d.name == name) {
                continue;
            }
            let (addr, ownership) = cx.placed(Kind::Topic, name, &tags, wanted, ownership);
            let o = observed(addr, &arn, tags, ownership);
            if o.is_ours() {
                cx.set_id(&o.addr, &o.id);
            }
            out.push(o);
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let tags = tags_from(attr(&d.attrs, "tags"));
        let out = cx
            .aws
            .sns
            .create_topic()
            .name(&d.name)
            .set_tags(Some(sns_tags(&tags)))
            .send()
            .await
            .map_err(|e| call_error("sns:CreateTopic", e))?;
        let arn = out.topic_arn.ok_or_else(|| StepError::missing("sns:CreateTopic", "the topic's ARN"))?;
        cx.set_id(&d.addr, arn);
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        _d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let Some(c) = changes.iter().find(|c| c.name == "tags") else { return Ok(()) };
        let (set, remove) = tag_delta(&tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref()));
        let sns = &cx.aws.sns;
        if !remove.is_empty() {
            let r = sns.untag_resource().resource_arn(&o.id).set_tag_keys(Some(remove)).send().await;
            r.map_err(|e| call_error("sns:UntagResource", e))?;
        }
        if !set.is_empty() {
            let r = sns.tag_resource().resource_arn(&o.id).set_tags(Some(sns_tags(&set))).send().await;
            r.map_err(|e| call_error("sns:TagResource", e))?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.sns.delete_topic().topic_arn(&o.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NotFound") => Ok(()),
            Err(e) => Err(call_error("sns:DeleteTopic", e)),
        }
    }
}
