//! Matching rules compiled from configuration: a directory's import condition and merge cases,
//! and a non-directory app's identity matching (Narrow, Broad or Custom).
//!
//! A match case is a pair of key extractors, one over the account and one over the user; an
//! account matches the users that share a key. The preset rules of C1's editor (Primary email,
//! All emails, Username, Display name, Employee ID, each email field optionally with "Remove +
//! suffix") are plain CEL, so the API stays C1's `appUserKeyCel` / `userKeyCel` pairs;
//! [`Extractor`] recognizes those preset forms and reads the field directly instead of running
//! the interpreter, which is what makes resolving hundreds of thousands of accounts cheap.

use chamberlain_cel::{
    remove_plus_suffix, Expression, ImportDecision, Input, Marker, Purpose, Subject,
};
use chamberlain_model::app::{App, AppUser, IdentityMatching};
use chamberlain_model::directory::{AppUserMapper, Directory, MatchCase};
use chamberlain_model::user::User;

/// C1's default merge matching: email, then employee ID.
pub fn default_merge_cases() -> Vec<MatchCase> {
    vec![
        MatchCase::new("subject.emails", "subject.emails"),
        MatchCase::new("subject.employeeIds", "subject.employeeIds"),
    ]
}

/// The preset fields of the merge-matching editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `email`.
    PrimaryEmail,
    /// `emails`.
    AllEmails,
    /// `username` and `usernames`.
    Username,
    /// `displayName`.
    DisplayName,
    /// `employeeIds`.
    EmployeeId,
}

impl Field {
    /// The CEL the preset stands for (the same text on both sides).
    pub fn cel(self, remove_plus_suffix: bool) -> String {
        let f = match self {
            Field::PrimaryEmail => "subject.email",
            Field::AllEmails => "subject.emails",
            Field::Username => "subject.usernames",
            Field::DisplayName => "subject.displayName",
            Field::EmployeeId => "subject.employeeIds",
        };
        if remove_plus_suffix && matches!(self, Field::PrimaryEmail | Field::AllEmails) {
            format!("removePlusSuffix({f})")
        } else {
            f.to_string()
        }
    }

    fn parse(path: &str) -> Option<Field> {
        Some(match path {
            "email" => Field::PrimaryEmail,
            "emails" => Field::AllEmails,
            "username" | "usernames" => Field::Username,
            "displayName" | "display_name" => Field::DisplayName,
            "employeeIds" | "employee_ids" => Field::EmployeeId,
            _ => return None,
        })
    }
}

/// Narrow matching (C1's Strict): email, then username.
pub fn narrow_cases() -> Vec<MatchCase> {
    vec![
        MatchCase::new("subject.emails", "subject.emails"),
        MatchCase::new("subject.usernames", "subject.usernames"),
    ]
}

/// Broad matching: Narrow plus the display name.
pub fn broad_cases() -> Vec<MatchCase> {
    let mut cases = narrow_cases();
    cases.push(MatchCase::new("subject.displayName", "subject.displayName"));
    cases
}

/// Turns match keys into their comparable form: trimmed and lower-cased, so emails (and every
/// other key) compare case-insensitively. Empty keys never match.
pub fn normalize(key: &str) -> Option<String> {
    let k = key.trim();
    (!k.is_empty()).then(|| k.to_lowercase())
}

/// A compiled key extractor.
#[derive(Clone)]
pub enum Extractor {
    /// A preset field read directly.
    Field { field: Field, remove_plus: bool },
    /// Any other expression.
    Cel(Expression),
}

impl Extractor {
    /// Compiles `source` for accounts (`AccountKey`) or users (`UserKey`).
    pub fn compile(purpose: Purpose, source: &str) -> Result<Extractor, Vec<Marker>> {
        // Checked by the CEL environment either way, so the error positions are the same.
        let expr = Expression::compile(purpose, source)?;
        Ok(match preset(source) {
            Some((field, remove_plus)) => Extractor::Field { field, remove_plus },
            None => Extractor::Cel(expr),
        })
    }

