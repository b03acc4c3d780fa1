//! The functions of C1's CEL environment (and Chamberlain's extensions), as `cel` overloads.
//!
//! Every overload takes `dyn` arguments: the checker has already refused calls with the wrong
//! number or obviously wrong types of arguments, so here the values are only taken apart.

use crate::state::{self, EvalState, Memo, MemoKey};
use crate::values::{self, BoxVal, Copy, WHOLE};
use crate::{timefns, EvalError};
use cel::common::types::{self as t, CelBool, CelList, CelString, CelTimestamp, Type};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{Env, ExecutionError};
use chamberlain_model::user::User;
use std::any::Any;
use std::net::IpAddr;
use std::sync::Arc;

type R<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

pub(crate) static IP_TYPE: Type = Type::new_unspecified_type("net.IP");
pub(crate) static CIDR_TYPE: Type = Type::new_unspecified_type("net.CIDR");

/// An IP address (`ip("10.0.0.1")`, the `ip` variable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IpVal(pub IpAddr);

impl Val for IpVal {
    fn get_type(&self) -> &Type {
        &IP_TYPE
    }
    fn cel_type() -> &'static Type {
        &IP_TYPE
    }
    fn equals(&self, other: &dyn Val) -> bool {
        if let Some(o) = other.downcast_ref::<IpVal>() {
            return o == self;
        }
        // `ip == "10.0.0.1"` compares the address.
        other
            .downcast_ref::<CelString>()
            .and_then(|s| s.inner().parse::<IpAddr>().ok())
            .is_some_and(|a| a == self.0)
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}
impl StaticVal for IpVal {}

/// A network (`cidr("10.0.0.0/8")`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CidrVal {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl CidrVal {
    pub(crate) fn parse(s: &str) -> Result<CidrVal, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a CIDR range like \"10.0.0.0/8\""))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0..={max}"))?,
        };
        Ok(CidrVal { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => *ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for CidrVal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Val for CidrVal {
    fn get_type(&self) -> &Type {
        &CIDR_TYPE
    }
    fn cel_type() -> &'static Type {
        &CIDR_TYPE
    }
    fn equals(&self, other: &dyn Val) -> bool {
        other.downcast_ref::<CidrVal>().is_some_and(|o| o == self)
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}
impl StaticVal for CidrVal {}

// ---------------------------------------------------------------------------------------------
// Argument helpers

fn err(function: &str, msg: impl std::fmt::Display) -> ExecutionError {
    ExecutionError::function_error(function, msg)
}

pub(crate) fn type_name(v: &dyn Val) -> String {
    v.get_type().name().to_owned()
}

fn string<'a>(f: &str, v: &'a dyn Val) -> Result<&'a str, ExecutionError> {
    v.downcast_ref::<CelString>()
        .map(|s| s.inner())
        .ok_or_else(|| err(f, format!("expected a string, got {}", type_name(v))))
}

fn timestamp(
    f: &str,
    v: &dyn Val,
) -> Result<chrono::DateTime<chrono::FixedOffset>, ExecutionError> {
    v.downcast_ref::<CelTimestamp>()
        .map(|s| *s.inner())
        .ok_or_else(|| err(f, format!("expected a timestamp, got {}", type_name(v))))
}

fn ip(f: &str, v: &dyn Val) -> Result<IpAddr, ExecutionError> {
    if let Some(ip) = v.downcast_ref::<IpVal>() {
        return Ok(ip.0);
    }
    if let Some(s) = v.downcast_ref::<CelString>() {
        return s
            .inner()
            .parse()
            .map_err(|_| err(f, format!("`{}` is not an IP address", s.inner())));
    }
    Err(err(
        f,
        format!("expected an IP address, got {}", type_name(v)),
    ))
}

fn cidr(f: &str, v: &dyn Val) -> Result<CidrVal, ExecutionError> {
    if let Some(c) = v.downcast_ref::<CidrVal>() {
        return Ok(c.clone());
    }
    if let Some(s) = v.downcast_ref::<CelString>() {
        return CidrVal::parse(s.inner()).map_err(|e| err(f, e));
    }
    Err(err(
        f,
        format!("expected a CIDR range, got {}", type_name(v)),
    ))
}

/// A string field of a user / account map (`id`, ...).
fn field_str(f: &str, v: &dyn Val, field: &'static str) -> Result<String, ExecutionError> {
    let ix = v
        .as_indexer()
        .ok_or_else(|| err(f, format!("expected a User, got {}", type_name(v))))?;
    let got = ix.get(&CelString::from(field)).map_err(|_| {
        err(
            f,
            format!("expected a User (with `{field}`), got {}", type_name(v)),
        )
    })?;
    string(f, got.as_ref()).map(str::to_owned)
}

