//! `hosted_zone.main`: the stack's own public hosted zone, when `domain.zone` names one
//! (`zone: {name: example.com}`) rather than `existing`. Its name cannot change (a new
//! zone replaces it); its tags change in place. Ownership is its stack tag, or, for a
//! zone made by a run killed before it tagged it, its caller reference
//! (`bumarket-infra/<stack>/…`), which only the stack writes; a zone of that name without
//! either is someone else's, a conflict the plan names (`adopt:` takes it over).
//!
//! Destroy (or a rename) is refused while the file does not say `deletion_protection:
//! false`; released (`release`), the zone is marked so and its caller reference no longer
//! counts. Destroy deletes
//! it only when it holds nothing but its SOA and NS records, the stack's alias record
//! and ACM validation records (which the stack's certificate wrote, and which it removes
//! here): any other record refuses the delete, named.
//!
//! Facts relied on (Route 53 API Reference): `CreateHostedZone` takes a `CallerReference`
//! that "must be unique every time" and that `HostedZone.CallerReference` gives back, and
//! answers `HostedZoneAlreadyExists` when a zone was "already created with the specified
//! CallerReference" (a retried request whose answer was lost); it takes no tags, which
//! `ChangeTagsForResource` adds after (`ResourceType` `hostedzone`, at most 10 keys to add
//! and 10 to remove a call); `ListTagsForResources` reads the tags of up to 10 zones in
//! one call; `ListHostedZonesByName` lists from `DNSName` on in name order; the zone's
//! name servers (`DelegationSet`) are in `CreateHostedZone`'s and `GetHostedZone`'s
//! answers only; `DeleteHostedZone` refuses with `HostedZoneNotEmpty` while records other
//! than the SOA and NS are in it, and "if you delete a hosted zone, you can't undelete
//! it": a new zone has new name servers, and the registrar must be told again (up to 48
//! hours), which is why destroy keeps it by default.
//!
//! Read: one `ListHostedZonesByName` of the zone's name beside the tagging index, then
//! the tags and the zone (for its name servers) of each zone of that name at once.

use super::fqdn;
use crate::apply::{Progress, StepError};
use crate::aws::call_error;
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Ownership, Schema};
use crate::plan::{attr, AttrChange};
use crate::resources::{tag_delta, tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecordSet, RrType, Tag, TagResourceType,
};
use bumarket_stack::DomainZone;
use serde_json::json;
use std::collections::BTreeMap;

pub struct Zones;

/// The stack's own zone's address.
pub const ZONE: &str = "hosted_zone.main";

pub fn addr() -> Addr {
    Addr::new(Kind::HostedZone, "main")
}

/// The file's own zone: (name, deletion protection), when `domain.zone` names one.
pub fn owned(cx: &Cx) -> Option<(&str, bool)> {
    match &cx.stack.domain.as_ref()?.zone {
        DomainZone::Owned { name, deletion_protection } => Some((name.as_str(), *deletion_protection)),
        DomainZone::Existing => None,
    }
}

/// One public hosted zone as Route 53 has it: its id (without `/hostedzone/`), name (no
/// final dot), caller reference, tags and name servers.
#[derive(Debug, Clone)]
pub struct LiveZone {
    pub id: String,
    pub name: String,
    pub caller_reference: String,
    pub tags: BTreeMap<String, String>,
    pub name_servers: Vec<String>,
}

impl LiveZone {
    /// Whether the stack made it: its tag says so, or (a run killed before tagging it)
    /// its caller reference does.
    fn ownership(&self, cx: &Cx) -> Ownership {
        if self.tags.get(crate::resources::TAG_RELEASED) == Some(&cx.stack.name) {
            return Ownership::Unowned("the hosted zone was released from the stack".into());
        }
        match cx.tag_ownership("the hosted zone", &self.tags) {
            Ownership::Unowned(_) if self.caller_reference.starts_with(&caller_prefix(cx)) => Ownership::Ours,
            other => other,
        }
    }

