//! Wave one of every read: what the stack owns, listed once per service and shared by all
//! providers. The tagging API returns every taggable resource carrying the stack's tag in
//! one paginated call; IAM lists the roles, groups and instance profiles under the stack's
//! IAM path while it reads the file's IAM names by name (see `iam::Snapshot::fetch`: never
//! the rest of the account); EC2's describes filtered by the stack's tag return the
//! network and launch templates; SSM resolves the fleet's image. Each is fetched at most
//! once per run, and only when the stack has a section that needs it.

use super::{ec2, iam, TAG_STACK};
use crate::apply::StepError;
use crate::aws::{call_error, Aws};
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

/// A resource the tagging API reports as the stack's.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

pub struct Live {
    aws: Aws,
    stack: String,
    /// The stack has a network or fleet: EC2 is read.
    uses_ec2: bool,
    /// The SSM parameter naming the fleet's image, if any.
    image_parameter: Option<String>,
    tagged: OnceCell<Result<Vec<Tagged>, StepError>>,
    /// The file's IAM names, read by name beside the listings.
    iam_wanted: iam::Wanted,
    iam: OnceCell<Result<iam::Snapshot, StepError>>,
    ec2: OnceCell<Result<ec2::Snapshot, StepError>>,
    image: OnceCell<Result<Option<String>, StepError>>,
}

impl Live {
    pub fn new(aws: Aws, stack: &bumarket_stack::Stack) -> Live {
        let image_parameter = stack.fleet.as_ref().and_then(|f| match &f.image {
            bumarket_stack::Image::SsmParameter(p) => Some(p.clone()),
            bumarket_stack::Image::Ami(_) => None,
        });
        Live {
            aws,
            stack: stack.name.clone(),
            uses_ec2: stack.network.is_some() || stack.fleet.is_some(),
            image_parameter,
            tagged: OnceCell::new(),
            iam_wanted: iam::Wanted::of(stack),
            iam: OnceCell::new(),
            ec2: OnceCell::new(),
            image: OnceCell::new(),
        }
    }

    /// Start every listing the stack needs (call concurrently with the rest of wave one).
    pub async fn prefetch(&self) -> Result<(), StepError> {
        let ec2 = async {
            if self.uses_ec2 {
                self.ec2().await.map(drop)
            } else {
                Ok(())
            }
        };
        let (a, b, c, d) = tokio::join!(self.tagged(), self.iam(), ec2, self.image());
        a?;
        b?;
        c?;
        d?;
        Ok(())
    }

    /// The stack's EC2 resources (network, launch templates). A stack whose file has no
    /// EC2 section and that owns nothing in EC2 (by the tagging list) costs no call.
    pub async fn ec2(&self) -> Result<&ec2::Snapshot, StepError> {
        let r = self
            .ec2
            .get_or_init(|| async {
                if !self.uses_ec2 && !self.owns_any("ec2").await? {
                    return Ok(ec2::Snapshot::default());
                }
                ec2::Snapshot::fetch(&self.aws, &self.stack).await
            })
            .await;
        r.as_ref().map_err(Clone::clone)
    }

    /// Whether the tagging list has any resource of this service (`ec2`, `rds`, ...) tagged
    /// with the stack: what a file without that section may still own (a section just
    /// removed), so its readers know whether to look at all.
    pub async fn owns_any(&self, service: &str) -> Result<bool, StepError> {
        let marker = format!(":{service}:");
        Ok(self.tagged().await?.iter().any(|t| t.arn.contains(&marker)))
    }

    /// The fleet's image id from its SSM public parameter (`None` without one).
    pub async fn image(&self) -> Result<Option<String>, StepError> {
        let r = self
            .image
            .get_or_init(|| async {
                let Some(name) = &self.image_parameter else { return Ok(None) };
                let out = self.aws.ssm.get_parameter().name(name).send().await.map_err(|e| {
                    crate::aws::call_error("ssm:GetParameter", e)
                        .hint(format!("the fleet's image parameter `{name}` must exist in this region"))
                })?;
                Ok(out.parameter.and_then(|p| p.value))
            })
            .await;
        r.clone()
    }

    /// Everything tagged `bumarket-infra:stack=<stack>` in the region.
    pub async fn tagged(&self) -> Result<&[Tagged], StepError> {
        let r = self.tagged.get_or_init(|| fetch_tagged(&self.aws, &self.stack)).await;
        r.as_deref().map_err(Clone::clone)
    }

    /// The address tagged on a resource the tagging API listed (ALB, target group, ...).
    pub async fn addr_of_arn(&self, arn: &str) -> Result<Option<crate::engine::Addr>, StepError> {
        Ok(self
            .tagged()
            .await?
            .iter()
            .find(|t| t.arn == arn)
            .and_then(|t| t.tags.get(super::TAG_RESOURCE))
            .and_then(|a| crate::engine::Addr::parse(a).ok()))
    }

    /// The stack's IAM roles, groups and instance profiles (under its path), and those
    /// of the names the file wants wherever they live.
    pub async fn iam(&self) -> Result<&iam::Snapshot, StepError> {
        let r = self.iam.get_or_init(|| iam::Snapshot::fetch(&self.aws, &self.stack, &self.iam_wanted)).await;
        r.as_ref().map_err(Clone::clone)
    }
}

async fn fetch_tagged(aws: &Aws, stack: &str) -> Result<Vec<Tagged>, StepError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let filter = TagFilter::builder().key(TAG_STACK).values(stack).build();
    let mut out = Vec::new();
    // 100 per page (the most AWS allows) keeps a whole stack in one answer.
    let mut pages = aws.tagging.get_resources().tag_filters(filter).resources_per_page(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("tagging:GetResources", e))?;
        for m in page.resource_tag_mapping_list.unwrap_or_default() {
            let tags = m.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect();
            out.push(Tagged { arn: m.resource_arn.unwrap_or_default(), tags });
        }
    }
    Ok(out)
}