fn field_strs(f: &str, v: &dyn Val, field: &'static str) -> Result<Vec<String>, ExecutionError> {
    let ix = v
        .as_indexer()
        .ok_or_else(|| err(f, format!("expected a User, got {}", type_name(v))))?;
    let got = ix.get(&CelString::from(field)).map_err(|_| {
        err(
            f,
            format!("expected a User (with `{field}`), got {}", type_name(v)),
        )
    })?;
    let list = got
        .as_iterable()
        .ok_or_else(|| err(f, format!("`{field}` is not a list")))?;
    let mut out = Vec::new();
    let mut it = list.iter();
    while let Some(item) = it.next() {
        out.push(string(f, item)?.to_owned());
    }
    Ok(out)
}

fn is_list(v: &dyn Val) -> bool {
    *v.get_type() == t::LIST_TYPE
}

fn list_items<'b, 'v>(v: &'b (dyn Val + 'v)) -> Vec<&'b (dyn Val + 'v)> {
    let mut out = Vec::new();
    if let Some(l) = v.as_iterable() {
        let mut it = l.iter();
        while let Some(item) = it.next() {
            out.push(item);
        }
    }
    out
}

fn owned<'b, 'v>(v: impl Val + 'v) -> R<'b, 'v> {
    Ok(CowVal::owned(v))
}

fn list<'b, 'v>(items: Vec<BoxVal<'v>>) -> R<'b, 'v> {
    Ok(CowVal::Owned(Box::new(CelList::from(items))))
}

fn check_len(s: &EvalState<'_>, f: &str, n: usize) -> Result<(), ExecutionError> {
    if n > s.budget.max_list_len {
        return Err(s.fail(EvalError::Budget(format!(
            "{f} returned {n} items, more than the limit of {}",
            s.budget.max_list_len
        ))));
    }
    Ok(())
}

/// A user from the directory as a value (whole, owning its strings).
fn user_val<'v>(s: &EvalState<'_>, u: &User) -> BoxVal<'v> {
    let manager = |id: &str| -> Option<String> {
        if !s.need_manager || s.directory.is_none() {
            return None;
        }
        match cached_user(s, "manager", id) {
            Ok(Some(m)) => Some(m.email.clone()),
            _ => None,
        }
    };
    values::user(u, &WHOLE, &Copy, &manager)
}

fn cached_user(s: &EvalState<'_>, f: &str, id: &str) -> Result<Option<Arc<User>>, ExecutionError> {
    match s.lookup(f, MemoKey::User(id.to_owned()), |d| {
        Ok(Memo::User(d.user(id)?.map(Arc::new)))
    })? {
        Memo::User(u) => Ok(u),
        _ => unreachable!("memo kind"),
    }
}

/// The email of the user's first manager, for the `manager` field of input users.
pub(crate) fn manager_email(id: &str) -> Option<String> {
    state::with(|s| {
        if s.directory.is_none() {
            return Ok(None);
        }
        Ok(cached_user(s, "manager", id)?.map(|u| u.email.clone()))
    })
    .ok()
    .flatten()
}

// ---------------------------------------------------------------------------------------------
// c1.user.v1

const HAS_APP: &str = "c1.user.v1.HasApp";
const HAS_ENT: &str = "c1.user.v1.HasEntitlement";
const APP_STATUS: &str = "c1.user.v1.GetAppUserStatus";
const LIST_APP_USERS: &str = "c1.user.v1.ListAppUsersForUser";
const FIND_BY_EMAIL: &str = "c1.directory.users.v1.FindByEmail";
const GET_BY_ID: &str = "c1.directory.users.v1.GetByID";
const GET_MANAGERS: &str = "c1.directory.users.v1.GetManagers";
const DIRECT_REPORTS: &str = "c1.directory.users.v1.DirectReports";
const ENT_MEMBERS: &str = "c1.directory.apps.v1.GetEntitlementMembers";

fn app_users_of(
    s: &EvalState<'_>,
    f: &str,
    user: &str,
    app: &str,
) -> Result<Arc<Vec<chamberlain_model::app::AppUser>>, ExecutionError> {
    match s.lookup(f, MemoKey::AppUsers(user.to_owned(), app.to_owned()), |d| {
        Ok(Memo::AppUsers(Arc::new(d.app_users(user, app)?)))
    })? {
        Memo::AppUsers(a) => Ok(a),
        _ => unreachable!("memo kind"),
    }
}

