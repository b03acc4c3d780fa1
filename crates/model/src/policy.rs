//! Policies (`c1.api.policy.v1.Policy`): who must approve a grant, a revocation or a review, and
//! what happens after. A policy maps step keys to step sequences; its ordered rules pick a
//! sequence (or another policy) by CEL condition, and the baseline sequence, keyed by the
//! lower-cased policy type, applies when no rule matches.

use crate::protojson::{Duration, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

wire_enum!(
    /// `c1.api.policy.v1.Policy.PolicyType`.
    PolicyType {
        Unspecified = "POLICY_TYPE_UNSPECIFIED",
        Grant = "POLICY_TYPE_GRANT",
        Revoke = "POLICY_TYPE_REVOKE",
        Certify = "POLICY_TYPE_CERTIFY",
        AccessRequest = "POLICY_TYPE_ACCESS_REQUEST",
        Provision = "POLICY_TYPE_PROVISION",
    }
);

impl PolicyType {
    /// The key of the baseline step sequence in `policySteps` ("grant", "revoke", …).
    pub fn baseline_key(&self) -> &'static str {
        match self {
            PolicyType::Unspecified => "unspecified",
            PolicyType::Grant => "grant",
            PolicyType::Revoke => "revoke",
            PolicyType::Certify => "certify",
            PolicyType::AccessRequest => "access_request",
            PolicyType::Provision => "provision",
        }
    }
}

