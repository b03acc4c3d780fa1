//! The data the `c1.user.v1` and `c1.directory.*` functions read.

use chamberlain_model::app::AppUser;
use chamberlain_model::user::User;
use std::collections::{HashMap, HashSet};

/// A lookup the directory could not answer (storage error, timeout, ...).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// The data the directory and user functions read. Implementations are synchronous;
/// evaluation memoizes every lookup within one evaluation.
pub trait Directory: Send + Sync {
    /// The user with this id.
    fn user(&self, id: &str) -> Result<Option<User>, LookupError>;
    /// The user with this email (case-insensitive; primary or any of `emails`).
    fn user_by_email(&self, email: &str) -> Result<Option<User>, LookupError>;
    /// The users whose `managerIds` contain `user_id`.
    fn direct_reports(&self, user_id: &str) -> Result<Vec<User>, LookupError>;
    /// The user's accounts in the app (`identityUserId == user_id`).
    fn app_users(&self, user_id: &str, app_id: &str) -> Result<Vec<AppUser>, LookupError>;
    /// Whether one of the user's accounts in the app holds the entitlement.
    fn has_entitlement(
        &self,
        user_id: &str,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<bool, LookupError>;
    /// The users whose accounts hold the entitlement.
    fn entitlement_members(
        &self,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<Vec<User>, LookupError>;
}

/// An in-memory [`Directory`] (tests, previews, and callers that have the data loaded).
/// Lookups scan the vectors; call [`MemoryDirectory::indexed`] for hash-indexed lookups over
/// large data.
#[derive(Default)]
pub struct MemoryDirectory {
    pub users: Vec<User>,
    pub app_users: Vec<AppUser>,
    /// `(app_user_id, app_id, entitlement_id)`.
    pub grants: Vec<(String, String, String)>,
}

impl MemoryDirectory {
    /// The same data with hash indexes built once (O(1) lookups).
    pub fn indexed(self) -> IndexedDirectory {
        let index = Index::build(&self);
        IndexedDirectory { data: self, index }
    }

    fn matches_email(u: &User, email: &str) -> bool {
        std::iter::once(&u.email)
            .chain(u.emails.iter())
            .any(|e| !e.is_empty() && e.eq_ignore_ascii_case(email))
    }
}

impl Directory for MemoryDirectory {
    fn user(&self, id: &str) -> Result<Option<User>, LookupError> {
        Ok(self.users.iter().find(|u| u.id == id).cloned())
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>, LookupError> {
        Ok(self
            .users
            .iter()
            .find(|u| Self::matches_email(u, email))
            .cloned())
    }

    fn direct_reports(&self, user_id: &str) -> Result<Vec<User>, LookupError> {
        Ok(self
            .users
            .iter()
            .filter(|u| u.manager_ids.iter().any(|m| m == user_id))
            .cloned()
            .collect())
    }

    fn app_users(&self, user_id: &str, app_id: &str) -> Result<Vec<AppUser>, LookupError> {
        Ok(self
            .app_users
            .iter()
            .filter(|a| a.identity_user_id == user_id && a.app_id == app_id)
            .cloned()
            .collect())
    }

    fn has_entitlement(
        &self,
        user_id: &str,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<bool, LookupError> {
        Ok(self.grants.iter().any(|(account, app, ent)| {
            app == app_id
                && ent == entitlement_id
                && self
                    .app_users
                    .iter()
                    .any(|a| &a.id == account && a.identity_user_id == user_id)
        }))
    }

    fn entitlement_members(
        &self,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<Vec<User>, LookupError> {
        let mut ids: Vec<&str> = Vec::new();
        for (account, app, ent) in &self.grants {
            if app != app_id || ent != entitlement_id {
                continue;
            }
            if let Some(a) = self.app_users.iter().find(|a| &a.id == account) {
                if !a.identity_user_id.is_empty() && !ids.contains(&a.identity_user_id.as_str()) {
                    ids.push(&a.identity_user_id);
                }
            }
        }
        Ok(ids
            .into_iter()
            .filter_map(|id| self.users.iter().find(|u| u.id == id).cloned())
            .collect())
    }
}

/// A [`MemoryDirectory`] with hash indexes (see [`MemoryDirectory::indexed`]).
pub struct IndexedDirectory {
    data: MemoryDirectory,
    index: Index,
}

#[derive(Default)]
struct Index {
    user_by_id: HashMap<String, usize>,
    user_by_email: HashMap<String, usize>,
    reports: HashMap<String, Vec<usize>>,
    accounts_by_user_app: HashMap<(String, String), Vec<usize>>,
    grants: HashSet<(String, String, String)>,
    members: HashMap<(String, String), Vec<String>>,
}

impl Index {
    fn build(d: &MemoryDirectory) -> Index {
        let mut ix = Index::default();
        for (i, u) in d.users.iter().enumerate() {
            ix.user_by_id.insert(u.id.clone(), i);
            for e in std::iter::once(&u.email).chain(u.emails.iter()) {
                if !e.is_empty() {
                    ix.user_by_email.entry(e.to_lowercase()).or_insert(i);
                }
            }
            for m in &u.manager_ids {
                ix.reports.entry(m.clone()).or_default().push(i);
            }
        }
        let mut account_by_id = HashMap::new();
        for (i, a) in d.app_users.iter().enumerate() {
            account_by_id.insert(a.id.as_str(), i);
            if !a.identity_user_id.is_empty() {
                ix.accounts_by_user_app
                    .entry((a.identity_user_id.clone(), a.app_id.clone()))
                    .or_default()
                    .push(i);
            }
        }
        for (account, app, ent) in &d.grants {
            let Some(&ai) = account_by_id.get(account.as_str()) else {
                continue;
            };
            let user = &d.app_users[ai].identity_user_id;
            if user.is_empty() {
                continue;
            }
            if ix.grants.insert((user.clone(), app.clone(), ent.clone())) {
                ix.members
                    .entry((app.clone(), ent.clone()))
                    .or_default()
                    .push(user.clone());
            }
        }
        ix
    }
}

impl Directory for IndexedDirectory {
    fn user(&self, id: &str) -> Result<Option<User>, LookupError> {
        Ok(self
            .index
            .user_by_id
            .get(id)
            .map(|&i| self.data.users[i].clone()))
    }

    fn user_by_email(&self, email: &str) -> Result<Option<User>, LookupError> {
        Ok(self
            .index
            .user_by_email
            .get(&email.to_lowercase())
            .map(|&i| self.data.users[i].clone()))
    }

    fn direct_reports(&self, user_id: &str) -> Result<Vec<User>, LookupError> {
        Ok(self
            .index
            .reports
            .get(user_id)
            .map(|v| v.iter().map(|&i| self.data.users[i].clone()).collect())
            .unwrap_or_default())
    }

    fn app_users(&self, user_id: &str, app_id: &str) -> Result<Vec<AppUser>, LookupError> {
        Ok(self
            .index
            .accounts_by_user_app
            .get(&(user_id.to_owned(), app_id.to_owned()))
            .map(|v| v.iter().map(|&i| self.data.app_users[i].clone()).collect())
            .unwrap_or_default())
    }

    fn has_entitlement(
        &self,
        user_id: &str,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<bool, LookupError> {
        Ok(self.index.grants.contains(&(
            user_id.to_owned(),
            app_id.to_owned(),
            entitlement_id.to_owned(),
        )))
    }

    fn entitlement_members(
        &self,
        app_id: &str,
        entitlement_id: &str,
    ) -> Result<Vec<User>, LookupError> {
        Ok(self
            .index
            .members
            .get(&(app_id.to_owned(), entitlement_id.to_owned()))
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| {
                        self.index
                            .user_by_id
                            .get(id)
                            .map(|&i| self.data.users[i].clone())
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}
