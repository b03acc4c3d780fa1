//! File apps: an app's accounts, resources, entitlements and grants from a CSV (comma or tab)
//! laid out like C1's import template. Each row is one account, optionally with one
//! entitlement it holds; an account holding several entitlements appears on several rows.
//!
//! The file becomes a [`Snapshot`] like a c1z does, so the same sync engine applies it and a
//! re-upload syncs the difference. Every error names the row and column, and a file with any
//! error changes nothing.

use crate::c1z::proto::{self, Email, Resource, ResourceId, ResourceType, UserTrait};
use crate::c1z::{GrantRecord, Snapshot};
use prost::Message;
use std::collections::BTreeMap;

/// The template's columns (header names are matched case-insensitively).
const USER_ID: &str = "user id";
const EMAIL: &str = "email address";
const USERNAME: &str = "username";
const FIRST: &str = "first name";
const LAST: &str = "last name";
const FULL: &str = "full name";
const STATUS: &str = "user status";
const MANAGER: &str = "manager id";
const USER_TYPE: &str = "user type";
const OWNER: &str = "account owner";
const RESOURCE_TYPE: &str = "resource type";
const RESOURCE_NAME: &str = "resource name";
const ENTITLEMENT: &str = "entitlement";
const ENT_DISPLAY: &str = "entitlement display name";
const ENT_DESCRIPTION: &str = "entitlement description";
const ENT_SLUG: &str = "entitlement slug";
/// HR columns (Chamberlain additions to the template), read by directories.
const EMPLOYEE_ID: &str = "employee id";
const DEPARTMENT: &str = "department";
const JOB_TITLE: &str = "job title";
const EMPLOYMENT_TYPE: &str = "employment type";
const EMPLOYMENT_STATUS: &str = "employment status";
const MANAGER_EMAIL: &str = "manager email";
const KNOWN: &[&str] = &[
    USER_ID,
    EMAIL,
    USERNAME,
    FIRST,
    LAST,
    FULL,
    STATUS,
    MANAGER,
    USER_TYPE,
    OWNER,
    RESOURCE_TYPE,
    RESOURCE_NAME,
    ENTITLEMENT,
    ENT_DISPLAY,
    ENT_DESCRIPTION,
    ENT_SLUG,
    EMPLOYEE_ID,
    DEPARTMENT,
    JOB_TITLE,
    EMPLOYMENT_TYPE,
    EMPLOYMENT_STATUS,
    MANAGER_EMAIL,
];

/// Resource type that holds the accounts.
const USER_TYPE_ID: &str = "user";

/// Everything wrong with a file, one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("the file was not imported, nothing changed: {}", .0.join("; "))]
pub struct FileError(pub Vec<String>);

fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Parses a template CSV (comma or tab separated, detected from the header line).
pub fn parse_csv(bytes: &[u8]) -> Result<Snapshot, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FileError(vec![format!(
            "the file is not UTF-8 text (byte {})",
            e.valid_up_to()
        )])
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text.lines().next().unwrap_or_default();
    let delimiter = if header_line.contains('\t') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| FileError(vec![format!("row 1: cannot read the header: {e}")]))?
        .iter()
        .map(String::from)
        .collect();
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => rows.push((i + 2, r.iter().map(String::from).collect())),
            Err(e) => errors.push(format!("row {}: {e}", i + 2)),
        }
    }
    parse_table(&headers, rows, errors)
}

/// Reads a file of either kind: XLSX (a zip) or CSV/TSV text.
pub fn parse(bytes: &[u8]) -> Result<Snapshot, FileError> {
    if bytes.starts_with(b"PK\x03\x04") {
        parse_xlsx(bytes)
    } else {
        parse_csv(bytes)
    }
}