fn has_app<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let user = field_str(HAS_APP, args[0].as_ref(), "id")?;
    let app = string(HAS_APP, args[1].as_ref())?.to_owned();
    let n = state::with(|s| Ok(app_users_of(s, HAS_APP, &user, &app)?.len()))?;
    owned(CelBool::from(n > 0))
}

fn has_entitlement<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let user = field_str(HAS_ENT, args[0].as_ref(), "id")?;
    let app = string(HAS_ENT, args[1].as_ref())?.to_owned();
    let ent = string(HAS_ENT, args[2].as_ref())?.to_owned();
    let has = state::with(|s| {
        match s.lookup(
            HAS_ENT,
            MemoKey::HasEntitlement(user.clone(), app.clone(), ent.clone()),
            |d| Ok(Memo::Bool(d.has_entitlement(&user, &app, &ent)?)),
        )? {
            Memo::Bool(b) => Ok(b),
            _ => unreachable!("memo kind"),
        }
    })?;
    owned(CelBool::from(has))
}

/// `USER_STATUS_ENABLED|DISABLED|DELETED|UNSPECIFIED` from the user's account(s) in the app:
/// enabled if any account is enabled, else the first account's status; unspecified without one.
fn get_app_user_status<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    use chamberlain_model::app::AppUserStatusValue as S;
    let user = field_str(APP_STATUS, args[0].as_ref(), "id")?;
    let app = string(APP_STATUS, args[1].as_ref())?.to_owned();
    let status = state::with(|s| {
        let accounts = app_users_of(s, APP_STATUS, &user, &app)?;
        let st = |a: &chamberlain_model::app::AppUser| {
            a.status.as_ref().map(|s| s.status).unwrap_or_default()
        };
        let chosen = accounts
            .iter()
            .map(st)
            .find(|s| *s == S::Enabled)
            .or_else(|| accounts.first().map(st));
        Ok(match chosen {
            Some(S::Enabled) => "USER_STATUS_ENABLED",
            Some(S::Disabled) => "USER_STATUS_DISABLED",
            Some(S::Deleted) => "USER_STATUS_DELETED",
            _ => "USER_STATUS_UNSPECIFIED",
        })
    })?;
    owned(CelString::from(status))
}

fn list_app_users_for_user<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let user = field_str(LIST_APP_USERS, args[0].as_ref(), "id")?;
    let app = string(LIST_APP_USERS, args[1].as_ref())?.to_owned();
    let items = state::with(|s| {
        let accounts = app_users_of(s, LIST_APP_USERS, &user, &app)?;
        check_len(s, LIST_APP_USERS, accounts.len())?;
        Ok(accounts
            .iter()
            .map(|a| values::app_user(a, &WHOLE, &Copy))
            .collect::<Vec<_>>())
    })?;
    list(items)
}

// ---------------------------------------------------------------------------------------------
// c1.directory.*

fn find_by_email<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let email = string(FIND_BY_EMAIL, args[0].as_ref())?.to_owned();
    let v = state::with(|s| {
        let key = MemoKey::UserByEmail(email.to_lowercase());
        let u = match s.lookup(FIND_BY_EMAIL, key, |d| {
            Ok(Memo::User(d.user_by_email(&email)?.map(Arc::new)))
        })? {
            Memo::User(u) => u,
            _ => unreachable!("memo kind"),
        };
        match u {
            Some(u) => Ok(user_val(s, &u)),
            None => Err(err(
                FIND_BY_EMAIL,
                format!("no user has the email `{email}`"),
            )),
        }
    })?;
    Ok(CowVal::Owned(v))
}

fn get_by_id<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let id = string(GET_BY_ID, args[0].as_ref())?.to_owned();
    let v = state::with(|s| match cached_user(s, GET_BY_ID, &id)? {
        Some(u) => Ok(user_val(s, &u)),
        None => Err(err(GET_BY_ID, format!("no user has the id `{id}`"))),
    })?;
    Ok(CowVal::Owned(v))
}

fn get_managers<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let ids = field_strs(GET_MANAGERS, args[0].as_ref(), "managerIds")?;
    let items = state::with(|s| {
        let mut out = Vec::new();
        for id in &ids {
            if let Some(u) = cached_user(s, GET_MANAGERS, id)? {
                out.push(user_val(s, &u));
            }
        }
        check_len(s, GET_MANAGERS, out.len())?;
        Ok(out)
    })?;
    list(items)
}