    /// The account's keys (normalized, deduplicated).
    pub fn account_keys(&self, a: &AppUser) -> Result<Vec<String>, String> {
        match self {
            Extractor::Field { field, remove_plus } => Ok(finish(
                match field {
                    Field::PrimaryEmail => vec![a.email.as_str()],
                    Field::AllEmails => with_primary(&a.email, &a.emails),
                    Field::Username => with_primary(&a.username, &a.usernames),
                    Field::DisplayName => vec![a.display_name.as_str()],
                    Field::EmployeeId => a.employee_ids.iter().map(String::as_str).collect(),
                },
                *remove_plus,
            )),
            Extractor::Cel(e) => cel_keys(
                e,
                &Input {
                    subject: Some(Subject::Account(a)),
                    ..Default::default()
                },
            ),
        }
    }

    /// The user's keys (normalized, deduplicated).
    pub fn user_keys(&self, u: &User) -> Result<Vec<String>, String> {
        match self {
            Extractor::Field { field, remove_plus } => Ok(finish(
                match field {
                    Field::PrimaryEmail => vec![u.email.as_str()],
                    Field::AllEmails => with_primary(&u.email, &u.emails),
                    Field::Username => with_primary(&u.username, &u.usernames),
                    Field::DisplayName => vec![u.display_name.as_str()],
                    Field::EmployeeId => u.employee_ids.iter().map(String::as_str).collect(),
                },
                *remove_plus,
            )),
            Extractor::Cel(e) => cel_keys(
                e,
                &Input {
                    subject: Some(Subject::User(u)),
                    ..Default::default()
                },
            ),
        }
    }
}

/// A primary value and its list (`email` + `emails`, `username` + `usernames`), as the CEL
/// environment presents `emails` / `usernames`.
fn with_primary<'a>(primary: &'a str, all: &'a [String]) -> Vec<&'a str> {
    let mut v = vec![primary];
    v.extend(all.iter().map(String::as_str));
    v
}

