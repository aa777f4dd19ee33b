//! Waiting for AWS: poll until a condition holds, showing what is awaited, and give up
//! with a clear message after the timeout the stack file sets. Load balancers, instances
//! and instance refreshes take minutes on AWS; the emulator answers at once, so the
//! waits themselves are tested with canned answers (`aws-smithy-mocks`).

use crate::apply::{Progress, StepError};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// One look at the thing awaited.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the words say what is awaited ("1/2 healthy targets").
    Pending(String),
}

/// Poll `look` every `every` until it is ready or `timeout` has passed.
pub async fn until<T, F, Fut>(
    p: &Progress<'_>,
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
    let mut last = String::new();
    loop {
        match look().await? {
            Poll::Ready(t) => return Ok(t),
            Poll::Pending(state) => {
                if started.elapsed() >= timeout {
                    return Err(StepError::new(
                        format!("waiting for {what}"),
                        format!("not done after {} s: {state}", timeout.as_secs()),
                    )
                    .hint("raise `wait_timeout` in the stack file, or look at the resource in the AWS console; running apply again continues"));
                }
                if state != last {
                    p.say(format!("waiting for {what}: {state} ({} s)", started.elapsed().as_secs()));
                    last = state;
                }
                tokio::time::sleep(every).await;
            }
        }
    }
}
