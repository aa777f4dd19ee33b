//! `cloud9:` – an optional Cloud9 EC2 environment for the team, in a public subnet.
//!
//! AWS stopped onboarding new Cloud9 customers in 2024; accounts that already use it keep
//! it, so the section stays optional. Members of one `access.groups` entry share it.

use super::{reference, requires, Known};
use crate::model::Cloud9;
use crate::names::is_instance_type;
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};

const IMAGES: &[&str] =
    &["amazonlinux-2023-x86_64", "amazonlinux-2-x86_64", "ubuntu-22.04-x86_64", "ubuntu-18.04-x86_64"];
const SSM_IMAGES: &str = "resolve:ssm:/aws/service/cloud9/amis/";

pub(crate) static SHAPE: Shape = Shape::new(
    "cloud9",
    "A Cloud9 EC2 environment for the team, in a public subnet.",
    &[
        key("name", Ty::Str, "1-60 characters; `<stack>-ide` by default."),
        key("instance_type", Ty::Pattern(super::fleet::INSTANCE_TYPE), "The EC2 instance type, `family.size`.")
            .str("t3.small"),
        key("automatic_stop_minutes", Ty::Int(30, 20_160), "Minutes without use before the instance stops.").int(30),
        key(
            "image_id",
            Ty::AnyOf(&[Ty::Enum(IMAGES), Ty::Pattern("^resolve:ssm:/aws/service/cloud9/amis/")]),
            "One of Cloud9's images, or `resolve:ssm:/aws/service/cloud9/amis/...`.",
        )
        .str("amazonlinux-2023-x86_64"),
        key("subnet", Ty::Int(0, 255), "Index into `network.public_subnets`.").int(0),
        key("members_group", Ty::Str, "An `access.groups` entry whose members share the environment."),
    ],
);

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<Cloud9> {
    let entry = top.entry("cloud9")?;
    if known.subnets.is_none() {
        requires(cx, top, "cloud9", "network", "the environment's instance runs in a public subnet");
    }
    let m = Map::shaped(cx, &entry.value, "cloud9", entry.key.span, &SHAPE);
    let name = m.string(cx, "name");
    if let Val::Got(n, span) = &name {
        let len = n.chars().count();
        if !(1..=60).contains(&len) {
            cx.error(*span, format!("Cloud9 name `{n}` is {len} characters long"), "Cloud9 allows 1 to 60");
        }
    }
    let instance_type = m.string(cx, "instance_type");
    if let Val::Got(t, span) = &instance_type {
        if !is_instance_type(t) {
            cx.error(
                *span,
                format!("`{t}` does not look like an EC2 instance type"),
                "expected `family.size`, like `t3.small`",
            );
        }
    }
    let image = m.string(cx, "image_id");
    if let Val::Got(i, span) = &image {
        if !IMAGES.contains(&i.as_str()) && !i.starts_with(SSM_IMAGES) {
            cx.not_one_of(*span, format!("invalid value `{i}` for {}", m.what("image_id")), i, IMAGES);
        }
    }
    let subnet = m.uint(cx, "subnet");
    if let (Val::Got(index, span), Some((public, _))) = (&subnet, known.subnets) {
        if *index as usize >= public {
            let message = format!(
                "`cloud9.subnet` is {index} but the network has {public} public subnet{}",
                super::plural(public)
            );
            cx.error(*span, message, format!("expected an index from 0 to {}", public.saturating_sub(1)));
        }
    }
    let group = m.string(cx, "members_group");
    if let Val::Got(g, span) = &group {
        let defined: Vec<&str> = known.groups.iter().map(String::as_str).collect();
        reference(cx, g, *span, "group", "access.groups", &defined);
    }
    Some(Cloud9 {
        name: name.get(),
        instance_type: instance_type.or(crate::shape::default_str(&SHAPE, "instance_type").into()),
        automatic_stop_minutes: m.uint_or(cx, "automatic_stop_minutes") as u32,
        image_id: image.or(crate::shape::default_str(&SHAPE, "image_id").into()),
        subnet_index: subnet.or(crate::shape::default_int(&SHAPE, "subnet")) as usize,
        members_group: group.get(),
    })
}