/// Parses the first worksheet of an XLSX workbook laid out like the CSV template.
pub fn parse_xlsx(bytes: &[u8]) -> Result<Snapshot, FileError> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| {
            FileError(vec![format!(
                "the file is not a readable XLSX workbook ({e}); save it again from your spreadsheet program as .xlsx or .csv"
            )])
        })?;
    let Some(first) = book.sheet_names().first().cloned() else {
        return Err(FileError(vec!["the workbook has no worksheets".into()]));
    };
    let range = book
        .worksheet_range(&first)
        .map_err(|e| FileError(vec![format!("worksheet `{first}`: {e}")]))?;
    // Row numbers as the spreadsheet shows them, even when the used range starts lower.
    let first_row = range.start().map(|(r, _)| r as usize + 1).unwrap_or(1);
    let cell = |d: &Data| match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        // Ids typed as numbers come back as floats; 1042.0 should read as 1042.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    };
    let mut rows = range
        .rows()
        .enumerate()
        .map(|(i, r)| (first_row + i, r.iter().map(cell).collect::<Vec<String>>()));
    let Some((_, headers)) = rows.next() else {
        return Err(FileError(vec![format!(
            "worksheet `{first}` is empty; the first row must hold the template's column names"
        )]));
    };
    // Trailing empty header cells are formatting, not columns.
    let width = headers
        .iter()
        .rposition(|h| !h.trim().is_empty())
        .map_or(0, |p| p + 1);
    let headers = headers[..width].to_vec();
    let rows: Vec<(usize, Vec<String>)> = rows
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
        .map(|(n, mut r)| {
            r.truncate(width);
            (n, r)
        })
        .collect();
    parse_table(&headers, rows, Vec::new())
}

