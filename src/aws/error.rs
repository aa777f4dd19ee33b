//! SDK errors → [`StepError`]: the AWS operation that failed, AWS's error code and HTTP
//! status as data (code decides on them, never on words), and AWS's own message.

use crate::apply::{ErrorKind, StepError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub type CallResult<T> = Result<T, StepError>;

/// Describe a failed call as `call` plus AWS's code and message.
pub fn call_error<E, R>(call: &str, err: SdkError<E, R>) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let status = se.raw().status_u16();
            let message = match (e.code(), e.message()) {
                (_, Some(m)) => m.to_string(),
                (Some(_), None) => String::new(),
                // S3 answers HEAD requests without a body (HeadBucket: "a generic 400 Bad
                // Request, 403 Forbidden or 404 Not Found").
                (None, None) if status == 403 => "HTTP 403 Forbidden: access denied (the answer has no body)".into(),
                (None, None) => format!("HTTP {status} with an answer that could not be read"),
            };
            StepError::aws(call, e.code(), Some(status), message)
        }
        _ => StepError::of(ErrorKind::NoAnswer, call, readable_chain(&err)),
    }
}

/// An error and its causes in words, `a: b: c`. Some SDK errors print their cause's
/// debug dump (raw HTTP answers and all) in their own text: such links are left out,
/// as are causes the previous text already says.
fn readable_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        let text = text.split(" (").next().unwrap_or_default().trim().to_string();
        let debug_dump = text.contains(" { ") || text.contains("Some(");
        if !text.is_empty() && !debug_dump && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    if parts.is_empty() {
        return DisplayErrorContext(err).to_string();
    }
    parts.join(": ")
}

/// True when the call failed with this AWS error code.
pub fn is_code<E, R>(err: &SdkError<E, R>, code: &str) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some(code)
}

/// The HTTP status of a service error, if any.
pub fn status<E, R: HasStatus>(err: &SdkError<E, R>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status_u16()),
        _ => None,
    }
}

/// Raw responses that know their HTTP status.
pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

#[cfg(test)]
mod tests {
    use super::readable_chain;

    #[derive(Debug)]
    struct Link(&'static str, Option<Box<Link>>);

    impl std::fmt::Display for Link {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Link {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn causes_read_as_words_without_debug_dumps_or_repeats() {
        let leaf = Link("request forbidden: IMDS is disabled", None);
        let dump =
            Link("ProviderError { source: FailedToLoadToken { raw: Response { status: 403 } } }", Some(leaf.into()));
        let repeat = Link("failed to load IMDS session token (ProviderError(ProviderError { .. }))", Some(dump.into()));
        let top = Link("dispatch failure", Some(Link("failed to load IMDS session token", Some(repeat.into())).into()));
        assert_eq!(
            readable_chain(&top),
            "dispatch failure: failed to load IMDS session token: request forbidden: IMDS is disabled"
        );
    }
}
