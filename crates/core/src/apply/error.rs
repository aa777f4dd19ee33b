//! What can go wrong in one step, as data: which AWS operation (or which step of the
//! tool), AWS's error code and HTTP status when AWS answered, AWS's own words, and what
//! the user can do about it. Code decides on [`StepError::code`] and the kind, never on
//! the words.

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// AWS answered with an error: its code (`NoSuchBucket`) and HTTP status.
    Aws { code: Option<String>, status: Option<u16> },
    /// No answer came: the network, the credentials, a timeout of the call itself.
    NoAnswer,
    /// A wait for AWS ran out of time.
    Timeout,
    /// AWS reports the resource failed (a load balancer `failed`, a refresh `Cancelled`).
    Failed,
    /// AWS answered, but without what the call must return (the id of what it made).
    BadAnswer,
    /// The plan asks a provider for an in-place change it cannot make: its schema and
    /// its `update` disagree (a bug of bumarket-infra, never of the stack file).
    NotInPlace,
    /// The tool's own bookkeeping: a reference not created yet, a dependency cycle.
    Plan,
}

/// A failed step, as users must see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// `service:Operation` (`s3:CreateBucket`), or what the tool was doing.
    pub call: String,
    pub kind: ErrorKind,
    /// AWS's own message, or ours.
    pub message: String,
    /// What the user can do about it, when we know.
    pub hint: Option<String>,
}

impl StepError {
    /// An error of the tool itself (not an AWS answer).
    pub fn new(call: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError::of(ErrorKind::Plan, call, message)
    }

    pub fn of(kind: ErrorKind, call: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError { call: call.into(), kind, message: message.into(), hint: None }
    }

    /// AWS answered `call` with `code` (and `status`).
    pub fn aws(
        call: impl Into<String>,
        code: Option<&str>,
        status: Option<u16>,
        message: impl Into<String>,
    ) -> StepError {
        StepError::of(ErrorKind::Aws { code: code.map(String::from), status }, call, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> StepError {
        self.hint = Some(hint.into());
        self
    }

    /// AWS's error code, when AWS answered.
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of AWS's answer, when AWS answered.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            ErrorKind::Aws { status, .. } => *status,
            _ => None,
        }
    }

    /// AWS answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// The provider cannot change this in place (see [`ErrorKind::NotInPlace`]).
    pub fn is_not_in_place(&self) -> bool {
        self.kind == ErrorKind::NotInPlace
    }

    /// AWS answered `call` without `what` (an id a create must return).
    pub fn missing(call: impl Into<String>, what: &str) -> StepError {
        StepError::of(ErrorKind::BadAnswer, call, format!("AWS answered without {what}"))
    }

    /// `what` of a resource cannot change in place: a schema bug, said as one.
    pub fn not_in_place(attribute: &str, of: &str) -> StepError {
        StepError::of(
            ErrorKind::NotInPlace,
            "plan",
            format!("`{attribute}` of {of} cannot be changed in place, yet the plan says it can (a bug of bumarket-infra: please report it)"),
        )
    }
}

/// `call: Code: message`; the hint is not part of it (see [`StepError::hint`]), so it can
/// be shown on its own line.
impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.call)?;
        match self.code() {
            Some(code) if !self.message.is_empty() => write!(f, "{code}: {}", self.message),
            Some(code) => f.write_str(code),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for StepError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_errors_keep_code_status_and_call_as_data() {
        let e = StepError::aws("iam:CreateRole", Some("AccessDenied"), Some(403), "not authorized").hint("ask");
        assert_eq!((e.code(), e.status(), e.call.as_str()), (Some("AccessDenied"), Some(403), "iam:CreateRole"));
        assert!(e.is_code("AccessDenied") && !e.is_code("Throttling"));
        assert_eq!(e.to_string(), "iam:CreateRole: AccessDenied: not authorized");
        let plain = StepError::new("plan", "`vpc.main` does not exist (yet)");
        assert_eq!((plain.code(), plain.to_string().as_str()), (None, "plan: `vpc.main` does not exist (yet)"));
        let source: &dyn std::error::Error = &e;
        assert!(source.source().is_none());
    }
}
