//! `launch_template.app`: what every instance of the fleet is made of: type, image (a
//! fixed AMI or the SSM parameter resolved at plan time), user data, IMDSv2 required,
//! an encrypted root volume, the app's instance profile and security group, and tags
//! propagated to instances and volumes. The user data is the file's script with the
//! stack's values for the app after its `#!` line (`stack_values`, see `app_env`): the
//! database's endpoint and secret, the buckets, the app's log group.
//!
//! Any change makes a new version and makes it the default; the group then rolls its
//! instances (see `autoscaling_group`). Only the name forces a new template.

use super::{app_name, short_hash};
use crate::apply::{Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Attrs, Desired, Kind, Observed, Schema};
use crate::plan::{attr, Action, AttrChange, ResourceChange};
use crate::resources::ec2::{converge_tags, named_tags, tag_spec, tags_of, to_tags};
use crate::resources::{tags_from, tags_value, Cx, Live, Provider};
use async_trait::async_trait;
use aws_sdk_ec2::types as ec2t;
use base64::Engine as _;
use bumarket_stack::Image;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct LaunchTemplates;

/// The root device of Amazon Linux images.
const ROOT_DEVICE: &str = "/dev/xvda";

fn user_data_attr(content: Option<&str>) -> Value {
    content.map_or(Value::Null, |c| json!(format!("sha256:{}", short_hash(c.as_bytes()))))
}

/// IMDSv2 only (session tokens required), unless the file states IMDSv1 is allowed.
fn metadata(f: &bumarket_stack::Fleet) -> Value {
    let tokens = if f.require_imdsv2.is_on() { "required" } else { "optional" };
    json!({"http_endpoint": "enabled", "http_tokens": tokens, "hop_limit": 1})
}

