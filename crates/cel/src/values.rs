//! Chamberlain objects as CEL values.
//!
//! Input objects are converted borrowing their strings (no copies), and only the fields the
//! expression reads (a [`Proj`] the checker computes from the AST). Objects that functions return
//! (directory lookups) are converted whole, owning their strings.

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use chamberlain_model::app::{AppEntitlement, AppUser, AppUserStatusValue};
use chamberlain_model::user::User;
use std::collections::{BTreeMap, HashMap};

pub(crate) type BoxVal<'v> = Box<dyn Val + 'v>;

/// Which parts of a value an expression reads: `whole`, or only `fields` (each with its own
/// projection).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Proj {
    pub whole: bool,
    pub fields: BTreeMap<String, Proj>,
}

pub(crate) static WHOLE: Proj = Proj {
    whole: true,
    fields: BTreeMap::new(),
};

impl Proj {
    /// The projection of `field`, if it is read.
    pub(crate) fn field(&self, field: &str) -> Option<&Proj> {
        if self.whole {
            Some(&WHOLE)
        } else {
            self.fields.get(field)
        }
    }

    /// Records that `path` is read (whole at its end).
    pub(crate) fn add_path(&mut self, path: &[String]) {
        if self.whole {
            return;
        }
        match path.split_first() {
            None => {
                self.whole = true;
                self.fields.clear();
            }
            Some((first, rest)) => self.fields.entry(first.clone()).or_default().add_path(rest),
        }
    }
}

/// How strings get into values: borrowed from the input, or copied.
pub(crate) trait Strs<'x, 'v> {
    fn s(&self, s: &'x str) -> CelString<'v>;
    fn key(&self, s: &'x str) -> CelMapKey<'v>;
}

pub(crate) struct Borrow;
impl<'v> Strs<'v, 'v> for Borrow {
    fn s(&self, s: &'v str) -> CelString<'v> {
        CelString::from(s)
    }
    fn key(&self, s: &'v str) -> CelMapKey<'v> {
        CelMapKey::from(s)
    }
}

pub(crate) struct Copy;
impl<'x, 'v> Strs<'x, 'v> for Copy {
    fn s(&self, s: &'x str) -> CelString<'v> {
        CelString::from(s.to_owned())
    }
    fn key(&self, s: &'x str) -> CelMapKey<'v> {
        CelMapKey::from(s.to_owned())
    }
}

pub(crate) fn static_str<'v>(s: &'static str) -> BoxVal<'v> {
    Box::new(CelString::from(s))
}

fn strs<'x, 'v>(items: &'x [String], m: &impl Strs<'x, 'v>) -> BoxVal<'v> {
    Box::new(CelList::from(
        items
            .iter()
            .map(|s| Box::new(m.s(s)) as BoxVal<'v>)
            .collect::<Vec<_>>(),
    ))
}

/// `emails` / `usernames`: the list with the primary value first when the list lacks it, so
/// "all emails" always includes the primary one (identity matching's presets rely on it).
fn with_primary<'x, 'v>(
    primary: &'x String,
    items: &'x [String],
    m: &impl Strs<'x, 'v>,
) -> BoxVal<'v> {
    if primary.is_empty() || items.iter().any(|i| i == primary) {
        return strs(items, m);
    }
    Box::new(CelList::from(
        std::iter::once(primary)
            .chain(items.iter())
            .map(|s| Box::new(m.s(s)) as BoxVal<'v>)
            .collect::<Vec<_>>(),
    ))
}

struct MapBuilder<'v>(HashMap<CelMapKey<'v>, BoxVal<'v>>);

impl<'v> MapBuilder<'v> {
    fn new(n: usize) -> Self {
        MapBuilder(HashMap::with_capacity(n))
    }
    fn put(&mut self, k: &'static str, v: BoxVal<'v>) {
        self.0.insert(CelMapKey::from(k), v);
    }
    fn build(self) -> BoxVal<'v> {
        Box::new(CelMap::from(self.0))
    }
}

/// The value of a JSON map (profile, ctx, task), keeping only the projected keys.
pub(crate) fn json_map<'x, 'v>(
    map: Option<&'x serde_json::Map<String, serde_json::Value>>,
    proj: &Proj,
    m: &impl Strs<'x, 'v>,
) -> BoxVal<'v> {
    let mut out = HashMap::new();
    if let Some(map) = map {
        if proj.whole {
            out.reserve(map.len());
            for (k, v) in map {
                out.insert(m.key(k), json(v, &WHOLE, m));
            }
        } else {
            for (k, sub) in &proj.fields {
                if let Some((k, v)) = map.get_key_value(k.as_str()) {
                    out.insert(m.key(k), json(v, sub, m));
                }
            }
        }
    }
    Box::new(CelMap::from(out))
}

/// A JSON value as a CEL value: integers as int (uint above i64), other numbers as double.
pub(crate) fn json<'x, 'v>(
    v: &'x serde_json::Value,
    proj: &Proj,
    m: &impl Strs<'x, 'v>,
) -> BoxVal<'v> {
    use serde_json::Value as J;
    match v {
        J::Null => Box::new(CelNull),
        J::Bool(b) => Box::new(CelBool::from(*b)),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        J::String(s) => Box::new(m.s(s)),
        J::Array(items) => Box::new(CelList::from(
            items.iter().map(|i| json(i, &WHOLE, m)).collect::<Vec<_>>(),
        )),
        J::Object(map) => json_map(Some(map), proj, m),
    }
}

pub(crate) fn user_status(s: &chamberlain_model::user::UserStatus) -> &'static str {
    s.as_str()
}

/// `APP_USER_STATUS_*`, as C1's CEL spells account statuses.
pub(crate) fn app_user_status(s: &AppUserStatusValue) -> &'static str {
    match s {
        AppUserStatusValue::Enabled => "APP_USER_STATUS_ENABLED",
        AppUserStatusValue::Disabled => "APP_USER_STATUS_DISABLED",
        AppUserStatusValue::Deleted => "APP_USER_STATUS_DELETED",
        _ => "APP_USER_STATUS_UNSPECIFIED",
    }
}