fn finish(raw: Vec<&str>, remove_plus: bool) -> Vec<String> {
    let mut out: Vec<String> = raw
        .into_iter()
        .filter_map(|k| {
            if remove_plus {
                normalize(&remove_plus_suffix(k))
            } else {
                normalize(k)
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn cel_keys(e: &Expression, input: &Input<'_>) -> Result<Vec<String>, String> {
    let outcome = e.evaluate(input).map_err(|e| e.to_string())?;
    let keys = outcome.as_keys().map_err(|e| e.to_string())?;
    let mut out: Vec<String> = keys.iter().filter_map(|k| normalize(k)).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Recognizes the preset forms: `subject.<field>` and `removePlusSuffix(subject.<email field>)`.
fn preset(source: &str) -> Option<(Field, bool)> {
    let s: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let (inner, remove_plus) = match s
        .strip_prefix("removePlusSuffix(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(inner) => (inner, true),
        None => (s.as_str(), false),
    };
    let field = Field::parse(inner.strip_prefix("subject.")?)?;
    if remove_plus && !matches!(field, Field::PrimaryEmail | Field::AllEmails) {
        return None;
    }
    Some((field, remove_plus))
}

/// A compiled match case.
#[derive(Clone)]
pub struct CompiledCase {
    /// Position in the configured list.
    pub index: usize,
    /// The account side.
    pub account: Extractor,
    /// The user side.
    pub user: Extractor,
    /// Identifies the user side, so directories sharing it share one user index.
    pub user_source: String,
}

/// A configuration problem, for the API to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Which field (e.g. `mergeConfig.matchCases[1].userKeyCel`).
    pub field: String,
    /// What is wrong there.
    pub markers: Vec<Marker>,
    /// A message when there is no position.
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.field)?;
        if self.markers.is_empty() {
            return f.write_str(&self.message);
        }
        let parts: Vec<String> = self.markers.iter().map(|m| m.to_string()).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Compiles ordered match cases; `field` names the list in errors.
pub fn compile_cases(field: &str, cases: &[MatchCase]) -> Result<Vec<CompiledCase>, RuleError> {
    let mut out = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        if c.app_user_key_cel.trim().is_empty() || c.user_key_cel.trim().is_empty() {
            return Err(RuleError {
                field: format!("{field}[{i}]"),
                markers: vec![],
                message: "a match case needs both keys: `appUserKeyCel` (over the account) and `userKeyCel` (over the user), e.g. \"subject.emails\"".into(),
            });
        }
        let account =
            Extractor::compile(Purpose::AccountKey, &c.app_user_key_cel).map_err(|markers| {
                RuleError {
                    field: format!("{field}[{i}].appUserKeyCel"),
                    markers,
                    message: String::new(),
                }
            })?;
        let user =
            Extractor::compile(Purpose::UserKey, &c.user_key_cel).map_err(|markers| RuleError {
                field: format!("{field}[{i}].userKeyCel"),
                markers,
                message: String::new(),
            })?;
        out.push(CompiledCase {
            index: i,
            account,
            user,
            user_source: c.user_key_cel.trim().to_string(),
        });
    }
    Ok(out)
}

/// A directory ready to run.
#[derive(Clone)]
pub struct CompiledDirectory {
    /// The directory's app.
    pub app_id: String,
    /// The import condition; `None` imports every account (CREATE).
    pub filter: Option<Expression>,
    /// Merge cases, in order.
    pub cases: Vec<CompiledCase>,
}

impl CompiledDirectory {
    /// Compiles a directory's configuration, refusing what cannot run.
    pub fn compile(d: &Directory) -> Result<CompiledDirectory, RuleError> {
        if d.all.is_some() && d.cel_expression.is_some() {
            return Err(RuleError {
                field: "celExpression".into(),
                markers: vec![],
                message: "set either `all` or `celExpression` (the account filter is one of them), not both".into(),
            });
        }
        let filter = match &d.cel_expression {
            Some(c) if c.expression.trim().is_empty() => {
                return Err(RuleError {
                    field: "celExpression.expression".into(),
                    markers: vec![],
                    message: "the expression is empty: write one that returns true, false, \"CREATE\", \"MATCH_ONLY\" or \"IGNORE\" for an account, or use `all`".into(),
                })
            }
            Some(c) => Some(
                Expression::compile(Purpose::DirectoryAccountFilter, &c.expression).map_err(
                    |markers| RuleError {
                        field: "celExpression.expression".into(),
                        markers,
                        message: String::new(),
                    },
                )?,
            ),
            None => None,
        };
        let cases = match &d.merge_config {
            Some(m) if !m.match_cases.is_empty() => {
                compile_cases("mergeConfig.matchCases", &m.match_cases)?
            }
            Some(_) => {
                return Err(RuleError {
                    field: "mergeConfig.matchCases".into(),
                    markers: vec![],
                    message: "custom merge matching needs at least one match case; leave `mergeConfig` out for the default (email, then employee ID)".into(),
                })
            }
            None => compile_cases("mergeConfig.matchCases", &default_merge_cases())?,
        };
        Ok(CompiledDirectory {
            app_id: d.app_id.clone(),
            filter,
            cases,
        })
    }

    /// What the import condition says about `a`.
    pub fn decide(&self, a: &AppUser) -> Result<ImportDecision, String> {
        match &self.filter {
            None => Ok(ImportDecision::Create),
            Some(e) => e
                .evaluate(&Input {
                    subject: Some(Subject::Account(a)),
                    ..Default::default()
                })
                .and_then(|o| o.as_import_decision())
                .map_err(|e| e.to_string()),
        }
    }
}

/// A non-directory app's account matching.
pub fn app_cases(app: &App) -> Result<Vec<CompiledCase>, RuleError> {
    match app.identity_matching {
        IdentityMatching::DisplayName => compile_cases("identityMatching", &broad_cases()),
        IdentityMatching::Custom => {
            let mapper: AppUserMapper = match &app.app_user_mapper {
                Some(v) => serde_json::from_value(v.clone()).map_err(|e| RuleError {
                    field: "appUserMapper".into(),
                    markers: vec![],
                    message: e.to_string(),
                })?,
                None => AppUserMapper::default(),
            };
            if mapper.mapping_cases.is_empty() {
                return Err(RuleError {
                    field: "appUserMapper.mappingCases".into(),
                    markers: vec![],
                    message: "custom identity matching needs at least one mapping case (a pair of `appUserKeyCel` and `userKeyCel`)".into(),
                });
            }
            let cases: Vec<MatchCase> = mapper
                .mapping_cases
                .iter()
                .map(|c| MatchCase::new(&c.app_user_key_cel, &c.user_key_cel))
                .collect();
            compile_cases("appUserMapper.mappingCases", &cases)
        }
        _ => compile_cases("identityMatching", &narrow_cases()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_recognized_and_others_are_not() {
        assert_eq!(preset("subject.emails"), Some((Field::AllEmails, false)));
        assert_eq!(
            preset(" removePlusSuffix( subject.email ) "),
            Some((Field::PrimaryEmail, true))
        );
        assert_eq!(preset("removePlusSuffix(subject.displayName)"), None);
        assert_eq!(preset("subject.emails[0]"), None);
        assert_eq!(preset("subject.profile.email"), None);
    }

    /// The direct field reads must give exactly what the interpreter gives for the same text.
    #[test]
    fn presets_agree_with_the_interpreter() {
        let accounts = [
            AppUser {
                email: "Ann+x@Acme.com".into(),
                emails: vec!["ann@acme.com".into(), "a.lee@acme.com".into()],
                username: "ann".into(),
                usernames: vec!["alee".into()],
                display_name: " Ann Lee ".into(),
                employee_ids: vec!["E1".into(), "".into()],
                ..Default::default()
            },
            AppUser {
                email: "+tag@acme.com".into(),
                emails: vec!["no-at-sign+x".into()],
                ..Default::default()
            },
            AppUser::default(),
        ];
        let users = [
            User {
                email: "bob+hr@acme.com".into(),
                emails: vec!["bob@acme.com".into()],
                username: "bob".into(),
                display_name: "Bob".into(),
                employee_ids: vec!["E2".into()],
                ..Default::default()
            },
            User::default(),
        ];
        for field in [
            Field::PrimaryEmail,
            Field::AllEmails,
            Field::Username,
            Field::DisplayName,
            Field::EmployeeId,
        ] {
            for plus in [false, true] {
                let src = field.cel(plus);
                let direct = Extractor::compile(Purpose::AccountKey, &src).unwrap();
                assert!(matches!(direct, Extractor::Field { .. }), "{src}");
                let cel = Extractor::Cel(Expression::compile(Purpose::AccountKey, &src).unwrap());
                for a in &accounts {
                    assert_eq!(direct.account_keys(a), cel.account_keys(a), "{src}");
                }
                let direct = Extractor::compile(Purpose::UserKey, &src).unwrap();
                let cel = Extractor::Cel(Expression::compile(Purpose::UserKey, &src).unwrap());
                for u in &users {
                    assert_eq!(direct.user_keys(u), cel.user_keys(u), "{src}");
                }
            }
        }
    }

    #[test]
    fn keys_are_case_insensitive_and_plus_suffix_is_removed() {
        assert_eq!(
            finish(vec!["Ann+ops@Acme.com", "ann@acme.com ", ""], true),
            vec!["ann@acme.com".to_string()]
        );
    }
}
