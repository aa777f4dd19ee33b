//! `topic.alerts`: the SNS topic `<stack>-alerts` that alarms notify and the team's
//! addresses subscribe to. Only its tags can change in place.
//!
//! Reads: the tagging API (wave one) lists it; a wanted topic it does not list costs one
//! `GetTopicAttributes` on the ARN its name gives (absent, or someone else's).

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
    format!("{}-alerts", cx.stack.name)
}

fn observed(addr: Addr, arn: &str, tags: BTreeMap<String, String>, ownership: Ownership) -> Observed {
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
        let tagged = live.tagged().await?;
        let mut out: Vec<Observed> = tagged_of(tagged, "sns")
            .map(|t| {
                let name = t.arn.rsplit(':').next().unwrap_or_default();
                let (addr, ownership) = cx.placed(Kind::Topic, name, &t.tags, wanted, Ownership::Ours);
                observed(addr, &t.arn, t.tags.clone(), ownership)
            })
            .collect();
        for o in &out {
            cx.set_id(&o.addr, &o.id);
        }
        let missing: Vec<&&Desired> = wanted.iter().filter(|d| !out.iter().any(|o| o.name == d.name)).collect();
        for d in missing {
            let arn = format!("arn:{}:sns:{}:{}:{}", cx.partition(), cx.region(), cx.account, d.name);
            match cx.aws.sns.get_topic_attributes().topic_arn(&arn).send().await {
                Ok(_) => {
                    let why = "the topic exists without the stack's tag".to_string();
                    out.push(observed(d.addr.clone(), &arn, BTreeMap::new(), Ownership::Foreign(why)));
                }
                Err(e) if is_code(&e, "NotFound") => {}
                Err(e) => return Err(call_error("sns:GetTopicAttributes", e)),
            }
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
