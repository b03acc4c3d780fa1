//! Directories (`c1.api.directory.v1.Directory`): apps whose accounts become Chamberlain users,
//! and the results of identity resolution (a Chamberlain extension).

use crate::protojson::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `c1.api.directory.v1.Directory`. The account filter is a oneof: `all` or `celExpression`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Directory {
    pub app_id: String,
    pub all: Option<Map<String, Value>>,
    pub cel_expression: Option<CelFilter>,
    pub merge_config: Option<MergeConfig>,
    /// Chamberlain extension: which directory's values win for each attribute when a user is
    /// imported from several (1 wins over 2). Directories with the same priority are ordered by
    /// creation.
    pub priority: u32,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.directory.v1.DirectoryAccountFilterCel`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CelFilter {
    pub expression: String,
}

/// `c1.api.directory.v1.DirectoryMergeConfig`: ordered key-extractor pairs; the first that
/// matches wins.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MergeConfig {
    pub match_cases: Vec<MatchCase>,
}

/// `c1.api.directory.v1.DirectoryMergeMatchCase` (also the shape of
/// `c1.api.app.v1.AppUserMapperMatchCase` without its read-only fields).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MatchCase {
    pub app_user_key_cel: String,
    pub user_key_cel: String,
}

impl MatchCase {
    /// A pair of key extractors.
    pub fn new(app_user_key_cel: &str, user_key_cel: &str) -> MatchCase {
        MatchCase {
            app_user_key_cel: app_user_key_cel.into(),
            user_key_cel: user_key_cel.into(),
        }
    }
}

/// `c1.api.app.v1.AppUserMapper`: custom account mapping for a non-directory app.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AppUserMapper {
    pub app_id: String,
    pub mapping_cases: Vec<MapperCase>,
}

/// `c1.api.app.v1.AppUserMapperMatchCase`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MapperCase {
    pub app_id: String,
    pub app_user_key_cel: String,
    pub case_index: u32,
    pub user_key_cel: String,
}

/// One identity-resolution run (Chamberlain extension): the directories run (`scope =
/// "directories"`) or the account linking of one app (`scope = "app:<id>"`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IdentityRun {
    pub id: String,
    pub scope: String,
    /// `RUNNING`, `DONE` or `ERROR`.
    pub state: String,
    /// Whether this was a preview: nothing was changed.
    pub dry_run: bool,
    pub counts: RunCounts,
    /// Accounts two or more users would match: linked to none of them.
    pub conflicts: Vec<Conflict>,
    /// Accounts whose expressions failed; they keep their current state.
    pub account_errors: Vec<AccountError>,
    /// Examples per outcome (previews).
    pub samples: Option<RunSamples>,
    /// Lists above are capped; these count everything.
    pub conflict_total: u64,
    pub account_error_total: u64,
    pub error: String,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

/// What a run did (or, for a preview, would do).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RunCounts {
    /// Directory accounts that created a user.
    pub users_created: u64,
    /// Directory accounts matched to an existing user.
    pub accounts_matched: u64,
    /// Directory accounts skipped by the import condition (IGNORE, or MATCH_ONLY without a
    /// match).
    pub accounts_ignored: u64,
    /// Users whose attributes changed.
    pub users_updated: u64,
    /// Directory users no directory imports any more (status DELETED).
    pub users_removed: u64,
    /// Accounts newly linked to a user (or moved to another user).
    pub accounts_linked: u64,
    /// Accounts whose link was removed.
    pub accounts_unlinked: u64,
    /// Accounts that matched no user.
    pub accounts_unmatched: u64,
    pub conflicts: u64,
    pub account_errors: u64,
}

/// An account that several users would match.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Conflict {
    pub app_id: String,
    pub app_user_id: String,
    pub app_user_display_name: String,
    /// Index of the match case that found several users.
    pub match_case: u32,
    pub key: String,
    pub candidate_user_ids: Vec<String>,
}

/// An account whose expression failed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AccountError {
    pub app_id: String,
    pub app_user_id: String,
    pub message: String,
}

/// A few examples of each outcome (previews).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RunSamples {
    pub create: Vec<Sample>,
    pub matched: Vec<Sample>,
    pub ignore: Vec<Sample>,
    pub remove: Vec<Sample>,
}

/// One example: the account and, when there is one, the user.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Sample {
    pub app_user_id: String,
    pub user_id: String,
    pub display_name: String,
    pub email: String,
}
