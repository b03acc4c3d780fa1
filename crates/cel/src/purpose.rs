//! Purposes: which feature an expression is for, and what that decides (variables, functions,
//! result type).

use crate::types::{Obj, Ty};

/// Which feature an expression is for: decides the variables in scope, the functions allowed and
/// the return type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// bool. `subject: User`, `account: AppUser`, `entitlement`, `task`, `ip`.
    PolicyCondition,
    /// `User | list<User>`. `subject`, `entitlement`, `task`, `appOwners: list<User>`.
    ApproverExpression,
    /// bool, or the string `"CREATE" | "MATCH_ONLY" | "IGNORE"`. `subject: AppUser`.
    DirectoryAccountFilter,
    /// `string | list<string>`. `subject: AppUser` (merge-match / account-mapping `appUserKeyCel`).
    AccountKey,
    /// `string | list<string>`. `subject: User` (`userKeyCel`).
    UserKey,
    /// bool. `subject: User`.
    AccessReviewUserFilter,
    /// bool. `subject: AppUser`.
    AccessReviewAccountFilter,
    /// bool. `subject: User`.
    DynamicGroup,
    /// bool. `ctx` only (`ctx.trigger.*`); no `c1.user` / `c1.directory` functions.
    AutomationTrigger,
    /// string. `subject: User`, `entitlement`, `task`.
    AccountProvisioning,
    /// `string | list<string>`. `subject: AppUser`.
    UserAttributeMapping,
    /// bool. `entitlement` only.
    EntitlementRule,
    /// bool. `ctx` (`ctx.tool_name`).
    HookFilter,
}

/// The result types a purpose accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResultRule {
    Bool,
    UserOrUsers,
    BoolOrImportDecision,
    StringOrStrings,
    String,
}

impl ResultRule {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ResultRule::Bool => "bool",
            ResultRule::UserOrUsers => "User or list<User>",
            ResultRule::BoolOrImportDecision => {
                "bool, or one of the strings \"CREATE\", \"MATCH_ONLY\", \"IGNORE\""
            }
            ResultRule::StringOrStrings => "string or list<string>",
            ResultRule::String => "string",
        }
    }

    /// Whether a value of static type `ty` may be what the expression returns. `dyn` is let
    /// through (checked when evaluated).
    pub(crate) fn accepts(self, ty: &Ty) -> bool {
        if ty.is_dyn() {
            return true;
        }
        let list_of = |pred: &dyn Fn(&Ty) -> bool| match ty {
            Ty::List(e) => e.is_dyn() || pred(e),
            _ => false,
        };
        match self {
            ResultRule::Bool => *ty == Ty::Bool,
            ResultRule::String => *ty == Ty::String,
            ResultRule::BoolOrImportDecision => *ty == Ty::Bool || *ty == Ty::String,
            ResultRule::StringOrStrings => *ty == Ty::String || list_of(&|e| *e == Ty::String),
            ResultRule::UserOrUsers => {
                *ty == Ty::Obj(Obj::User) || list_of(&|e| *e == Ty::Obj(Obj::User))
            }
        }
    }
}

/// The directory account filter's string results.
pub(crate) const IMPORT_DECISIONS: &[&str] = &["CREATE", "MATCH_ONLY", "IGNORE"];

impl Purpose {
    /// Every purpose.
    pub const ALL: &'static [Purpose] = &[
        Purpose::PolicyCondition,
        Purpose::ApproverExpression,
        Purpose::DirectoryAccountFilter,
        Purpose::AccountKey,
        Purpose::UserKey,
        Purpose::AccessReviewUserFilter,
        Purpose::AccessReviewAccountFilter,
        Purpose::DynamicGroup,
        Purpose::AutomationTrigger,
        Purpose::AccountProvisioning,
        Purpose::UserAttributeMapping,
        Purpose::EntitlementRule,
        Purpose::HookFilter,
    ];

    /// Stable snake_case name, e.g. `policy_condition`.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::PolicyCondition => "policy_condition",
            Purpose::ApproverExpression => "approver_expression",
            Purpose::DirectoryAccountFilter => "directory_account_filter",
            Purpose::AccountKey => "account_key",
            Purpose::UserKey => "user_key",
            Purpose::AccessReviewUserFilter => "access_review_user_filter",
            Purpose::AccessReviewAccountFilter => "access_review_account_filter",
            Purpose::DynamicGroup => "dynamic_group",
            Purpose::AutomationTrigger => "automation_trigger",
            Purpose::AccountProvisioning => "account_provisioning",
            Purpose::UserAttributeMapping => "user_attribute_mapping",
            Purpose::EntitlementRule => "entitlement_rule",
            Purpose::HookFilter => "hook_filter",
        }
    }

    /// The purpose named `name` (see [`Purpose::name`]).
    pub fn from_name(name: &str) -> Option<Purpose> {
        Purpose::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// The variables in scope and their types.
    pub(crate) fn variables(self) -> Vec<(&'static str, Ty)> {
        use Purpose::*;
        const USER: Ty = Ty::Obj(Obj::User);
        const ACCOUNT: Ty = Ty::Obj(Obj::AppUser);
        const ENT: Ty = Ty::Obj(Obj::Entitlement);
        match self {
            PolicyCondition => vec![
                ("subject", USER),
                ("account", ACCOUNT),
                ("entitlement", ENT),
                ("task", Ty::Dyn),
                ("ip", Ty::Ip),
            ],
            ApproverExpression => vec![
                ("subject", USER),
                ("entitlement", ENT),
                ("task", Ty::Dyn),
                ("appOwners", Ty::list(USER)),
            ],
            DirectoryAccountFilter
            | AccountKey
            | AccessReviewAccountFilter
            | UserAttributeMapping => vec![("subject", ACCOUNT)],
            UserKey | AccessReviewUserFilter | DynamicGroup => vec![("subject", USER)],
            AutomationTrigger => vec![("ctx", Ty::Dyn)],
            HookFilter => vec![("ctx", Ty::Dyn)],
            AccountProvisioning => vec![("subject", USER), ("entitlement", ENT), ("task", Ty::Dyn)],
            EntitlementRule => vec![("entitlement", ENT)],
        }
    }

    pub(crate) fn variable(self, name: &str) -> Option<Ty> {
        self.variables()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
    }

    /// Whether the `c1.user.v1` / `c1.directory.*` functions may be called.
    ///
    /// Not in automation triggers, hook filters and entitlement rules (C1's rule), nor in the
    /// expressions identity resolution runs over every account and user at once (directory
    /// filters, match keys, attribute mappings), where a lookup per account would make a run
    /// over 100,000 accounts a 100,000-query run.
    pub fn allows_directory(self) -> bool {
        !matches!(
            self,
            Purpose::AutomationTrigger
                | Purpose::HookFilter
                | Purpose::EntitlementRule
                | Purpose::DirectoryAccountFilter
                | Purpose::AccountKey
                | Purpose::UserKey
                | Purpose::UserAttributeMapping
        )
    }

    pub(crate) fn result_rule(self) -> ResultRule {
        use Purpose::*;
        match self {
            PolicyCondition
            | AccessReviewUserFilter
            | AccessReviewAccountFilter
            | DynamicGroup
            | AutomationTrigger
            | EntitlementRule
            | HookFilter => ResultRule::Bool,
            ApproverExpression => ResultRule::UserOrUsers,
            DirectoryAccountFilter => ResultRule::BoolOrImportDecision,
            AccountKey | UserKey | UserAttributeMapping => ResultRule::StringOrStrings,
            AccountProvisioning => ResultRule::String,
        }
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
