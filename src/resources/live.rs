//! Wave one of every read: what the stack owns, listed once per service and shared by all
//! providers. The tagging API returns every taggable resource carrying the stack's tag in
//! one paginated call; IAM's authorization details return every role and group with their
//! policies and tags in another. Each is fetched at most once per run.

use super::{iam, TAG_STACK};
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
    tagged: OnceCell<Result<Vec<Tagged>, StepError>>,
    iam: OnceCell<Result<iam::Snapshot, StepError>>,
}

impl Live {
    pub fn new(aws: Aws, stack: &str) -> Live {
        Live { aws, stack: stack.to_string(), tagged: OnceCell::new(), iam: OnceCell::new() }
    }

    /// Start both listings (call concurrently with anything else of wave one).
    pub async fn prefetch(&self) -> Result<(), StepError> {
        let (a, b) = tokio::join!(self.tagged(), self.iam());
        a?;
        b?;
        Ok(())
    }

    /// Everything tagged `bumarket-infra:stack=<stack>` in the region.
    pub async fn tagged(&self) -> Result<&[Tagged], StepError> {
        let r = self.tagged.get_or_init(|| fetch_tagged(&self.aws, &self.stack)).await;
        r.as_deref().map_err(Clone::clone)
    }

    /// Every IAM role and group of the account, and the stack's instance profiles.
    pub async fn iam(&self) -> Result<&iam::Snapshot, StepError> {
        let r = self.iam.get_or_init(|| iam::Snapshot::fetch(&self.aws, &self.stack)).await;
        r.as_ref().map_err(Clone::clone)
    }
}

async fn fetch_tagged(aws: &Aws, stack: &str) -> Result<Vec<Tagged>, StepError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let filter = TagFilter::builder().key(TAG_STACK).values(stack).build();
    let mut out = Vec::new();
    let mut pages = aws.tagging.get_resources().tag_filters(filter).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| call_error("tagging:GetResources", e))?;
        for m in page.resource_tag_mapping_list.unwrap_or_default() {
            let tags = m.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect();
            out.push(Tagged { arn: m.resource_arn.unwrap_or_default(), tags });
        }
    }
    Ok(out)
}
