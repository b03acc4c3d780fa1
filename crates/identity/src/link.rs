//! Account ownership in non-directory apps, as a pure function: which user each account
//! belongs to under the app's identity matching. Ambiguous accounts are linked to nobody and
//! reported. With the built-in strategies (Narrow, Broad) service and system accounts are
//! never linked to a person; a custom rule may link them.

use crate::resolve::{build_indexes, is_automatic, match_account, LinkChange, Match, LIST_CAP};
use crate::rules::CompiledCase;
use crate::Account;
use chamberlain_model::app::AppUserType;
use chamberlain_model::directory::{AccountError, Conflict, IdentityRun, RunCounts};
use chamberlain_model::user::User;
use chamberlain_store::repo::identity::LinkSource;

/// Plans the links of one app's accounts. `custom` says whether the cases are the app's own
/// rules (which may link service accounts).
pub fn plan_app_links(
    cases: &[CompiledCase],
    custom: bool,
    accounts: &[Account],
    users: &[User],
) -> (Vec<LinkChange>, IdentityRun) {
    let indexes = build_indexes(cases.iter(), users, |u| u.deleted_at.is_some());
    let mut counts = RunCounts::default();
    let mut conflicts = Vec::new();
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    for acc in accounts {
        let a = &acc.app_user;
        if a.deleted_at.is_some() || !is_automatic(acc) {
            continue;
        }
        let machine = matches!(
            a.app_user_type,
            AppUserType::ServiceAccount | AppUserType::SystemAccount
        );
        let owner = if machine && !custom {
            None
        } else {
            let mut errs = Vec::new();
            let m = match_account(a, cases, &indexes, &mut errs);
            for e in errs {
                counts.account_errors += 1;
                if errors.len() < LIST_CAP {
                    errors.push(AccountError {
                        app_id: a.app_id.clone(),
                        app_user_id: a.id.clone(),
                        message: e,
                    });
                }
            }
            match m {
                Match::One(u) => Some(users[u].id.clone()),
                Match::Conflict {
                    case,
                    key,
                    users: c,
                } => {
                    counts.conflicts += 1;
                    if conflicts.len() < LIST_CAP {
                        conflicts.push(Conflict {
                            app_id: a.app_id.clone(),
                            app_user_id: a.id.clone(),
                            app_user_display_name: a.display_name.clone(),
                            match_case: case as u32,
                            key,
                            candidate_user_ids: c.iter().map(|&i| users[i].id.clone()).collect(),
                        });
                    }
                    None
                }
                Match::None => None,
            }
        };
        match owner {
            Some(uid) => {
                counts.accounts_matched += 1;
                if a.identity_user_id != uid || acc.link != LinkSource::Matching {
                    counts.accounts_linked += 1;
                    changes.push(LinkChange::of(a, uid, LinkSource::Matching));
                }
            }
            None => {
                counts.accounts_unmatched += 1;
                if !a.identity_user_id.is_empty() {
                    counts.accounts_unlinked += 1;
                    changes.push(LinkChange::of(a, String::new(), LinkSource::None));
                }
            }
        }
    }
    let run = IdentityRun {
        conflict_total: counts.conflicts,
        account_error_total: counts.account_errors,
        counts,
        conflicts,
        account_errors: errors,
        ..Default::default()
    };
    (changes, run)
}