fn direct_reports<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let arg = args[0].as_ref();
    let ids: Vec<String> = if is_list(arg) {
        list_items(arg)
            .into_iter()
            .map(|u| field_str(DIRECT_REPORTS, u, "id"))
            .collect::<Result<_, _>>()?
    } else {
        vec![field_str(DIRECT_REPORTS, arg, "id")?]
    };
    let items = state::with(|s| {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for id in &ids {
            let reports =
                match s.lookup(DIRECT_REPORTS, MemoKey::DirectReports(id.clone()), |d| {
                    Ok(Memo::Users(Arc::new(d.direct_reports(id)?)))
                })? {
                    Memo::Users(u) => u,
                    _ => unreachable!("memo kind"),
                };
            for u in reports.iter() {
                if seen.insert(u.id.clone()) {
                    check_len(s, DIRECT_REPORTS, out.len() + 1)?;
                    out.push(user_val(s, u));
                }
            }
        }
        Ok(out)
    })?;
    list(items)
}

fn entitlement_members<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let app = string(ENT_MEMBERS, args[0].as_ref())?.to_owned();
    let ent = string(ENT_MEMBERS, args[1].as_ref())?.to_owned();
    let items = state::with(|s| {
        let users = match s.lookup(
            ENT_MEMBERS,
            MemoKey::Members(app.clone(), ent.clone()),
            |d| Ok(Memo::Users(Arc::new(d.entitlement_members(&app, &ent)?))),
        )? {
            Memo::Users(u) => u,
            _ => unreachable!("memo kind"),
        };
        check_len(s, ENT_MEMBERS, users.len())?;
        Ok(users.iter().map(|u| user_val(s, u)).collect::<Vec<_>>())
    })?;
    list(items)
}

// ---------------------------------------------------------------------------------------------
// Time

fn now<'b, 'v>(_args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    let now = state::with(|s| {
        s.tick()?;
        Ok(s.now())
    })?;
    owned(CelTimestamp::from(now))
}

fn tz_arg(f: &str, args: &[CowVal<'_, '_>], i: usize) -> Result<Option<String>, ExecutionError> {
    match args.get(i) {
        None => Ok(None),
        Some(v) => Ok(Some(string(f, v.as_ref())?.to_owned())),
    }
}

fn time_parse<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    const F: &str = "time.parse";
    tick_now()?;
    let value = string(F, args[0].as_ref())?;
    let layout = string(F, args[1].as_ref())?;
    let tz = tz_arg(F, &args, 2)?;
    let ts = timefns::parse(value, layout, tz.as_deref()).map_err(|e| err(F, e))?;
    owned(CelTimestamp::from(ts))
}

fn time_format<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    const F: &str = "time.format";
    tick_now()?;
    let ts = timestamp(F, args[0].as_ref())?;
    let layout = string(F, args[1].as_ref())?;
    let tz = tz_arg(F, &args, 2)?;
    let out = timefns::format(&ts, layout, tz.as_deref()).map_err(|e| err(F, e))?;
    owned(CelString::from(out))
}

fn time_start_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    const F: &str = "time.start_of";
    tick_now()?;
    let ts = timestamp(F, args[0].as_ref())?;
    let unit = string(F, args[1].as_ref())?;
    let tz = tz_arg(F, &args, 2)?;
    let out = timefns::start_of(&ts, unit, tz.as_deref()).map_err(|e| err(F, e))?;
    owned(CelTimestamp::from(out))
}

fn time_end_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    const F: &str = "time.end_of";
    tick_now()?;
    let ts = timestamp(F, args[0].as_ref())?;
    let unit = string(F, args[1].as_ref())?;
    let tz = tz_arg(F, &args, 2)?;
    let out = timefns::end_of(&ts, unit, tz.as_deref()).map_err(|e| err(F, e))?;
    owned(CelTimestamp::from(out))
}

// ---------------------------------------------------------------------------------------------
// IP and CIDR

/// The deadline and step check every function makes.
fn tick_now() -> Result<(), ExecutionError> {
    state::with(|s| s.tick())
}

fn ip_new<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    owned(IpVal(ip("ip", args[0].as_ref())?))
}

fn cidr_new<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    owned(cidr("cidr", args[0].as_ref())?)
}

macro_rules! ip_predicate {
    ($name:ident, $cel:literal, |$a:ident| $body:expr) => {
        fn $name<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
            tick_now()?;
            let $a = ip($cel, args[0].as_ref())?;
            owned(CelBool::from($body))
        }
    };
}