/// `c1.api.policy.v1.Policy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Policy {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub policy_type: PolicyType,
    pub policy_steps: BTreeMap<String, PolicySteps>,
    pub rules: Vec<Rule>,
    pub baseline_policy_id: String,
    pub post_actions: Vec<Value>,
    pub reassign_tasks_to_delegates: bool,
    pub annotations: BTreeMap<String, String>,
    pub scope: Option<Value>,
    pub system_builtin: bool,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.policy.v1.PolicySteps`: an ordered step sequence.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PolicySteps {
    pub steps: Vec<PolicyStep>,
}

/// `c1.api.policy.v1.Rule`: when `condition` holds, run the step sequence `stepKey` (or the
/// deprecated `policyKey`) or defer to the policy `policyId`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Rule {
    pub condition: String,
    pub policy_id: Option<String>,
    pub step_key: Option<String>,
    pub policy_key: String,
}

impl Rule {
    /// The step key this rule selects, whichever field carries it.
    pub fn selected_key(&self) -> Option<&str> {
        match self.step_key.as_deref() {
            Some(k) if !k.is_empty() => Some(k),
            _ if !self.policy_key.is_empty() => Some(&self.policy_key),
            _ => None,
        }
    }

    /// The referenced policy, if the rule defers to one.
    pub fn referenced_policy(&self) -> Option<&str> {
        self.policy_id.as_deref().filter(|p| !p.is_empty())
    }
}

/// `c1.api.policy.v1.PolicyStep`: exactly one of its fields is set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PolicyStep {
    pub approval: Option<Approval>,
    pub provision: Option<Provision>,
    pub accept: Option<Accept>,
    pub reject: Option<Reject>,
    pub wait: Option<Wait>,
    pub form: Option<Value>,
    pub action: Option<Value>,
}

impl PolicyStep {
    /// The names of the step kinds that are set (a valid step has exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.approval.is_some() {
            k.push("approval");
        }
        if self.provision.is_some() {
            k.push("provision");
        }
        if self.accept.is_some() {
            k.push("accept");
        }
        if self.reject.is_some() {
            k.push("reject");
        }
        if self.wait.is_some() {
            k.push("wait");
        }
        if self.form.is_some() {
            k.push("form");
        }
        if self.action.is_some() {
            k.push("action");
        }
        k
    }
}

/// `c1.api.policy.v1.Accept`: approve without a person.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Accept {
    pub accept_message: String,
}

/// `c1.api.policy.v1.Reject`: deny without a person.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Reject {
    pub reject_message: String,
}

/// `c1.api.policy.v1.Approval`: who approves (exactly one approver kind) and the step's options.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Approval {
    pub users: Option<UserApproval>,
    pub manager: Option<ManagerApproval>,
    pub app_owners: Option<OwnerApproval>,
    pub entitlement_owners: Option<OwnerApproval>,
    pub resource_owners: Option<OwnerApproval>,
    pub expression: Option<ExpressionApproval>,
    #[serde(rename = "self")]
    pub self_approval: Option<SelfApproval>,
    pub group: Option<GroupApproval>,
    pub webhook: Option<Value>,
    pub agent: Option<Value>,
    pub allow_reassignment: bool,
    pub allowed_reassignees: Vec<String>,
    pub allow_delegation: bool,
    pub require_approval_reason: bool,
    pub require_denial_reason: bool,
    pub require_reassignment_reason: bool,
    pub requires_step_up_provider_id: String,
    pub escalation_enabled: bool,
    pub escalation: Option<Escalation>,
    /// Read-only: whether approvers were assigned (set on task snapshots).
    pub assigned: bool,
}

impl Approval {
    /// The names of the approver kinds that are set (a valid approval has exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let set = [
            (self.users.is_some(), "users"),
            (self.manager.is_some(), "manager"),
            (self.app_owners.is_some(), "appOwners"),
            (self.entitlement_owners.is_some(), "entitlementOwners"),
            (self.resource_owners.is_some(), "resourceOwners"),
            (self.expression.is_some(), "expression"),
            (self.self_approval.is_some(), "self"),
            (self.group.is_some(), "group"),
            (self.webhook.is_some(), "webhook"),
            (self.agent.is_some(), "agent"),
        ];
        for (on, name) in set {
            if on {
                k.push(name);
            }
        }
        k
    }

    /// The fallback approvers configured on whichever approver kind is set.
    pub fn fallback_user_ids(&self) -> &[String] {
        let candidates: [Option<(bool, &Vec<String>)>; 7] = [
            self.manager
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
            self.entitlement_owners
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
            self.resource_owners
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
            self.app_owners
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
            self.expression
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
            self.self_approval
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
            self.group
                .as_ref()
                .map(|a| (a.fallback, &a.fallback_user_ids)),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|(on, _)| *on)
            .map(|(_, ids)| ids.as_slice())
            .unwrap_or(&[])
    }

    /// `(allowSelfApproval, requireDistinctApprovers)` of whichever approver kind is set.
    fn approver_options(&self) -> (bool, bool) {
        let kinds = [
            self.users
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
            self.manager
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
            self.app_owners
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
            self.entitlement_owners
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
            self.resource_owners
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
            self.expression
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
            self.group
                .as_ref()
                .map(|a| (a.allow_self_approval, a.require_distinct_approvers)),
        ];
        kinds
            .into_iter()
            .flatten()
            .fold((false, false), |acc, o| (acc.0 || o.0, acc.1 || o.1))
    }

    /// Whether the requester may approve their own request at this step (off by default; a
    /// self-approval step exists to let the subject approve).
    pub fn allows_self_approval(&self) -> bool {
        self.self_approval.is_some() || self.approver_options().0
    }

    /// Whether this step's approver must differ from earlier steps' approvers.
    pub fn requires_distinct_approvers(&self) -> bool {
        self.approver_options().1
    }
}

/// `c1.api.policy.v1.UserApproval`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UserApproval {
    pub user_ids: Vec<String>,
    pub allow_self_approval: bool,
    pub require_distinct_approvers: bool,
}

/// `c1.api.policy.v1.ManagerApproval`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ManagerApproval {
    pub allow_self_approval: bool,
    pub require_distinct_approvers: bool,
    pub fallback: bool,
    pub fallback_user_ids: Vec<String>,
    pub fallback_group_ids: Vec<Value>,
    pub is_group_fallback_enabled: bool,
    /// Read-only on task snapshots: who the step resolved to.
    pub assigned_user_ids: Vec<String>,
}

/// `c1.api.policy.v1.AppOwnerApproval`, `EntitlementOwnerApproval`, `ResourceOwnerApproval`
/// (app owners carry no fallback fields on C1's wire; they are accepted and unused there).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OwnerApproval {
    pub allow_self_approval: bool,
    pub require_distinct_approvers: bool,
    pub fallback: bool,
    pub fallback_user_ids: Vec<String>,
    pub fallback_group_ids: Vec<Value>,
    pub is_group_fallback_enabled: bool,
}

/// `c1.api.policy.v1.ExpressionApproval`: CEL expressions returning users.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExpressionApproval {
    pub expressions: Vec<String>,
    pub allow_self_approval: bool,
    pub require_distinct_approvers: bool,
    pub fallback: bool,
    pub fallback_user_ids: Vec<String>,
    pub fallback_group_ids: Vec<Value>,
    pub is_group_fallback_enabled: bool,
    pub assigned_user_ids: Vec<String>,
}

/// `c1.api.policy.v1.SelfApproval`: the subject approves.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SelfApproval {
    pub fallback: bool,
    pub fallback_user_ids: Vec<String>,
    pub fallback_group_ids: Vec<Value>,
    pub is_group_fallback_enabled: bool,
    pub assigned_user_ids: Vec<String>,
}

/// `c1.api.policy.v1.AppGroupApproval`: the members of a group (an entitlement's holders).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GroupApproval {
    pub app_id: String,
    pub app_group_id: String,
    pub allow_self_approval: bool,
    pub require_distinct_approvers: bool,
    pub fallback: bool,
    pub fallback_user_ids: Vec<String>,
    pub fallback_group_ids: Vec<Value>,
    pub is_group_fallback_enabled: bool,
}

/// `c1.api.policy.v1.Escalation`: what happens when an approval step outlives `expiration`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Escalation {
    pub escalation_comment: String,
    pub expiration: Option<Duration>,
    pub reassign_to_approvers: Option<ReassignToApprovers>,
    pub replace_policy: Option<ReplacePolicy>,
    pub cancel_ticket: Option<Value>,
    pub skip_step: Option<Value>,
}

/// `c1.api.policy.v1.Escalation.ReassignToApprovers`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReassignToApprovers {
    pub approver_ids: Vec<String>,
}

/// `c1.api.policy.v1.Escalation.ReplacePolicy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReplacePolicy {
    pub policy_id: String,
}