    /// The public zones of the file's zone name and those the tagging index lists as the
    /// stack's (a zone of a name the file no longer has).
    pub async fn fetch(cx: &Cx, live: &Live) -> Result<Vec<LiveZone>, StepError> {
        let wanted = owned(cx).map(|(name, _)| name.to_string());
        let by_name = async {
            let Some(name) = &wanted else { return Ok(Vec::new()) };
            let out = cx
                .aws
                .route53
                .list_hosted_zones_by_name()
                .dns_name(fqdn(name))
                .max_items(100)
                .send()
                .await
                .map_err(|e| call_error("route53:ListHostedZonesByName", e))?;
            let found = out.hosted_zones().iter().filter(|z| fqdn(z.name()) == fqdn(name));
            let public = found.filter(|z| !z.config().is_some_and(|c| c.private_zone()));
            Ok::<_, StepError>(public.map(|z| bare_id(z.id())).collect::<Vec<_>>())
        };
        let (mut ids, tagged) = tokio::try_join!(by_name, live.tagged())?;
        for t in tagged {
            if let Some(id) = t.arn.split(":hostedzone/").nth(1) {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let tags = futures::future::try_join_all(ids.chunks(10).map(|c| tags_of(cx, c)));
        let zones = futures::future::try_join_all(ids.iter().map(|id| zone_of(cx, id)));
        let (tags, zones) = tokio::try_join!(tags, zones)?;
        let mut tags: BTreeMap<String, BTreeMap<String, String>> = tags.into_iter().flatten().collect();
        Ok(zones
            .into_iter()
            .flatten()
            .map(|mut z| {
                z.tags = tags.remove(&z.id).unwrap_or_default();
                z
            })
            .collect())
    }
}

fn bare_id(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_string()
}

/// What every caller reference of the stack's zones starts with.
fn caller_prefix(cx: &Cx) -> String {
    format!("bumarket-infra/{}/", cx.stack.name)
}

/// The tags of up to 10 zones; a zone deleted since it was listed has none.
async fn tags_of(cx: &Cx, ids: &[String]) -> Result<Vec<(String, BTreeMap<String, String>)>, StepError> {
    let out = cx
        .aws
        .route53
        .list_tags_for_resources()
        .resource_type(TagResourceType::Hostedzone)
        .set_resource_ids(Some(ids.to_vec()))
        .send()
        .await;
    let out = match out.map_err(|e| call_error("route53:ListTagsForResources", e)) {
        Ok(out) => out,
        Err(e) if e.is_code("NoSuchHostedZone") => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(out
        .resource_tag_sets()
        .iter()
        .map(|s| {
            let tags =
                s.tags().iter().map(|t| (t.key().unwrap_or_default().into(), t.value().unwrap_or_default().into()));
            (s.resource_id().unwrap_or_default().to_string(), tags.collect())
        })
        .collect())
}

/// One zone with its name servers; `None` when it is gone.
async fn zone_of(cx: &Cx, id: &str) -> Result<Option<LiveZone>, StepError> {
    let out = match cx.aws.route53.get_hosted_zone().id(id).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = call_error("route53:GetHostedZone", e);
            return if e.is_code("NoSuchHostedZone") { Ok(None) } else { Err(e) };
        }
    };
    let Some(z) = out.hosted_zone() else { return Ok(None) };
    if z.config().is_some_and(|c| c.private_zone()) {
        return Ok(None);
    }
    Ok(Some(LiveZone {
        id: bare_id(z.id()),
        name: z.name().trim_end_matches('.').to_string(),
        caller_reference: z.caller_reference().to_string(),
        tags: BTreeMap::new(),
        name_servers: out.delegation_set().map(|d| d.name_servers().to_vec()).unwrap_or_default(),
    }))
}

/// The stack's own zone's id as this run's read found it (for readers of its records).
pub async fn live_id(cx: &Cx, live: &Live) -> Result<Option<String>, StepError> {
    let Some((name, _)) = owned(cx) else { return Ok(None) };
    let zones = live.zones(cx).await?;
    Ok(zones.iter().find(|z| z.name == name && z.ownership(cx) == Ownership::Ours).map(|z| z.id.clone()))
}

fn r53_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Add and remove tags, 10 keys of each a call.
async fn retag(cx: &Cx, id: &str, set: &BTreeMap<String, String>, remove: &[String]) -> Result<(), StepError> {
    let set: Vec<Tag> = r53_tags(set);
    let rounds = set.len().max(remove.len()).div_ceil(10);
    for i in 0..rounds {
        let add: Vec<Tag> = set.iter().skip(i * 10).take(10).cloned().collect();
        let drop: Vec<String> = remove.iter().skip(i * 10).take(10).cloned().collect();
        let mut call =
            cx.aws.route53.change_tags_for_resource().resource_type(TagResourceType::Hostedzone).resource_id(id);
        if !add.is_empty() {
            call = call.set_add_tags(Some(add));
        }
        if !drop.is_empty() {
            call = call.set_remove_tag_keys(Some(drop));
        }
        call.send().await.map_err(|e| call_error("route53:ChangeTagsForResource", e))?;
    }
    Ok(())
}

/// The zone's records that stop its delete: all but the SOA and NS of its apex, the
/// alias of the domain's name (the stack's record, deleted before the zone) and ACM
/// validation CNAMEs (removed with the zone). (to remove, in the way).
async fn records(cx: &Cx, o: &Observed) -> Result<(Vec<ResourceRecordSet>, Vec<String>), StepError> {
    let apex = fqdn(&o.name);
    let domain = cx.stack.domain.as_ref().map(|d| fqdn(&d.name));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    // Pages go on from `NextRecordName`/`NextRecordType`/`NextRecordIdentifier` while
    // `IsTruncated` (ListResourceRecordSets API reference).
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut call = cx.aws.route53.list_resource_record_sets().hosted_zone_id(&o.id);
        if let Some((name, kind, identifier)) = next.take() {
            call = call.start_record_name(name).start_record_type(kind).set_start_record_identifier(identifier);
        }
        let page = match call.send().await.map_err(|e| call_error("route53:ListResourceRecordSets", e)) {
            Ok(page) => page,
            Err(e) if e.is_code("NoSuchHostedZone") => return Ok((ours, theirs)),
            Err(e) => return Err(e),
        };
        for set in page.resource_record_sets() {
            let name = fqdn(set.name());
            let kind = set.r#type();
            let validation = *kind == RrType::Cname
                && set.resource_records().iter().all(|r| fqdn(r.value()).ends_with(".acm-validations.aws."));
            if (name == apex && matches!(kind, RrType::Soa | RrType::Ns))
                || (Some(&name) == domain.as_ref() && *kind == RrType::A && set.alias_target().is_some())
            {
                continue;
            }
            if validation {
                ours.push(set.clone());
            } else {
                theirs.push(format!("{} {}", name.trim_end_matches('.'), kind.as_str()));
            }
        }
        match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
            (true, Some(name), Some(kind)) => {
                next = Some((name.to_string(), kind.clone(), page.next_record_identifier().map(String::from)))
            }
            _ => break,
        }
    }
    Ok((ours, theirs))
}