/// The template's rules over a table of cells: `rows` are (1-based row number, cells).
fn parse_table(
    headers: &[String],
    rows: Vec<(usize, Vec<String>)>,
    mut errors: Vec<String>,
) -> Result<Snapshot, FileError> {
    let headers: Vec<String> = headers.iter().map(|h| h.trim().to_lowercase()).collect();
    for h in &headers {
        if !KNOWN.contains(&h.as_str()) {
            errors.push(format!("row 1: column `{h}` is not a template column (expected some of: User ID, Email Address, Username, First Name, Last Name, Full Name, User Status, Manager ID, User Type, Account Owner, Resource Type, Resource Name, Entitlement, Entitlement Display Name, Entitlement Description, Entitlement Slug, Employee ID, Department, Job Title, Employment Type, Employment Status, Manager Email)"));
        }
    }
    for required in [USER_ID, EMAIL] {
        if !headers.iter().any(|h| h == required) {
            errors.push(format!(
                "row 1: the required column `{}` is missing",
                title(required)
            ));
        }
    }
    if !errors.is_empty() {
        return Err(FileError(errors));
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut accounts: BTreeMap<String, (Resource, UserTrait)> = BTreeMap::new();
    let mut types: BTreeMap<String, ResourceType> = BTreeMap::new();
    let mut resources: BTreeMap<String, Resource> = BTreeMap::new();
    let mut entitlements: BTreeMap<String, proto::Entitlement> = BTreeMap::new();
    let mut grants: BTreeMap<(String, String), GrantRecord> = BTreeMap::new();
    types.insert(
        USER_TYPE_ID.into(),
        ResourceType {
            id: USER_TYPE_ID.into(),
            display_name: "User".into(),
            traits: vec![1],
            ..Default::default()
        },
    );
    for (row, record) in &rows {
        let row = *row;
        let get = |name: &str| {
            col(name)
                .and_then(|c| record.get(c))
                .map(|v| v.trim())
                .unwrap_or("")
        };
        let user_id = get(USER_ID);
        let email = get(EMAIL);
        if user_id.is_empty() {
            errors.push(format!("row {row}, column User ID: a user id is required"));
            continue;
        }
        if !email.contains('@') || email.contains(char::is_whitespace) {
            errors.push(format!(
                "row {row}, column Email Address: `{email}` is not an email address"
            ));
            continue;
        }
        let status = match get(STATUS).to_lowercase().as_str() {
            "" | "active" | "enabled" => 1,
            "disabled" | "inactive" | "suspended" => 2,
            "deleted" => 3,
            other => {
                errors.push(format!("row {row}, column User Status: `{other}` is not a status (use Active, Disabled or Deleted)"));
                continue;
            }
        };
        let account_type = match get(USER_TYPE).to_lowercase().as_str() {
            "" | "human" | "user" => 1,
            "service" => 2,
            "system" => 3,
            other => {
                errors.push(format!("row {row}, column User Type: `{other}` is not a user type (use Human, Service or System)"));
                continue;
            }
        };
        let display = match (get(FULL), get(FIRST), get(LAST)) {
            (full, _, _) if !full.is_empty() => full.to_string(),
            (_, first, last) if !(first.is_empty() && last.is_empty()) => {
                format!("{first} {last}").trim().to_string()
            }
            _ => email.to_string(),
        };
        let mut profile = prost_types::Struct::default();
        for (key, name) in [
            ("first_name", FIRST),
            ("last_name", LAST),
            ("manager_id", MANAGER),
            ("account_owner", OWNER),
            ("department", DEPARTMENT),
            ("title", JOB_TITLE),
            ("employment_type", EMPLOYMENT_TYPE),
            ("employment_status", EMPLOYMENT_STATUS),
            ("manager_email", MANAGER_EMAIL),
        ] {
            let v = get(name);
            if !v.is_empty() {
                profile.fields.insert(
                    key.into(),
                    prost_types::Value {
                        kind: Some(prost_types::value::Kind::StringValue(v.into())),
                    },
                );
            }
        }
        let trait_ = UserTrait {
            emails: vec![Email {
                address: email.into(),
                is_primary: true,
            }],
            status: Some(proto::Status {
                status,
                details: String::new(),
            }),
            account_type,
            login: get(USERNAME).into(),
            employee_ids: match get(EMPLOYEE_ID) {
                "" => vec![],
                id => vec![id.to_string()],
            },
            ..Default::default()
        };
        let resource = Resource {
            id: Some(ResourceId {
                resource_type: USER_TYPE_ID.into(),
                resource: user_id.into(),
            }),
            display_name: display,
            profile: (!profile.fields.is_empty()).then_some(profile),
            ..Default::default()
        };
        if let Some((existing, existing_trait)) = accounts.get(user_id) {
            if existing_trait.emails != trait_.emails
                || existing.display_name != resource.display_name
            {
                errors.push(format!("row {row}: user `{user_id}` appears earlier with a different email or name; one user's rows must agree"));
                continue;
            }
        } else {
            accounts.insert(user_id.to_string(), (resource, trait_));
        }
        let (rt, rn, ent) = (get(RESOURCE_TYPE), get(RESOURCE_NAME), get(ENTITLEMENT));
        if rt.is_empty() && rn.is_empty() && ent.is_empty() {
            continue;
        }
        let missing: Vec<&str> = [
            ("Resource Type", rt),
            ("Resource Name", rn),
            ("Entitlement", ent),
        ]
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| *n)
        .collect();
        if !missing.is_empty() {
            errors.push(format!("row {row}, column {}: an entitlement needs Resource Type, Resource Name and Entitlement together", missing.join(", ")));
            continue;
        }
        let rt_id = slugify(rt);
        types.entry(rt_id.clone()).or_insert_with(|| ResourceType {
            id: rt_id.clone(),
            display_name: rt.into(),
            ..Default::default()
        });
        let res_id = ResourceId {
            resource_type: rt_id.clone(),
            resource: rn.into(),
        };
        let res_key = format!("{rt_id}:{rn}");
        resources
            .entry(res_key.clone())
            .or_insert_with(|| Resource {
                id: Some(res_id.clone()),
                display_name: rn.into(),
                ..Default::default()
            });
        let slug = if get(ENT_SLUG).is_empty() {
            slugify(ent)
        } else {
            get(ENT_SLUG).to_string()
        };
        let ent_id = format!("{res_key}:{slug}");
        let wanted = proto::Entitlement {
            resource: Some(Resource {
                id: Some(res_id),
                ..Default::default()
            }),
            id: ent_id.clone(),
            display_name: if get(ENT_DISPLAY).is_empty() {
                ent.into()
            } else {
                get(ENT_DISPLAY).into()
            },
            description: get(ENT_DESCRIPTION).into(),
            purpose: 1,
            slug,
            ..Default::default()
        };
        match entitlements.get(&ent_id) {
            Some(e)
                if e.display_name != wanted.display_name || e.description != wanted.description =>
            {
                errors.push(format!("row {row}, column Entitlement Display Name: entitlement `{ent}` of {rt} `{rn}` is described differently on an earlier row"));
                continue;
            }
            Some(_) => {}
            None => {
                entitlements.insert(ent_id.clone(), wanted);
            }
        }
        grants
            .entry((ent_id.clone(), user_id.to_string()))
            .or_insert(GrantRecord {
                id: format!("{ent_id}:{USER_TYPE_ID}:{user_id}"),
                entitlement_id: ent_id,
                principal: ResourceId {
                    resource_type: USER_TYPE_ID.into(),
                    resource: user_id.into(),
                },
                sources: vec![],
            });
    }
    if !errors.is_empty() {
        errors.truncate(50);
        return Err(FileError(errors));
    }
    if accounts.is_empty() {
        return Err(FileError(vec!["the file has a header but no rows".into()]));
    }
    let mut snap = Snapshot {
        sync_id: String::new(),
        sync_type: "full".into(),
        ..Default::default()
    };
    snap.resource_types = types.into_values().collect();
    for (_, (mut r, t)) in accounts {
        r.annotations.push(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", proto::type_urls::USER_TRAIT),
            value: t.encode_to_vec(),
        });
        snap.resources.push(r);
    }
    snap.resources.extend(resources.into_values());
    snap.entitlements = entitlements.into_values().collect();
    snap.grants = grants.into_values().collect();
    Ok(snap)
}

