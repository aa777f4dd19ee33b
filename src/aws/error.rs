//! SDK errors → [`StepError`]: the AWS call that failed and AWS's own message, plus the
//! error code for matching (`NoSuchBucket`, `NoSuchEntity`, ...).

use crate::apply::StepError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub type CallResult<T> = Result<T, StepError>;

/// Describe a failed call as `call` plus AWS's code and message.
pub fn call_error<E, R>(call: &str, err: SdkError<E, R>) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let message = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("HTTP {} with an answer that could not be read", se.raw().status_u16()),
            }
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    StepError::new(call, message)
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
