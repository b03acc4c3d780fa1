//! The checker's small type system and the fields of the typed objects.

use std::fmt;

/// A static type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    Null,
    /// Not known before evaluation (JSON maps' values, `dyn(...)`).
    Dyn,
    /// A type value (`type(x)`, `int`, ...).
    Type,
    Ip,
    Cidr,
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    Obj(Obj),
}

/// The typed objects expressions see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Obj {
    User,
    AppUser,
    AppUserStatus,
    Entitlement,
}

impl Obj {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Obj::User => "User",
            Obj::AppUser => "AppUser",
            Obj::AppUserStatus => "AppUserStatus",
            Obj::Entitlement => "Entitlement",
        }
    }

    /// Fields, by canonical (camelCase) name.
    pub(crate) fn fields(self) -> &'static [(&'static str, FieldTy)] {
        use FieldTy::*;
        match self {
            Obj::User => &[
                ("id", Str),
                ("email", Str),
                ("emails", Strs),
                ("displayName", Str),
                ("username", Str),
                ("usernames", Strs),
                ("department", Str),
                ("jobTitle", Str),
                ("employmentType", Str),
                ("employmentStatus", Str),
                ("status", Str),
                ("directoryStatus", Str),
                ("type", Str),
                ("manager", Str),
                ("managerId", Str),
                ("managerIds", Strs),
                ("employeeIds", Strs),
                ("profile", Json),
                ("attributes", Json),
            ],
            Obj::AppUser => &[
                ("id", Str),
                ("appId", Str),
                ("displayName", Str),
                ("username", Str),
                ("usernames", Strs),
                ("email", Str),
                ("emails", Strs),
                ("employeeIds", Strs),
                ("appUserType", Str),
                ("status", Status),
                ("identityUserId", Str),
                ("profile", Json),
                ("attributes", Json),
            ],
            Obj::AppUserStatus => &[("status", Str), ("details", Str)],
            Obj::Entitlement => &[
                ("id", Str),
                ("appId", Str),
                ("displayName", Str),
                ("description", Str),
                ("slug", Str),
                ("alias", Str),
                ("riskLevelValueId", Str),
                ("appResourceId", Str),
                ("appResourceTypeId", Str),
            ],
        }
    }

    /// The canonical name of a field as written (camelCase, or the snake_case alias C1 also
    /// accepts, e.g. `display_name`), and its type.
    pub(crate) fn field(self, written: &str) -> Option<(&'static str, Ty)> {
        let canonical = camel_case(written);
        self.fields()
            .iter()
            .find(|(name, _)| *name == canonical)
            .map(|(name, ty)| (*name, ty.ty()))
    }

    /// The field closest to a misspelled one, for "did you mean".
    pub(crate) fn suggest(self, written: &str) -> Option<&'static str> {
        let written = camel_case(written).to_ascii_lowercase();
        self.fields()
            .iter()
            .map(|(name, _)| (edit_distance(&written, &name.to_ascii_lowercase()), *name))
            .filter(|(d, name)| crate::check::close_enough(*d, &written, name))
            .min_by_key(|(d, _)| *d)
            .map(|(_, name)| name)
    }
}

/// Field types, as data (so the field tables can be `static`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldTy {
    Str,
    Strs,
    Json,
    Status,
}

impl FieldTy {
    pub(crate) fn ty(self) -> Ty {
        match self {
            FieldTy::Str => Ty::String,
            FieldTy::Strs => Ty::list(Ty::String),
            FieldTy::Json => Ty::map(Ty::String, Ty::Dyn),
            FieldTy::Status => Ty::Obj(Obj::AppUserStatus),
        }
    }
}

impl Ty {
    pub(crate) fn list(elem: Ty) -> Ty {
        Ty::List(Box::new(elem))
    }
    pub(crate) fn map(key: Ty, value: Ty) -> Ty {
        Ty::Map(Box::new(key), Box::new(value))
    }
    pub(crate) fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }
    /// Whether a value of this type can stand where `want` is expected (dyn on either side
    /// fits; lists and maps compare their parameters the same way).
    pub(crate) fn fits(&self, want: &Ty) -> bool {
        match (self, want) {
            (Ty::Dyn, _) | (_, Ty::Dyn) => true,
            (Ty::List(a), Ty::List(b)) => a.fits(b),
            (Ty::Map(ak, av), Ty::Map(bk, bv)) => ak.fits(bk) && av.fits(bv),
            (a, b) => a == b,
        }
    }
    /// The type two branches (or list elements) share: their type when they agree, else dyn.
    pub(crate) fn join(&self, other: &Ty) -> Ty {
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Ty::Null, b) | (b, Ty::Null) => b.clone(),
            (Ty::List(a), Ty::List(b)) => Ty::list(a.join(b)),
            (Ty::Map(ak, av), Ty::Map(bk, bv)) => Ty::map(ak.join(bk), av.join(bv)),
            _ => Ty::Dyn,
        }
    }
    pub(crate) fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Uint | Ty::Double)
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Uint => f.write_str("uint"),
            Ty::Double => f.write_str("double"),
            Ty::String => f.write_str("string"),
            Ty::Bytes => f.write_str("bytes"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::Duration => f.write_str("duration"),
            Ty::Null => f.write_str("null"),
            Ty::Dyn => f.write_str("dyn"),
            Ty::Type => f.write_str("type"),
            Ty::Ip => f.write_str("IP"),
            Ty::Cidr => f.write_str("CIDR"),
            Ty::List(e) => write!(f, "list<{e}>"),
            Ty::Map(k, v) => write!(f, "map<{k}, {v}>"),
            Ty::Obj(o) => f.write_str(o.name()),
        }
    }
}

/// `display_name` → `displayName`; camelCase names are returned as they are.
pub(crate) fn camel_case(name: &str) -> String {
    if !name.contains('_') {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Levenshtein distance (small strings only).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_aliases_resolve_to_camel_case() {
        assert_eq!(camel_case("display_name"), "displayName");
        assert_eq!(camel_case("manager_id"), "managerId");
        assert_eq!(camel_case("email"), "email");
        assert_eq!(Obj::User.field("job_title").unwrap().0, "jobTitle");
        assert_eq!(
            Obj::AppUser.field("app_user_type").unwrap().0,
            "appUserType"
        );
        assert!(Obj::User.field("departmnt").is_none());
        assert_eq!(Obj::User.suggest("departmnt"), Some("department"));
    }
}
