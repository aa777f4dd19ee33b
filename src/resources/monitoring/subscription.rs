//! `subscription.<n>`: the e-mail subscription of `monitoring.emails[n]` to the alerts
//! topic. A new e-mail subscription stays pending until the person clicks the link AWS
//! mails them, and SNS deletes it if they have not within 48 hours (SNS developer guide,
//! "Deleting an Amazon SNS subscription and topic"); a pending one cannot be
//! unsubscribed. So that neither state makes plans churn nor apply mail the team again
//! and again, the topic keeps a record of whom it asked and when ([`TAG_MAILED`]):
//! - pending: no change; the plan says since when, and what the person must do;
//! - gone after a link was mailed (expired unconfirmed, or unsubscribed by its owner): no
//!   change either, and the plan says `apply --resubscribe` mails a new link;
//! - never asked: created (AWS mails the link).
//!
//! Changing an address deletes the old subscription and creates the new one.
//!
//! Reads: one `ListSubscriptionsByTopic` on the stack's topic, whose tags (the record)
//! the topic's read has fetched already. Every e-mail subscription of our topic (or of
//! the topic the file adopts) is ours; other protocols are left alone.

use super::topic::{self, TAG_MAILED};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange, ResourceChange};
use crate::resources::{Cx, Live, Provider, TAG_STACK};
use async_trait::async_trait;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub struct Subscriptions;

/// What SNS lists for a subscription not confirmed yet, in place of its ARN.
const PENDING: &str = "PendingConfirmation";
/// The id of a subscription AWS no longer has, though its link was mailed.
const GONE: &str = "gone";

fn attrs(endpoint: &str) -> Attrs {
    let mut a = Attrs::new();
    a.insert("name".into(), json!(endpoint));
    a.insert("protocol".into(), json!("email"));
    a.insert("endpoint".into(), json!(endpoint));
    a.insert("topic".into(), json!(topic::addr().to_string()));
    a
}