/// A user. `manager` is the manager's email: `manager_email` is asked only when it is read.
pub(crate) fn user<'x, 'v>(
    u: &'x User,
    proj: &Proj,
    m: &impl Strs<'x, 'v>,
    manager_email: &dyn Fn(&str) -> Option<String>,
) -> BoxVal<'v> {
    let mut out = MapBuilder::new(if proj.whole { 19 } else { proj.fields.len() });
    let s = |x: &'x String| -> BoxVal<'v> { Box::new(m.s(x)) };
    for (name, _) in crate::types::Obj::User.fields() {
        let Some(sub) = proj.field(name) else {
            continue;
        };
        let v: BoxVal<'v> = match *name {
            "id" => s(&u.id),
            "email" => s(&u.email),
            "emails" => with_primary(&u.email, &u.emails, m),
            "displayName" => s(&u.display_name),
            "username" => s(&u.username),
            "usernames" => with_primary(&u.username, &u.usernames, m),
            "department" => s(&u.department),
            "jobTitle" => s(&u.job_title),
            "employmentType" => s(&u.employment_type),
            "employmentStatus" => s(&u.employment_status),
            "status" => static_str(user_status(&u.status)),
            "directoryStatus" => static_str(user_status(&u.directory_status)),
            "type" => static_str(u.user_type.as_str()),
            "manager" => Box::new(CelString::from(
                u.manager_ids
                    .first()
                    .and_then(|id| manager_email(id))
                    .unwrap_or_default(),
            )),
            "managerId" => match u.manager_ids.first() {
                Some(id) => s(id),
                None => static_str(""),
            },
            "managerIds" => strs(&u.manager_ids, m),
            "employeeIds" => strs(&u.employee_ids, m),
            "profile" | "attributes" => json_map(u.profile.as_ref(), sub, m),
            _ => continue,
        };
        out.put(name, v);
    }
    out.build()
}

/// An account (app user).
pub(crate) fn app_user<'x, 'v>(a: &'x AppUser, proj: &Proj, m: &impl Strs<'x, 'v>) -> BoxVal<'v> {
    let mut out = MapBuilder::new(if proj.whole { 13 } else { proj.fields.len() });
    let s = |x: &'x String| -> BoxVal<'v> { Box::new(m.s(x)) };
    for (name, _) in crate::types::Obj::AppUser.fields() {
        let Some(sub) = proj.field(name) else {
            continue;
        };
        let v: BoxVal<'v> = match *name {
            "id" => s(&a.id),
            "appId" => s(&a.app_id),
            "displayName" => s(&a.display_name),
            "username" => s(&a.username),
            "usernames" => with_primary(&a.username, &a.usernames, m),
            "email" => s(&a.email),
            "emails" => with_primary(&a.email, &a.emails, m),
            "employeeIds" => strs(&a.employee_ids, m),
            "appUserType" => static_str(a.app_user_type.as_str()),
            "status" => {
                let mut st = MapBuilder::new(2);
                if sub.field("status").is_some() {
                    st.put(
                        "status",
                        static_str(app_user_status(
                            &a.status.as_ref().map(|s| s.status).unwrap_or_default(),
                        )),
                    );
                }
                if sub.field("details").is_some() {
                    st.put(
                        "details",
                        match &a.status {
                            Some(status) => s(&status.details),
                            None => static_str(""),
                        },
                    );
                }
                st.build()
            }
            "identityUserId" => s(&a.identity_user_id),
            "profile" | "attributes" => json_map(a.profile.as_ref(), sub, m),
            _ => continue,
        };
        out.put(name, v);
    }
    out.build()
}

/// An entitlement.
pub(crate) fn entitlement<'x, 'v>(
    e: &'x AppEntitlement,
    proj: &Proj,
    m: &impl Strs<'x, 'v>,
) -> BoxVal<'v> {
    let mut out = MapBuilder::new(if proj.whole { 9 } else { proj.fields.len() });
    let s = |x: &'x String| -> BoxVal<'v> { Box::new(m.s(x)) };
    for (name, _) in crate::types::Obj::Entitlement.fields() {
        if proj.field(name).is_none() {
            continue;
        }
        let v: BoxVal<'v> = match *name {
            "id" => s(&e.id),
            "appId" => s(&e.app_id),
            "displayName" => s(&e.display_name),
            "description" => s(&e.description),
            "slug" => s(&e.slug),
            "alias" => s(&e.alias),
            "riskLevelValueId" => s(&e.risk_level_value_id),
            "appResourceId" => s(&e.app_resource_id),
            "appResourceTypeId" => s(&e.app_resource_type_id),
            _ => continue,
        };
        out.put(name, v);
    }
    out.build()
}