ip_predicate!(ip_is4, "is4", |a| a.is_ipv4());
ip_predicate!(ip_is6, "is6", |a| a.is_ipv6());
ip_predicate!(ip_is_loopback, "isLoopback", |a| a.is_loopback());
ip_predicate!(ip_is_multicast, "isMulticast", |a| a.is_multicast());
ip_predicate!(ip_is_unspecified, "isUnspecified", |a| a.is_unspecified());
ip_predicate!(ip_is_private, "isPrivate", |a| match a {
    IpAddr::V4(v4) => v4.is_private(),
    // fc00::/7, unique local addresses (Go's netip.Addr.IsPrivate)
    IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
});
ip_predicate!(
    ip_is_link_local_unicast,
    "isLinkLocalUnicast",
    |a| match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
);
ip_predicate!(ip_is_global_unicast, "isGlobalUnicast", |a| match a {
    // Go's IsGlobalUnicast: not unspecified, loopback, multicast, link-local or broadcast
    IpAddr::V4(v4) =>
        !(v4.is_unspecified()
            || v4.is_loopback()
            || v4.is_multicast()
            || v4.is_link_local()
            || v4.is_broadcast()),
    IpAddr::V6(v6) =>
        !(v6.is_unspecified()
            || v6.is_loopback()
            || v6.is_multicast()
            || (v6.segments()[0] & 0xffc0) == 0xfe80),
});

fn cidr_contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    let net = cidr("contains", args[0].as_ref())?;
    let a = ip("contains", args[1].as_ref())?;
    owned(CelBool::from(net.contains(&a)))
}

fn ip_within<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    let a = ip("within", args[0].as_ref())?;
    let net = cidr("within", args[1].as_ref())?;
    owned(CelBool::from(net.contains(&a)))
}

fn to_string_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    let v = args[0].as_ref();
    if let Some(i) = v.downcast_ref::<IpVal>() {
        return owned(CelString::from(i.0.to_string()));
    }
    if let Some(c) = v.downcast_ref::<CidrVal>() {
        return owned(CelString::from(c.to_string()));
    }
    Err(err("string", format!("cannot convert {}", type_name(v))))
}

// ---------------------------------------------------------------------------------------------
// Strings and lists

/// `x.ifEmpty(default)`: `default` when `x` is the empty string or list.
fn if_empty<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    let empty = {
        let v = args[0].as_ref();
        if let Some(s) = v.downcast_ref::<CelString>() {
            s.inner().is_empty()
        } else if let Some(sz) = v.as_sizer() {
            *sz.size().inner() == 0
        } else {
            v.downcast_ref::<cel::common::types::CelNull>().is_some()
        }
    };
    let fallback = args.pop().expect("two arguments");
    let value = args.pop().expect("two arguments");
    Ok(if empty { fallback } else { value })
}

/// Chamberlain extension: `user+tag@example.com` → `user@example.com` (strings, or each string
/// of a list).
pub fn remove_plus(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
            _ => s.to_owned(),
        },
        None => s.to_owned(),
    }
}

