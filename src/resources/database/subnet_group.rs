//! `db_subnet_group.main`: the DB subnet group `<stack>-db` over the private subnets, so
//! the database lives only where nothing from the internet reaches.
//!
//! It is read by its deterministic name (one DescribeDBSubnetGroups call; the Resource
//! Groups Tagging API does not list DB subnet groups on the emulator) and its ownership
//! comes from its tags (ListTagsForResource, as the describe answer has none). Subnets
//! change in place; only the name forces a new group.

use super::{converge_tags, ownership, subnet_group_name, tags_of, to_tags};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, strings, AttrChange};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use serde_json::json;
use std::collections::BTreeMap;

pub struct SubnetGroups;

/// Live subnet ids of the addresses in `subnets`.
fn subnet_ids(cx: &Cx, a: &Attrs) -> Result<Vec<String>, StepError> {
    strings(attr(a, "subnets")).iter().map(|s| cx.id_in(s)).collect()
}

/// A subnet group keeps its name; its subnets and tags change in place.
pub static SCHEMA: Schema = Schema {
    kind: Kind::DbSubnetGroup,
    layer: 2,
    attrs: &[AttrSpec::replace("name"), AttrSpec::update("subnets").set(), AttrSpec::update("tags")],
    deleted_after: &[],
};

#[async_trait]
impl Provider for SubnetGroups {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
            writes: &[
                "rds:CreateDBSubnetGroup",
                "rds:DeleteDBSubnetGroup",
                "rds:ModifyDBSubnetGroup",
                "rds:AddTagsToResource",
                "rds:RemoveTagsFromResource",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(_), Some(_)) = (&cx.stack.database, &cx.stack.network) else { return vec![] };
        let addr = Addr::new(Kind::DbSubnetGroup, "main");
        let name = subnet_group_name(cx);
        let subnets: Vec<String> = (0..cx.stack.subnet_counts().1).map(|i| format!("subnet.private-{i}")).collect();
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("subnets".into(), json!(subnets));
        attrs.insert("tags".into(), tags_value(&cx.tags(&addr)));
        let deps = crate::resources::addrs_in(&subnets);
        vec![Desired { addr, name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let name = subnet_group_name(cx);
        // Without a database in the file, look only when the stack still owns one.
        if wanted.is_empty() && !live.owns_any("rds").await? {
            return Ok(vec![]);
        }
        let rds = &cx.aws.rds;
        // The group's ARN follows from its name: its tags are read alongside, not after.
        let arn = format!("arn:{}:rds:{}:{}:subgrp:{name}", cx.partition(), cx.region(), cx.account);
        let (group, tags) = tokio::join!(
            rds.describe_db_subnet_groups().db_subnet_group_name(&name).send(),
            rds.list_tags_for_resource().resource_name(&arn).send()
        );
        let group = match group {
            Ok(out) => out.db_subnet_groups.unwrap_or_default().into_iter().next(),
            Err(e) if is_code(&e, "DBSubnetGroupNotFoundFault") => None,
            Err(e) => return Err(call_error("rds:DescribeDBSubnetGroups", e)),
        };
        let Some(g) = group else { return Ok(vec![]) };
        let arn = g.db_subnet_group_arn.clone().unwrap_or(arn);
        let tags = tags_of(tags.map_err(|e| call_error("rds:ListTagsForResource", e))?.tag_list());
        let snap = live.ec2().await?;
        let mut subnets: Vec<String> = g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier.as_deref())
            .map(|id| snap.addr_of(id).map_or_else(|| id.to_string(), |a| a.to_string()))
            .collect();
        subnets.sort();
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("subnets".into(), json!(subnets));
        attrs.insert("tags".into(), tags_value(&tags));
        let deps = crate::resources::addrs_in(&subnets);
        let (addr, ownership) =
            cx.placed(Kind::DbSubnetGroup, &name, &tags, wanted, ownership(cx, "a DB subnet group", &tags));
        Ok(vec![Observed {
            addr,
            ownership,
            name: name.clone(),
            id: name,
            attrs,
            outputs: BTreeMap::from([("arn".to_string(), arn)]),
            deps,
        }])
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let created = cx
            .aws
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&d.name)
            .db_subnet_group_description(format!("{}: the database's private subnets", cx.stack.name))
            .set_subnet_ids(Some(subnet_ids(cx, &d.attrs)?))
            .set_tags(Some(to_tags(&tags_from(attr(&d.attrs, "tags")))))
            .send()
            .await;
        match created {
            Ok(_) => {}
            // A re-run after a lost answer: the next plan converges the rest.
            Err(e) if is_code(&e, "DBSubnetGroupAlreadyExists") => {}
            Err(e) => return Err(call_error("rds:CreateDBSubnetGroup", e)),
        }
        cx.set_id(&d.addr, &d.name);
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        _p: &Progress<'_>,
    ) -> Result<(), StepError> {
        if changes.iter().any(|c| c.name == "subnets") {
            cx.aws
                .rds
                .modify_db_subnet_group()
                .db_subnet_group_name(&d.name)
                .set_subnet_ids(Some(subnet_ids(cx, &d.attrs)?))
                .send()
                .await
                .map_err(|e| call_error("rds:ModifyDBSubnetGroup", e))?;
        }
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let arn = o.outputs.get("arn").cloned().unwrap_or_default();
            converge_tags(cx, &arn, &tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref())).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.rds.delete_db_subnet_group().db_subnet_group_name(&o.name).send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "DBSubnetGroupNotFoundFault") => {}
            Err(e) => return Err(call_error("rds:DeleteDBSubnetGroup", e)),
        }
        cx.forget_id(o);
        Ok(())
    }
}