/// A template keeps its name; any other change is a new version made the default.
pub static SCHEMA: Schema = Schema {
    kind: Kind::LaunchTemplate,
    layer: 3,
    attrs: &[
        AttrSpec::replace("name"),
        AttrSpec::update("instance_type"),
        AttrSpec::update("image_id"),
        AttrSpec::update("user_data"),
        AttrSpec::update("stack_values"),
        AttrSpec::update("metadata"),
        AttrSpec::update("instance_profile"),
        AttrSpec::update("security_groups").set(),
        AttrSpec::update("instance_tags"),
        AttrSpec::update("tags"),
        AttrSpec::update("root_volume"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for LaunchTemplates {
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
            writes: &[
                "ec2:CreateLaunchTemplate",
                "ec2:CreateLaunchTemplateVersion",
                "ec2:DeleteLaunchTemplate",
                "ec2:ModifyLaunchTemplate",
                "ec2:CreateTags",
                "ec2:DeleteTags",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let Some(f) = &cx.stack.fleet else { return vec![] };
        let addr = Addr::new(Kind::LaunchTemplate, "app");
        let name = app_name(cx);
        let image = match &f.image {
            Image::Ami(id) => id.clone(),
            // Resolved in wave one; unknown only if the parameter read failed (then plan fails).
            Image::SsmParameter(p) => cx.image_id.clone().unwrap_or_else(|| format!("(ssm:{p})")),
        };
        let profile = crate::resources::instance_profile::of_fleet(cx);
        let mut instance_tags = cx.tags(&addr);
        instance_tags.insert("Name".into(), name.clone());
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert("instance_type".into(), json!(f.instance_type));
        attrs.insert("image_id".into(), json!(image));
        let script = f.user_data.as_ref().map(|u| u.content.as_str());
        attrs.insert("user_data".into(), user_data_attr(script));
        // Only a shell script can run the block that writes the values (`app_env::render`).
        let values = match script {
            Some(s) if crate::resources::app_env::takes_values(s) => crate::resources::app_env::values(cx),
            _ => BTreeMap::new(),
        };
        let waits_for_database = crate::resources::app_env::needs_database(&values);
        attrs.insert("stack_values".into(), json!(values));
        attrs.insert("metadata".into(), metadata(f));
        attrs.insert(
            "root_volume".into(),
            json!({"device": ROOT_DEVICE, "size_gb": f.root_volume.size_gb, "type": f.root_volume.volume_type,
                   "encrypted": f.root_volume.encrypted}),
        );
        attrs.insert("instance_profile".into(), json!(profile));
        attrs.insert("security_groups".into(), json!(["security_group.app"]));
        attrs.insert("instance_tags".into(), tags_value(&instance_tags));
        attrs.insert("tags".into(), tags_value(&named_tags(cx, &addr, &name)));
        let mut deps = vec![Addr::new(Kind::SecurityGroup, "app")];
        if let Some(r) = f.instance_role.as_ref().filter(|r| *r != bumarket_stack::EXISTING_ROLE) {
            deps.push(Addr::new(Kind::InstanceProfile, r));
        }
        if waits_for_database {
            deps.push(crate::resources::app_env::database_addr());
        }
        vec![Desired { addr, name, attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        let snap = live.ec2().await?;
        let reads = snap.launch_templates.iter().map(|lt| async move {
            let id = lt.launch_template_id().unwrap_or_default().to_string();
            let name = lt.launch_template_name().unwrap_or_default().to_string();
            let tags = tags_of(lt.tags());
            let out = cx
                .aws
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(&id)
                .versions("$Default")
                .send()
                .await
                .map_err(|e| call_error("ec2:DescribeLaunchTemplateVersions", e))?;
            let data = out
                .launch_template_versions
                .unwrap_or_default()
                .into_iter()
                .next()
                .and_then(|v| v.launch_template_data);
            let mut attrs = data.map(|d| observed_attrs(snap, &d)).unwrap_or_default();
            attrs.insert("name".into(), json!(name));
            attrs.insert("tags".into(), tags_value(&tags));
            let what = (Kind::LaunchTemplate, "the launch template");
            let (addr, ownership) = cx.placed_by_tag(what, (&id, &name), &tags, wanted);
            let deps = attrs["security_groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|s| Addr::parse(s).ok())
                .collect();
            Ok::<_, StepError>(Observed {
                addr,
                name,
                id: id.clone(),
                attrs,
                ownership,
                outputs: BTreeMap::from([
                    ("id".to_string(), id),
                    ("default_version".to_string(), lt.default_version_number.unwrap_or_default().to_string()),
                ]),
                deps,
            })
        });
        futures::future::try_join_all(reads).await
    }

    async fn create(&self, cx: &Cx, d: &Desired, _p: &Progress<'_>) -> Result<(), StepError> {
        let data = request_data(cx, d)?;
        let tags = tags_from(attr(&d.attrs, "tags"));
        let out = cx
            .aws
            .ec2
            .create_launch_template()
            .launch_template_name(&d.name)
            .launch_template_data(data)
            .tag_specifications(tag_spec(&tags, ec2t::ResourceType::LaunchTemplate))
            // The same token on a re-run after a lost answer returns the same template.
            .client_token(format!("{}-{}", d.name, super::fingerprint(&d.attrs)))
            .send()
            .await
            .map_err(|e| call_error("ec2:CreateLaunchTemplate", e))?;
        let id = out
            .launch_template
            .and_then(|t| t.launch_template_id)
            .ok_or_else(|| StepError::missing("ec2:CreateLaunchTemplate", "the template's id"))?;
        cx.set_id(&d.addr, id);
        Ok(())
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let tags = changes.iter().find(|c| c.name == "tags");
        if changes.iter().any(|c| c.name != "tags") {
            new_version(cx, d, o, p).await?;
        }
        // Tags last: they carry the applied record, true only once the rest is done.
        if let Some(c) = tags {
            converge_tags(cx, &o.id, &tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref())).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, _p: &Progress<'_>) -> Result<(), StepError> {
        match cx.aws.ec2.delete_launch_template().launch_template_id(&o.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "InvalidLaunchTemplateId.NotFound") => Ok(()),
            Err(e) => Err(call_error("ec2:DeleteLaunchTemplate", e)),
        }
    }

    fn annotate(&self, _cx: &Cx, change: &mut ResourceChange) {
        if matches!(change.action, Action::Update | Action::Adopt) && change.changes.iter().any(|c| c.name != "tags") {
            change.notes.push("new version, made the default".into());
        }
    }
}

/// A new version of the template with the file's settings, made the default.
async fn new_version(cx: &Cx, d: &Desired, o: &Observed, p: &Progress<'_>) -> Result<(), StepError> {
    p.say("making a new template version");
    let ec2 = &cx.aws.ec2;
    let out = ec2
        .create_launch_template_version()
        .launch_template_id(&o.id)
        .launch_template_data(request_data(cx, d)?)
        .client_token(format!("{}-{}", d.name, super::fingerprint(&d.attrs)))
        .send()
        .await
        .map_err(|e| call_error("ec2:CreateLaunchTemplateVersion", e))?;
    let version = out.launch_template_version.and_then(|v| v.version_number).unwrap_or_default();
    ec2.modify_launch_template()
        .launch_template_id(&o.id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(|e| call_error("ec2:ModifyLaunchTemplate", e))?;
    Ok(())
}

/// The template data the file asks for, with references resolved to live ids.
fn request_data(cx: &Cx, d: &Desired) -> Result<ec2t::RequestLaunchTemplateData, StepError> {
    let f = cx.stack.fleet.as_ref().ok_or_else(|| StepError::new("plan", "the stack has no `fleet`"))?;
    let a = &d.attrs;
    let s = |k: &str| attr(a, k).and_then(Value::as_str).unwrap_or_default().to_string();
    let groups: Vec<String> = attr(a, "security_groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|g| cx.id_in(g))
        .collect::<Result<_, _>>()?;
    let instance_tags = to_tags(&tags_from(attr(a, "instance_tags")));
    let spec = |kind| {
        ec2t::LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(kind)
            .set_tags(Some(instance_tags.clone()))
            .build()
    };
    let volume = ec2t::LaunchTemplateEbsBlockDeviceRequest::builder()
        .volume_size(i32::try_from(f.root_volume.size_gb).unwrap_or(8))
        .volume_type(ec2t::VolumeType::from(f.root_volume.volume_type.as_str()))
        .encrypted(f.root_volume.encrypted)
        .delete_on_termination(true)
        .build();
    let mut data = ec2t::RequestLaunchTemplateData::builder()
        .instance_type(ec2t::InstanceType::from(s("instance_type").as_str()))
        .image_id(s("image_id"))
        .metadata_options(
            ec2t::LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(ec2t::LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_tokens(if f.require_imdsv2.is_on() {
                    ec2t::LaunchTemplateHttpTokensState::Required
                } else {
                    ec2t::LaunchTemplateHttpTokensState::Optional
                })
                .http_put_response_hop_limit(1)
                .build(),
        )
        .block_device_mappings(
            ec2t::LaunchTemplateBlockDeviceMappingRequest::builder().device_name(ROOT_DEVICE).ebs(volume).build(),
        )
        .set_security_group_ids(Some(groups))
        .tag_specifications(spec(ec2t::ResourceType::Instance))
        .tag_specifications(spec(ec2t::ResourceType::Volume));
    if let Some(u) = &f.user_data {
        let values = crate::resources::app_env::resolve(cx, attr(a, "stack_values").unwrap_or(&Value::Null))?;
        let values: BTreeMap<String, String> = serde_json::from_value(values).unwrap_or_default();
        let rendered = crate::resources::app_env::render(&u.content, &values);
        data = data.user_data(base64::engine::general_purpose::STANDARD.encode(rendered.as_bytes()));
    }
    if let Some(profile) = attr(a, "instance_profile").and_then(Value::as_str) {
        data = data.iam_instance_profile(
            ec2t::LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(profile).build(),
        );
    }
    Ok(data.build())
}

/// The default version's data in the same shape as the desired attributes.
fn observed_attrs(snap: &crate::resources::ec2::Snapshot, d: &ec2t::ResponseLaunchTemplateData) -> Attrs {
    let user_data = d.user_data.as_deref().map(|b64| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec());
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let metadata = d.metadata_options.as_ref().map_or(Value::Null, |m| {
        json!({"http_endpoint": m.http_endpoint.as_ref().map(|e| e.as_str()),
               "http_tokens": m.http_tokens.as_ref().map(|t| t.as_str()),
               "hop_limit": m.http_put_response_hop_limit})
    });
    let root =
        d.block_device_mappings().iter().find(|b| b.device_name() == Some(ROOT_DEVICE)).map_or(Value::Null, |b| {
            let e = b.ebs.as_ref();
            json!({"device": ROOT_DEVICE, "size_gb": e.and_then(|e| e.volume_size),
               "type": e.and_then(|e| e.volume_type.as_ref()).map(|t| t.as_str()),
               "encrypted": e.and_then(|e| e.encrypted).unwrap_or(false)})
        });
    let profile = d
        .iam_instance_profile
        .as_ref()
        .and_then(|p| p.name.clone().or_else(|| p.arn.as_ref().and_then(|a| a.rsplit('/').next().map(String::from))));
    let mut groups: Vec<String> = d
        .security_group_ids()
        .iter()
        .map(|id| snap.addr_of(id).map_or_else(|| id.clone(), |a| a.to_string()))
        .collect();
    groups.sort();
    let instance_tags: BTreeMap<String, String> = d
        .tag_specifications()
        .iter()
        .find(|t| t.resource_type == Some(ec2t::ResourceType::Instance))
        .map(|t| tags_of(t.tags()))
        .unwrap_or_default();
    let mut a = Attrs::new();
    a.insert("instance_type".into(), json!(d.instance_type.as_ref().map(|t| t.as_str())));
    a.insert("image_id".into(), json!(d.image_id));
    let (script, values) = match user_data.as_deref() {
        Some(u) => {
            let (script, values) = crate::resources::app_env::parse(u);
            (Some(script), values)
        }
        None => (None, BTreeMap::new()),
    };
    a.insert("user_data".into(), user_data_attr(script.as_deref()));
    a.insert("stack_values".into(), json!(values));
    a.insert("metadata".into(), metadata);
    a.insert("root_volume".into(), root);
    a.insert("instance_profile".into(), json!(profile));
    a.insert("security_groups".into(), json!(groups));
    a.insert("instance_tags".into(), tags_value(&instance_tags));
    a
}

#[cfg(test)]
mod metadata_tests {
    use super::metadata;
    use bumarket_stack::Loosenable;

    #[test]
    fn instances_require_imdsv2_unless_the_file_says_why_not() {
        let text = "stack: s\nregion: ap-northeast-2\nnetwork: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24]}\nfleet: {instance_type: t3.micro}\n";
        let stack = bumarket_stack::parse(std::path::Path::new("s.yaml"), text).unwrap();
        let mut f = stack.fleet.unwrap();
        assert_eq!(metadata(&f)["http_tokens"], "required");
        f.require_imdsv2 = Loosenable::Off { reason: "the app reads credentials with IMDSv1".into() };
        assert_eq!(metadata(&f)["http_tokens"], "optional");
    }
}