fn remove_plus_suffix<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    const F: &str = "removePlusSuffix";
    let v = args[0].as_ref();
    if let Some(s) = v.downcast_ref::<CelString>() {
        return owned(CelString::from(remove_plus(s.inner())));
    }
    if is_list(v) {
        let items = list_items(v)
            .into_iter()
            .map(|i| Ok(Box::new(CelString::from(remove_plus(string(F, i)?))) as BoxVal<'v>))
            .collect::<Result<Vec<_>, ExecutionError>>()?;
        return list(items);
    }
    Err(err(
        F,
        format!(
            "expected a string or a list of strings, got {}",
            type_name(v)
        ),
    ))
}

/// Internal: called on every comprehension step (the checker wraps the step in it) and returns
/// its argument; checks the evaluation's deadline and step budget.
fn tick<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> R<'b, 'v> {
    tick_now()?;
    Ok(args.pop().expect("one argument"))
}

/// Registers everything on `env`.
pub(crate) fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    let d = || t::DYN_TYPE.to_owned();
    let dyn_n = |n: usize| (0..n).map(|_| t::DYN_TYPE.to_owned()).collect::<Vec<_>>();
    env.add_overload(HAS_APP, "c1_user_has_app", dyn_n(2), has_app)?;
    env.add_overload(
        HAS_ENT,
        "c1_user_has_entitlement",
        dyn_n(3),
        has_entitlement,
    )?;
    env.add_overload(
        APP_STATUS,
        "c1_user_app_user_status",
        dyn_n(2),
        get_app_user_status,
    )?;
    env.add_overload(
        LIST_APP_USERS,
        "c1_user_list_app_users",
        dyn_n(2),
        list_app_users_for_user,
    )?;
    env.add_overload(
        "c1.user.v1.GetAppUsersForUser",
        "c1_user_get_app_users",
        dyn_n(2),
        list_app_users_for_user,
    )?;
    env.add_overload(
        FIND_BY_EMAIL,
        "c1_dir_find_by_email",
        dyn_n(1),
        find_by_email,
    )?;
    env.add_overload(GET_BY_ID, "c1_dir_get_by_id", dyn_n(1), get_by_id)?;
    env.add_overload(GET_MANAGERS, "c1_dir_get_managers", dyn_n(1), get_managers)?;
    env.add_overload(
        DIRECT_REPORTS,
        "c1_dir_direct_reports",
        dyn_n(1),
        direct_reports,
    )?;
    env.add_overload(
        ENT_MEMBERS,
        "c1_dir_entitlement_members",
        dyn_n(2),
        entitlement_members,
    )?;

    env.add_overload("now", "now", vec![], now)?;
    for n in [2, 3] {
        env.add_overload(
            "time.parse",
            &format!("time_parse_{n}"),
            dyn_n(n),
            time_parse,
        )?;
        env.add_overload(
            "time.format",
            &format!("time_format_{n}"),
            dyn_n(n),
            time_format,
        )?;
        env.add_overload(
            "time.start_of",
            &format!("time_start_of_{n}"),
            dyn_n(n),
            time_start_of,
        )?;
        env.add_overload(
            "time.end_of",
            &format!("time_end_of_{n}"),
            dyn_n(n),
            time_end_of,
        )?;
    }

    env.add_overload("ip", "ip_string", vec![t::STRING_TYPE.to_owned()], ip_new)?;
    env.add_overload(
        "cidr",
        "cidr_string",
        vec![t::STRING_TYPE.to_owned()],
        cidr_new,
    )?;
    let ipt = || IP_TYPE.to_owned();
    let preds: [(&str, cel::common::functions::Function); 8] = [
        ("is4", ip_is4),
        ("is6", ip_is6),
        ("isPrivate", ip_is_private),
        ("isLoopback", ip_is_loopback),
        ("isGlobalUnicast", ip_is_global_unicast),
        ("isMulticast", ip_is_multicast),
        ("isUnspecified", ip_is_unspecified),
        ("isLinkLocalUnicast", ip_is_link_local_unicast),
    ];
    for (name, f) in preds {
        env.add_member_overload(name, &format!("ip_{name}"), ipt(), vec![], f)?;
    }
    env.add_member_overload(
        "contains",
        "cidr_contains",
        CIDR_TYPE.to_owned(),
        vec![d()],
        cidr_contains,
    )?;
    env.add_member_overload("within", "ip_within", ipt(), vec![d()], ip_within)?;
    env.add_overload("string", "string_ip", vec![ipt()], to_string_ip)?;
    env.add_overload(
        "string",
        "string_cidr",
        vec![CIDR_TYPE.to_owned()],
        to_string_ip,
    )?;

    env.add_member_overload(
        "ifEmpty",
        "string_if_empty",
        t::STRING_TYPE.to_owned(),
        vec![d()],
        if_empty,
    )?;
    env.add_member_overload(
        "ifEmpty",
        "list_if_empty",
        t::LIST_TYPE.to_owned(),
        vec![d()],
        if_empty,
    )?;
    env.add_member_overload(
        "ifEmpty",
        "map_if_empty",
        t::MAP_TYPE.to_owned(),
        vec![d()],
        if_empty,
    )?;
    env.add_member_overload(
        "ifEmpty",
        "null_if_empty",
        t::NULL_TYPE.to_owned(),
        vec![d()],
        if_empty,
    )?;
    env.add_overload(
        "removePlusSuffix",
        "remove_plus_suffix",
        dyn_n(1),
        remove_plus_suffix,
    )?;
    env.add_member_overload(
        "removePlusSuffix",
        "remove_plus_suffix_member",
        d(),
        vec![],
        remove_plus_suffix,
    )?;

    env.add_overload(crate::check::TICK, "chamberlain_tick", dyn_n(1), tick)?;
    Ok(())
}