/// The record's key for an address: 8 hex chars of its SHA-256 (no address in a tag).
fn key(endpoint: &str) -> String {
    Sha256::digest(endpoint.to_lowercase().as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The record: address key → the UTC day its link was mailed (`yyyy-mm-dd`).
fn parse_record(text: Option<&String>) -> BTreeMap<String, String> {
    text.into_iter()
        .flat_map(|t| t.split(' '))
        .filter_map(|e| e.split_once('='))
        .map(|(k, d)| (k.to_string(), d.to_string()))
        .collect()
}

fn record_text(record: &BTreeMap<String, String>) -> String {
    record.iter().map(|(k, d)| format!("{k}={d}")).collect::<Vec<_>>().join(" ")
}

fn today() -> String {
    crate::render::progress::utc_now().chars().take(10).collect()
}

/// Write `change` into the topic's record of mailed links.
async fn update_record(
    cx: &Cx,
    topic_arn: &str,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<(), StepError> {
    let tags = topic::tags_of_topic(cx, topic_arn).await?.unwrap_or_default();
    let mut record = parse_record(tags.get(TAG_MAILED));
    change(&mut record);
    let sns = &cx.aws.sns;
    if record.is_empty() {
        let r = sns.untag_resource().resource_arn(topic_arn).tag_keys(TAG_MAILED).send().await;
        return r.map(drop).map_err(|e| call_error("sns:UntagResource", e));
    }
    let tag =
        aws_sdk_sns::types::Tag::builder().key(TAG_MAILED).value(record_text(&record)).build().expect("key and value");
    let r = sns.tag_resource().resource_arn(topic_arn).tags(tag).send().await;
    r.map(drop).map_err(|e| call_error("sns:TagResource", e))
}

/// Nothing about a subscription can change in place: a new address is a new one.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Subscription,
    layer: 1,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::replace("protocol"),
        AttrSpec::replace("endpoint"),
        AttrSpec::replace("topic"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Subscriptions {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["sns:ListSubscriptionsByTopic"],
            writes: &["sns:Subscribe", "sns:Unsubscribe"],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(m) = &cx.stack.monitoring else { return vec![] };
        m.emails
            .iter()
            .enumerate()
            .map(|(i, e)| Desired {
                addr: Addr::new(Kind::Subscription, i.to_string()),
                name: e.clone(),
                attrs: attrs(e),
                deps: vec![topic::addr()],
            })
            .collect()
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let Some(topic) = live.topic(cx).await? else { return Ok(vec![]) };
        // Subscriptions take no tags: those of the stack's topic are the stack's, and so
        // are those of a topic the file adopts (taken over with it, not made again).
        let adopting = !topic.tags.contains_key(TAG_STACK) && cx.stack.adopt.contains_key(topic::addr().as_str());
        if topic.tags.get(TAG_STACK) != Some(&cx.stack.name) && !adopting {
            return Ok(vec![]);
        }
        let mut subscriptions = Vec::new();
        let mut pages = cx.aws.sns.list_subscriptions_by_topic().topic_arn(&topic.arn).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => subscriptions.extend(page.subscriptions.unwrap_or_default()),
                Err(e) if is_code(&e, "NotFound") => return Ok(vec![]),
                Err(e) => return Err(call_error("sns:ListSubscriptionsByTopic", e)),
            }
        }
        let record = parse_record(topic.tags.get(TAG_MAILED));
        let topic_addr = topic::addr();
        let observed = |addr: Addr, endpoint: &str, id: String, status: &str| {
            let mut outputs = BTreeMap::from([("status".to_string(), status.to_string())]);
            if let Some(day) = record.get(&key(endpoint)) {
                outputs.insert("mailed".into(), day.clone());
            }
            let deps = vec![topic_addr.clone()];
            Observed {
                addr,
                name: endpoint.to_string(),
                id,
                attrs: attrs(endpoint),
                ownership: Ownership::Ours,
                outputs,
                deps,
            }
        };
        let mut found: Vec<Observed> = Vec::new();
        for s in subscriptions {
            let (Some("email"), Some(endpoint)) = (s.protocol.as_deref(), s.endpoint.clone()) else { continue };
            // The file's index for a wanted address; any other keeps its address as name.
            let addr = wanted
                .iter()
                .find(|d| d.name == endpoint && !found.iter().any(|o| o.addr == d.addr))
                .map_or_else(|| Addr::new(Kind::Subscription, &endpoint), |d| d.addr.clone());
            let id = s.subscription_arn.unwrap_or_else(|| PENDING.into());
            let status = if id.starts_with("arn:") { "confirmed" } else { "pending confirmation" };
            found.push(observed(addr, &endpoint, id, status));
        }
        // Mailed, and gone since: not asked again unless `--resubscribe` says so.
        let gone: Vec<Observed> = wanted
            .iter()
            .filter(|d| !found.iter().any(|o| o.addr == d.addr))
            .filter(|d| record.contains_key(&key(&d.name)) && !cx.resubscribe)
            .map(|d| observed(d.addr.clone(), &d.name, GONE.into(), GONE))
            .collect();
        found.extend(gone);
        Ok(found)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let topic = cx.id_of(&topic::addr())?;
        let endpoint = attr(&d.attrs, "endpoint").and_then(Value::as_str).unwrap_or(&d.name);
        let out = cx
            .aws
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("email")
            .endpoint(endpoint)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| call_error("sns:Subscribe", e))?;
        cx.set_id(&d.addr, out.subscription_arn.unwrap_or_else(|| PENDING.into()));
        p.say(format!("AWS mails {endpoint} a link: alerts reach it once it is confirmed, within 48 hours"));
        let day = today();
        update_record(cx, &topic, |r| {
            r.insert(key(endpoint), day);
        })
        .await
    }

    async fn update(
        &self,
        _cx: &Cx,
        _d: &Desired,
        _o: &Observed,
        _c: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        // Every attribute forces a new subscription.
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        // The address leaves the file: its record goes too.
        let forget = async {
            match cx.known_id(&topic::addr()) {
                Some(topic) => update_record(cx, &topic, |r| drop(r.remove(&key(&o.name)))).await,
                None => Ok(()),
            }
        };
        if !o.id.starts_with("arn:") {
            p.say(format!("{} has not confirmed: AWS deletes the pending subscription by itself", o.name));
            return forget.await;
        }
        match cx.aws.sns.unsubscribe().subscription_arn(&o.id).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "NotFound") => {}
            Err(e) => return Err(call_error("sns:Unsubscribe", e)),
        }
        forget.await
    }

    fn notice(&self, _cx: &Cx, r: &ResourceChange) -> Option<String> {
        let o = r.observed.as_ref().filter(|_| r.desired.is_some())?;
        let since = o.outputs.get("mailed").map(|d| format!(" since {d}")).unwrap_or_default();
        match o.outputs.get("status")?.as_str() {
            "pending confirmation" => Some(format!(
                "`{}` {}: pending confirmation{since}: alerts reach it only once its owner clicks the link AWS mailed; AWS deletes it unconfirmed after 48 hours",
                r.addr, o.name
            )),
            GONE => Some(format!(
                "`{}` {}: AWS has no subscription for it although a link was mailed{since} (it expired unconfirmed after 48 hours, or was unsubscribed): `bumarket-infra apply --resubscribe` mails a new link",
                r.addr, o.name
            )),
            _ => None,
        }
    }
}