/// `c1.api.policy.v1.Provision`: carry out the change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Provision {
    pub assigned: bool,
    pub provision_policy: Option<ProvisionPolicy>,
    pub provision_target: Option<Value>,
}

/// `c1.api.policy.v1.ProvisionPolicy`: how (one of).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProvisionPolicy {
    pub connector: Option<Value>,
    pub manual: Option<ManualProvision>,
    pub delegated: Option<DelegatedProvision>,
    pub webhook: Option<WebhookProvision>,
    pub external_ticket: Option<Value>,
    pub multi_step: Option<Value>,
    pub action: Option<Value>,
    pub device_placement: Option<Value>,
    pub unconfigured: Option<Value>,
}

impl ProvisionPolicy {
    /// The names of the methods that are set (a valid policy sets at most one).
    pub fn methods(&self) -> Vec<&'static str> {
        [
            (self.connector.is_some(), "connector"),
            (self.manual.is_some(), "manual"),
            (self.delegated.is_some(), "delegated"),
            (self.webhook.is_some(), "webhook"),
            (self.external_ticket.is_some(), "externalTicket"),
            (self.multi_step.is_some(), "multiStep"),
            (self.action.is_some(), "action"),
            (self.device_placement.is_some(), "devicePlacement"),
            (self.unconfigured.is_some(), "unconfigured"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// Whether a method is chosen (`unconfigured` chooses none).
    pub fn sets_method(&self) -> bool {
        self.methods().iter().any(|m| *m != "unconfigured")
    }
}

/// `c1.api.policy.v1.ManualProvision`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ManualProvision {
    pub user_ids: Vec<String>,
    pub instructions: String,
    pub assignee: Option<Value>,
}

/// `c1.api.policy.v1.DelegatedProvision`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DelegatedProvision {
    pub app_id: String,
    pub entitlement_id: String,
    pub implicit: bool,
}

/// `c1.api.policy.v1.WebhookProvision`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WebhookProvision {
    pub webhook_id: String,
}

/// `c1.api.policy.v1.Wait`: pause for a duration, or until a condition holds (with a timeout).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Wait {
    pub name: String,
    pub comment_on_first_wait: String,
    pub comment_on_timeout: String,
    pub condition: Option<WaitCondition>,
    pub duration: Option<WaitDuration>,
    pub timeout_duration: Option<Duration>,
    pub until_time: Option<Value>,
}

/// `c1.api.policy.v1.WaitCondition`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WaitCondition {
    pub condition: String,
}

/// `c1.api.policy.v1.WaitDuration`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WaitDuration {
    pub duration: Option<Duration>,
}
