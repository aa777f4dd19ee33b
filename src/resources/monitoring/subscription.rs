//! `subscription.<n>`: the e-mail subscription of `monitoring.emails[n]` to the alerts
//! topic. A new e-mail subscription stays `PendingConfirmation` until the person clicks
//! the link AWS mails them; a pending one counts as existing, so re-applying never sends a
//! second mail. Changing an address deletes the old subscription and creates the new one.
//!
//! Reads: one `ListSubscriptionsByTopic` on the stack's topic (found in wave one). Every
//! e-mail subscription of our topic is ours; other protocols are left alone. A pending
//! subscription has no ARN yet, so it cannot be unsubscribed: deleting it is a no-op
//! that says so (AWS drops unconfirmed subscriptions after a few days, and with the topic).

use super::{tagged_of, topic};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{Cx, Live, Provider, TAG_RESOURCE};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Subscriptions;

const PENDING: &str = "PendingConfirmation";

fn attrs(endpoint: &str) -> Attrs {
    let mut a = Attrs::new();
    a.insert("name".into(), json!(endpoint));
    a.insert("protocol".into(), json!("email"));
    a.insert("endpoint".into(), json!(endpoint));
    a.insert("topic".into(), json!(topic::addr().as_str()));
    a
}

/// A subscription cannot change: a new address is a new subscription.
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
        let tagged = live.tagged().await?;
        let topic_addr = topic::addr();
        let Some(arn) = tagged_of(tagged, "sns")
            .find(|t| t.tags.get(TAG_RESOURCE).map(String::as_str) == Some(topic_addr.as_str()))
            .map(|t| t.arn.clone())
        else {
            return Ok(vec![]);
        };
        let out = match cx.aws.sns.list_subscriptions_by_topic().topic_arn(&arn).send().await {
            Ok(out) => out,
            Err(e) if is_code(&e, "NotFound") => return Ok(vec![]),
            Err(e) => return Err(call_error("sns:ListSubscriptionsByTopic", e)),
        };
        let mut seen = Vec::new();
        let mut found = Vec::new();
        for s in out.subscriptions.unwrap_or_default() {
            let (Some("email"), Some(endpoint)) = (s.protocol.as_deref(), s.endpoint.clone()) else { continue };
            // The file's index for a wanted address; any other keeps its address as name.
            let addr = wanted
                .iter()
                .find(|d| d.name == endpoint && !seen.contains(&d.addr))
                .map_or_else(|| Addr::new(Kind::Subscription, &endpoint), |d| d.addr.clone());
            seen.push(addr.clone());
            let id = s.subscription_arn.unwrap_or_else(|| PENDING.into());
            let status = if id == PENDING { "pending confirmation" } else { "confirmed" };
            let outputs = BTreeMap::from([("status".to_string(), status.to_string())]);
            let deps = vec![topic_addr.clone()];
            let attrs = attrs(&endpoint);
            found.push(Observed { addr, name: endpoint, id, attrs, ownership: Ownership::Ours, outputs, deps });
        }
        Ok(found)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let topic = cx.id_of(&topic::addr())?;
        let endpoint = attr(&d.attrs, "endpoint").and_then(Value::as_str).unwrap_or(&d.name);
        let out = cx
            .aws
            .sns
            .subscribe()
            .topic_arn(topic)
            .protocol("email")
            .endpoint(endpoint)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| call_error("sns:Subscribe", e))?;
        cx.set_id(&d.addr, out.subscription_arn.unwrap_or_else(|| PENDING.into()));
        p.say(format!("AWS mails {endpoint} a link: alerts reach it once it is confirmed"));
        Ok(())
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
        if !o.id.starts_with("arn:") {
            p.say(format!("{} has not confirmed: AWS drops the pending subscription by itself", o.name));
            return Ok(());
        }
        match cx.aws.sns.unsubscribe().subscription_arn(&o.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "NotFound") => Ok(()),
            Err(e) => Err(call_error("sns:Unsubscribe", e)),
        }
    }
}
