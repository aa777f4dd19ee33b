//! Waiting for AWS: poll until a condition holds, showing what is awaited, and give up
//! with a clear message after the timeout the stack file sets. Load balancers, instances
//! and instance refreshes take minutes on AWS; the emulator answers at once, so the
//! waits themselves are tested with canned answers (`aws-smithy-mocks`).

use crate::apply::{ErrorKind, StepError};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// An unchanged state is told again after this long, so a long wait shows it is alive.
const RETELL: Duration = Duration::from_secs(60);

/// One look at the thing awaited.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the words say what is awaited ("1/2 healthy targets").
    Pending(String),
}

/// Poll `look` every `every` until it is ready or `timeout` has passed, telling `say`
/// each new state at once and an unchanged one again every minute.
pub async fn until<T, F, Fut>(
    say: &(dyn Fn(String) + Send + Sync),
    what: &str,
    timeout: Duration,
    every: Duration,
    mut look: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, StepError>>,
{
    let started = Instant::now();
    let mut last: Option<(String, Instant)> = None;
    loop {
        match look().await? {
            Poll::Ready(t) => return Ok(t),
            Poll::Pending(state) => {
                if started.elapsed() >= timeout {
                    return Err(StepError::of(
                        ErrorKind::Timeout,
                        format!("waiting for {what}"),
                        format!("not done after {} s: {state}", timeout.as_secs()),
                    )
                    .hint("raise `wait_timeout` in the stack file, or look at the resource in the AWS console; running apply again continues"));
                }
                if last.as_ref().is_none_or(|(s, at)| *s != state || at.elapsed() >= RETELL) {
                    say(format!("waiting for {what}: {state} ({} s)", started.elapsed().as_secs()));
                    last = Some((state, Instant::now()));
                }
                // The last look comes at the deadline, not a whole interval after it.
                tokio::time::sleep(every.min(timeout.saturating_sub(started.elapsed()))).await;
            }
        }
    }
}

/// Run `call` and try it again every `every` while it fails with `code` and what it
/// hands a service (a new role, an instance profile) is younger than `limit`, by `age`
/// (`None`: unknown, so the error stands). IAM is eventually consistent ("Changes that I
/// make are not always immediately visible", IAM user guide): services refuse what they
/// cannot see yet, in words only, so the words are not read: the code and the age are.
/// `say` tells each wait with the age it saw.
pub async fn while_propagating<F, Fut, A, AFut>(
    code: &str,
    limit: Duration,
    every: Duration,
    say: &(dyn Fn(Duration) + Send + Sync),
    mut age: A,
    mut call: F,
) -> Result<(), StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StepError>>,
    A: FnMut() -> AFut,
    AFut: Future<Output = Result<Option<Duration>, StepError>>,
{
    loop {
        let e = match call().await {
            Err(e) if e.is_code(code) => e,
            other => return other,
        };
        match age().await? {
            Some(a) if a < limit => say(a),
            _ => return Err(e),
        }
        tokio::time::sleep(every).await;
    }
}
