//! The shared `cel` environment and evaluation.

use crate::functions::{self, IpVal};
use crate::state::{EvalState, Guard};
use crate::values::{self, Borrow, BoxVal, Proj};
use crate::{EvalError, Expression, Input, Outcome, Subject};
use cel::{Context, Env, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("strings extension");
    functions::register(&mut env).expect("Chamberlain functions");
    Arc::new(env)
});

pub(crate) fn env() -> &'static Env {
    &ENV
}

fn missing(name: &str) -> EvalError {
    EvalError::Runtime(format!(
        "the expression reads `{name}`, which this evaluation does not provide"
    ))
}

/// Converts the variables the expression reads, borrowing from the input.
fn bind<'v>(
    ctx: &mut Context<'_, 'v>,
    name: &'static str,
    proj: &Proj,
    input: &Input<'v>,
    purpose: crate::Purpose,
) -> Result<(), EvalError> {
    let manager = |id: &str| functions::manager_email(id);
    let val: BoxVal<'v> = match name {
        "subject" => match &input.subject {
            Some(Subject::User(u)) => values::user(u, proj, &Borrow, &manager),
            Some(Subject::Account(a)) => values::app_user(a, proj, &Borrow),
            None => return Err(missing(name)),
        },
        "account" => values::app_user(input.account.ok_or_else(|| missing(name))?, proj, &Borrow),
        "entitlement" => values::entitlement(
            input.entitlement.ok_or_else(|| missing(name))?,
            proj,
            &Borrow,
        ),
        "task" => values::json(input.task.ok_or_else(|| missing(name))?, proj, &Borrow),
        "ctx" => values::json(input.ctx.ok_or_else(|| missing(name))?, proj, &Borrow),
        "ip" => Box::new(IpVal(input.ip.ok_or_else(|| missing(name))?)),
        "appOwners" => {
            let owners = input.app_owners.ok_or_else(|| missing(name))?;
            let elem = proj_elem(proj);
            Box::new(cel::common::types::CelList::from(
                owners
                    .iter()
                    .map(|u| values::user(u, elem, &Borrow, &manager))
                    .collect::<Vec<_>>(),
            ))
        }
        _ => return Err(missing(name)),
    };
    // The subject's kind must be the one the purpose declares.
    if name == "subject" {
        let want_user =
            purpose.variable("subject") == Some(crate::types::Ty::Obj(crate::types::Obj::User));
        let is_user = matches!(input.subject, Some(Subject::User(_)));
        if want_user != is_user {
            return Err(EvalError::Runtime(format!(
                "{} expressions take a {} as `subject`",
                purpose.name(),
                if want_user { "User" } else { "AppUser" }
            )));
        }
    }
    ctx.add_variable_as_val(name, val);
    Ok(())
}

/// Lists are read whole (element projections are not tracked).
fn proj_elem(_p: &Proj) -> &'static Proj {
    &values::WHOLE
}

pub(crate) fn evaluate(x: &Expression, input: &Input<'_>) -> Result<Outcome, EvalError> {
    let inner = &*x.inner;
    let budget = &inner.budget;
    let now = input.now.map(crate::timefns::from_time);
    let state = EvalState {
        directory: input.directory,
        now: Cell::new(now),
        deadline: Instant::now() + budget.max_eval_time,
        budget,
        need_manager: inner.need_manager,
        ticks: Cell::new(0),
        failure: RefCell::new(None),
        memo: RefCell::new(HashMap::new()),
        lookups: Cell::new(0),
    };
    let guard = Guard::enter(&state);
    // Budget and lookup failures unwind to here (see `EvalState::fail`); so would a panic in
    // the interpreter, which must not take the caller down.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<Value, EvalError> {
            let mut ctx = Context::with_env(ENV.clone());
            for (name, proj) in &inner.vars {
                bind(&mut ctx, name, proj, input, inner.purpose)?;
            }
            let v = Value::resolve_val(&inner.expr, &ctx)
                .map_err(|e| EvalError::Runtime(e.to_string()))?;
            to_value(v.as_ref()).map_err(EvalError::Runtime)
        },
    ));
    drop(guard);
    if let Some(f) = state.failure.borrow_mut().take() {
        return Err(f);
    }
    match result {
        Ok(r) => r.map(Outcome),
        Err(_) => Err(EvalError::Runtime(
            "the expression could not be evaluated (internal error in the CEL interpreter)"
                .to_owned(),
        )),
    }
}

/// An owned copy of a result (IP and CIDR values become their string forms).
fn to_value(v: &dyn cel::common::value::Val) -> Result<Value, String> {
    if let Some(ip) = v.downcast_ref::<IpVal>() {
        return Ok(Value::String(Arc::new(ip.0.to_string())));
    }
    if let Some(c) = v.downcast_ref::<functions::CidrVal>() {
        return Ok(Value::String(Arc::new(c.to_string())));
    }
    if *v.get_type() == cel::common::types::LIST_TYPE {
        if let Some(it) = v.as_iterable() {
            let mut out = Vec::new();
            let mut i = it.iter();
            while let Some(item) = i.next() {
                out.push(to_value(item)?);
            }
            return Ok(Value::List(Arc::new(out)));
        }
    }
    Value::try_from(v).map_err(|e| e.to_string())
}
