//! The driver's retry policy: its default, plus one retry on another node of an
//! idempotent request that timed out.
//!
//! The default policy (`DefaultRetryPolicy`) retries a write timeout only for a logged
//! batch's batch-log write, and a read timeout only when enough replicas answered but
//! without data. That is cautious for writes the driver cannot know are safe to repeat,
//! but every statement here that may run twice is marked idempotent
//! (`statements.rs`): a plain write of the same values, a read, or a claim whose caller
//! recognises its own value when the claim comes back as not applied
//! (`store::timeline`). For those, a timeout while a replica dies or restarts (the
//! coordinator still counts it alive, or the machine is starved while its JVM starts)
//! is an answer QUORUM could still give: the fault bench (`bench/faults.sh`) saw 13 sends
//! refused that way. So an idempotent request that times out is tried once more, on the
//! next node of the plan (whose view of the ring may be fresher). A request that is not
//! idempotent keeps the default behaviour.

use scylla::errors::{DbError, RequestAttemptError, WriteType};
use scylla::policies::retry::{DefaultRetryPolicy, RequestInfo, RetryDecision, RetryPolicy, RetrySession};

#[derive(Debug, Default)]
pub(crate) struct IdempotentTimeoutRetry;

impl RetryPolicy for IdempotentTimeoutRetry {
    fn new_session(&self) -> Box<dyn RetrySession> {
        Box::new(Session { default: DefaultRetryPolicy::new().new_session(), timeout_retried: false })
    }
}

struct Session {
    default: Box<dyn RetrySession>,
    timeout_retried: bool,
}

impl RetrySession for Session {
    fn decide_should_retry(&mut self, request: RequestInfo) -> RetryDecision {
        match decide(request.error, request.is_idempotent, &mut self.timeout_retried) {
            Some(decision) => decision,
            None => self.default.decide_should_retry(request),
        }
    }

    fn reset(&mut self) {
        self.default.reset();
        self.timeout_retried = false;
    }
}

/// `Some` when this policy decides; `None` leaves the decision to the default policy.
fn decide(error: &RequestAttemptError, idempotent: bool, timeout_retried: &mut bool) -> Option<RetryDecision> {
    let RequestAttemptError::DbError(db_error, _) = error else { return None };
    let timed_out = match db_error {
        DbError::WriteTimeout { write_type, .. } => *write_type != WriteType::Counter,
        DbError::ReadTimeout { .. } => true,
        _ => false,
    };
    if !timed_out || !idempotent {
        return None;
    }
    if *timeout_retried {
        return Some(RetryDecision::DontRetry);
    }
    *timeout_retried = true;
    Some(RetryDecision::RetryNextTarget(None))
}

#[cfg(test)]
mod tests {
    use scylla::statement::Consistency;

    use super::*;

    fn write_timeout(write_type: WriteType) -> RequestAttemptError {
        RequestAttemptError::DbError(
            DbError::WriteTimeout { consistency: Consistency::LocalQuorum, received: 1, required: 2, write_type },
            "timed out".into(),
        )
    }

    fn read_timeout() -> RequestAttemptError {
        RequestAttemptError::DbError(
            DbError::ReadTimeout {
                consistency: Consistency::LocalQuorum,
                received: 1,
                required: 2,
                data_present: false,
            },
            "timed out".into(),
        )
    }

    #[test]
    fn an_idempotent_request_that_times_out_is_tried_once_more_on_another_node() {
        for error in [write_timeout(WriteType::Simple), write_timeout(WriteType::Cas), read_timeout()] {
            let mut retried = false;
            assert_eq!(decide(&error, true, &mut retried), Some(RetryDecision::RetryNextTarget(None)), "{error}");
            assert_eq!(decide(&error, true, &mut retried), Some(RetryDecision::DontRetry), "{error}: only once");
        }
    }

    #[test]
    fn other_requests_and_errors_are_left_to_the_default_policy() {
        let mut retried = false;
        assert_eq!(decide(&write_timeout(WriteType::Simple), false, &mut retried), None, "not idempotent");
        assert_eq!(decide(&write_timeout(WriteType::Counter), true, &mut retried), None, "a counter");
        let invalid = RequestAttemptError::DbError(DbError::Invalid, "bad".into());
        assert_eq!(decide(&invalid, true, &mut retried), None);
        assert!(!retried);
    }
}