pub static SCHEMA: Schema = Schema {
    kind: Kind::HostedZone,
    layer: 1,
    attrs: &[AttrSpec::replace("name"), AttrSpec::update("tags")],
    deleted_after: &[Kind::DnsRecord, Kind::Certificate],
};

#[async_trait]
impl Provider for Zones {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["route53:ListHostedZonesByName", "route53:ListTagsForResources", "route53:GetHostedZone"],
            writes: &[
                "route53:CreateHostedZone",
                "route53:ChangeTagsForResource",
                "route53:ListResourceRecordSets",
                "route53:ChangeResourceRecordSets",
                "route53:DeleteHostedZone",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }
    fn place(&self, _cx: &Cx, _d: &Desired) -> Vec<String> {
        vec!["domain".into(), "zone".into(), "name".into()]
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some((name, _)) = owned(cx) else { return vec![] };
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("tags".into(), tags_value(&cx.tags(&addr())));
        vec![Desired { addr: addr(), name: name.to_string(), attrs, deps: vec![] }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let mut out = Vec::new();
        for z in live.zones(cx).await? {
            let ownership = z.ownership(cx);
            let wanted_here = wanted.iter().any(|d| d.name == z.name);
            if ownership != Ownership::Ours && !wanted_here {
                continue;
            }
            let (addr, ownership) = match ownership {
                Ownership::Ours => cx.placed(Kind::HostedZone, &z.name, &z.tags, wanted, Ownership::Ours),
                _ => cx.placed_by_tag((Kind::HostedZone, "the hosted zone"), (&z.id, &z.name), &z.tags, wanted),
            };
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), json!(z.name));
            attrs.insert("tags".into(), tags_value(&z.tags));
            let outputs = BTreeMap::from([
                ("id".to_string(), z.id.clone()),
                ("name_servers".to_string(), z.name_servers.join(", ")),
            ]);
            out.push(Observed {
                addr,
                name: z.name.clone(),
                id: z.id.clone(),
                attrs,
                ownership,
                outputs,
                deps: vec![],
            });
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_nanos());
        let reference = format!("{}{nanos}", caller_prefix(cx));
        let config = HostedZoneConfig::builder().comment(format!("bumarket-infra stack {}", cx.stack.name)).build();
        let made = cx
            .aws
            .route53
            .create_hosted_zone()
            .name(fqdn(&d.name))
            .caller_reference(&reference)
            .hosted_zone_config(config)
            .send()
            .await
            .map_err(|e| call_error("route53:CreateHostedZone", e));
        let (id, servers) = match made {
            Ok(made) => {
                let zone =
                    made.hosted_zone().ok_or_else(|| StepError::missing("route53:CreateHostedZone", "the zone"))?;
                (bare_id(zone.id()), made.delegation_set().map(|s| s.name_servers().join(", ")).unwrap_or_default())
            }
            // A retry of a request whose answer was lost: the zone that request made.
            Err(e) if e.is_code("HostedZoneAlreadyExists") => {
                let listed = cx.aws.route53.list_hosted_zones_by_name().dns_name(fqdn(&d.name)).send().await;
                let listed = listed.map_err(|e| call_error("route53:ListHostedZonesByName", e))?;
                let zone = listed.hosted_zones().iter().find(|z| z.caller_reference() == reference).ok_or(e)?;
                let id = bare_id(zone.id());
                let servers = zone_of(cx, &id).await?.map(|z| z.name_servers.join(", ")).unwrap_or_default();
                (id, servers)
            }
            Err(e) => return Err(e),
        };
        cx.set_id(&d.addr, &id);
        retag(cx, &id, &tags_from(attr(&d.attrs, "tags")), &[]).await?;
        p.say(format!(
            "made hosted zone {id}: delegate {} to its name servers at the domain's registrar: {servers}",
            d.name
        ));
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
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let (set, remove) = tag_delta(&tags_from(c.before.as_ref()), &tags_from(c.after.as_ref()));
            retag(cx, &o.id, &set, &remove).await?;
        }
        Ok(())
    }

    async fn refuse_delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>) -> Result<Option<String>, StepError> {
        // The file's word: a zone it no longer names (renamed, or back to `existing`) stays
        // protected unless the file says otherwise.
        if !matches!(owned(cx), Some((_, false))) {
            return Ok(Some(format!(
                "the hosted zone {} ({}) is kept: deleting it gives up its name servers for good (the registrar's \
                 delegation breaks, and the name could be taken over); set `deletion_protection: false` under \
                 `domain.zone` in the stack file to let it go",
                o.name, o.id
            )));
        }
        let (_, theirs) = records(cx, o).await?;
        if !theirs.is_empty() {
            return Ok(Some(format!(
                "the hosted zone {} ({}) holds records the stack did not write: {}; delete or move them first",
                o.name,
                o.id,
                theirs.join(", ")
            )));
        }
        Ok(None)
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        let (ours, theirs) = records(cx, o).await?;
        if !theirs.is_empty() {
            let e = StepError::new(
                "route53:DeleteHostedZone",
                format!("records the stack did not write: {}", theirs.join(", ")),
            );
            return Err(e.hint("delete or move them, then run destroy again"));
        }
        if !ours.is_empty() {
            let changes = ours
                .into_iter()
                .map(|set| Change::builder().action(ChangeAction::Delete).resource_record_set(set).build());
            let changes: Vec<Change> = changes
                .collect::<Result<_, _>>()
                .map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))?;
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .map_err(|e| StepError::new("route53:ChangeResourceRecordSets", e.to_string()))?;
            let sent =
                cx.aws.route53.change_resource_record_sets().hosted_zone_id(&o.id).change_batch(batch).send().await;
            sent.map_err(|e| call_error("route53:ChangeResourceRecordSets", e))?;
        }
        match cx.aws.route53.delete_hosted_zone().id(&o.id).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = call_error("route53:DeleteHostedZone", e);
                if e.is_code("NoSuchHostedZone") {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}