fn title(col: &str) -> String {
    col.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("Id", "ID")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "User ID,Email Address,Full Name,User Status,Resource Type,Resource Name,Entitlement\n\
        u1,ann@example.com,Ann,Active,Group,Admins,member\n\
        u1,ann@example.com,Ann,Active,Group,Devs,member\n\
        u2,bob@example.com,Bob,Disabled,,,\n";

    #[test]
    fn template_rows_become_a_snapshot() {
        let s = parse_csv(GOOD.as_bytes()).unwrap();
        assert_eq!(s.resource_types.len(), 2, "user and group");
        assert_eq!(s.resources.len(), 4, "two accounts and two groups");
        assert_eq!(s.entitlements.len(), 2);
        assert_eq!(s.grants.len(), 2);
        let tsv = GOOD.replace(',', "\t");
        assert_eq!(parse_csv(tsv.as_bytes()).unwrap().grants.len(), 2);
    }

    #[test]
    fn errors_name_row_and_column() {
        let bad = "User ID,Email Address,User Status,Resource Type,Resource Name,Entitlement\n\
            u1,not-an-email,Active,,,\n\
            u2,b@example.com,Vacationing,,,\n\
            ,c@example.com,Active,,,\n\
            u4,d@example.com,Active,Group,,member\n";
        let e = parse_csv(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("row 2, column Email Address"), "{e}");
        assert!(e.contains("row 3, column User Status"), "{e}");
        assert!(e.contains("row 4, column User ID"), "{e}");
        assert!(e.contains("row 5, column Resource Name"), "{e}");
        let e = parse_csv(b"Name,Mail\nx,y\n").unwrap_err().to_string();
        assert!(e.contains("column `name`") && e.contains("User ID"), "{e}");
        assert!(parse_csv(b"User ID,Email Address\n").is_err());
        assert!(parse_csv(b"User ID,Email Address\nu1,a@x.com,extra\n")
            .unwrap_err()
            .to_string()
            .contains("row 2"));
    }
}
