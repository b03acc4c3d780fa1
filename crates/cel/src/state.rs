//! Per-evaluation state the functions read: the directory and its memo, `now`, the deadline.
//!
//! The `cel` crate calls overloads as plain `fn`s without a user context, so the state of the
//! evaluation running on this thread is reached through a thread-local pointer, set for exactly
//! the duration of [`Expression::evaluate`](crate::Expression::evaluate) by a guard on its stack.

use crate::{Budget, Directory, EvalError};
use chamberlain_model::app::AppUser;
use chamberlain_model::user::User;
use chrono::{DateTime, FixedOffset};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MemoKey {
    User(String),
    UserByEmail(String),
    DirectReports(String),
    AppUsers(String, String),
    HasEntitlement(String, String, String),
    Members(String, String),
}

#[derive(Clone)]
pub(crate) enum Memo {
    User(Option<Arc<User>>),
    Users(Arc<Vec<User>>),
    AppUsers(Arc<Vec<AppUser>>),
    Bool(bool),
}

pub(crate) struct EvalState<'a> {
    pub directory: Option<&'a dyn Directory>,
    /// `now()`: the input's time, else the clock read at the first call (constant afterwards).
    pub now: Cell<Option<DateTime<FixedOffset>>>,
    pub deadline: Instant,
    pub budget: &'a Budget,
    /// Whether users returned by functions need their `manager` (email) field.
    pub need_manager: bool,
    pub ticks: Cell<u64>,
    /// The first budget or lookup failure; it wins over whatever error the interpreter reports.
    pub failure: RefCell<Option<EvalError>>,
    pub memo: RefCell<HashMap<MemoKey, Memo>>,
    /// Directory calls made (not answered from the memo).
    pub lookups: Cell<u64>,
}

impl<'a> EvalState<'a> {
    /// Records the failure and stops the evaluation at once: it unwinds (without the panic
    /// hook) to [`Expression::evaluate`](crate::Expression::evaluate), which reports the
    /// failure. Returning an error instead would let `all()`/`exists()` keep iterating (they
    /// defer errors, as CEL requires), so a budget would not stop a large comprehension.
    pub(crate) fn fail(&self, e: EvalError) -> cel::ExecutionError {
        {
            let mut f = self.failure.borrow_mut();
            if f.is_none() {
                *f = Some(e);
            }
        }
        std::panic::resume_unwind(Box::new(Abort))
    }

    pub(crate) fn now(&self) -> DateTime<FixedOffset> {
        match self.now.get() {
            Some(t) => t,
            None => {
                let t = chrono::Utc::now().fixed_offset();
                self.now.set(Some(t));
                t
            }
        }
    }

    /// Called on every function call and comprehension step: checks the deadline (every few
    /// calls, the clock is not free) and the step count.
    pub(crate) fn tick(&self) -> Result<(), cel::ExecutionError> {
        let n = self.ticks.get() + 1;
        self.ticks.set(n);
        if n > self.budget.max_steps {
            return Err(self.fail(EvalError::Budget(format!(
                "the expression took more than {} steps",
                self.budget.max_steps
            ))));
        }
        if n & 15 == 0 && Instant::now() > self.deadline {
            return Err(self.fail(EvalError::Budget(format!(
                "the expression ran longer than {} ms",
                self.budget.max_eval_time.as_millis()
            ))));
        }
        Ok(())
    }

    pub(crate) fn directory(
        &self,
        function: &str,
    ) -> Result<&'a dyn Directory, cel::ExecutionError> {
        self.directory.ok_or_else(|| {
            self.fail(EvalError::Lookup(format!(
                "{function} needs directory data, and this evaluation has none"
            )))
        })
    }

    /// A memoized directory lookup.
    pub(crate) fn lookup(
        &self,
        function: &str,
        key: MemoKey,
        f: impl FnOnce(&dyn Directory) -> Result<Memo, crate::LookupError>,
    ) -> Result<Memo, cel::ExecutionError> {
        self.tick()?;
        if let Some(m) = self.memo.borrow().get(&key) {
            return Ok(m.clone());
        }
        let dir = self.directory(function)?;
        self.lookups.set(self.lookups.get() + 1);
        let m = f(dir).map_err(|e| self.fail(EvalError::Lookup(format!("{function}: {e}"))))?;
        self.memo.borrow_mut().insert(key, m.clone());
        Ok(m)
    }
}

/// The unwind payload of [`EvalState::fail`].
pub(crate) struct Abort;

thread_local! {
    static CURRENT: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Makes `state` the current evaluation's state until dropped (restoring the previous one, so
/// evaluations may nest, e.g. a directory that evaluates CEL itself).
pub(crate) struct Guard {
    previous: *const (),
}

impl Guard {
    pub(crate) fn enter(state: &EvalState<'_>) -> Guard {
        let ptr = state as *const EvalState<'_> as *const ();
        let previous = CURRENT.with(|c| c.replace(ptr));
        Guard { previous }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Runs `f` with the current evaluation's state; an error when no evaluation is running (a
/// function called outside `Expression::evaluate`).
pub(crate) fn with<R>(
    f: impl for<'s> FnOnce(&'s EvalState<'s>) -> Result<R, cel::ExecutionError>,
) -> Result<R, cel::ExecutionError> {
    let ptr = CURRENT.with(|c| c.get());
    if ptr.is_null() {
        return Err(cel::ExecutionError::function_error(
            "chamberlain",
            "Chamberlain functions can only run inside Expression::evaluate",
        ));
    }
    // SAFETY: the pointer was set by `Guard::enter` from a reference to an `EvalState` that
    // lives on the stack of `Expression::evaluate` for longer than the guard, and the guard
    // resets it before that frame returns. Functions run synchronously on this thread inside
    // that frame, so the state is alive. `f` is generic over the lifetime, so nothing borrowed
    // from the state can escape the call.
    let state: &EvalState<'_> = unsafe { &*(ptr as *const EvalState<'_>) };
    f(state)
}
