//! Tasks (`c1.api.task.v1.Task`): access requests and revocations moving through a policy.
//! A task snapshots its policy at creation (`policy.policy`); `policy.current` is the active
//! step, `policy.next` the steps still to come and `policy.history` the finished ones.

use crate::policy::{Accept, Approval, Policy, PolicyStep, Provision, Reject, Wait};
use crate::protojson::{int64_string, Duration, Timestamp};
use crate::wire_enum;
use serde::{Deserialize, Serialize};

wire_enum!(
    /// `c1.api.task.v1.Task.TaskState`.
    TaskState {
        Unspecified = "TASK_STATE_UNSPECIFIED",
        Open = "TASK_STATE_OPEN",
        Closed = "TASK_STATE_CLOSED",
    }
);

wire_enum!(
    /// `c1.api.task.v1.Task.Processing`.
    TaskProcessing {
        Unspecified = "TASK_PROCESSING_TYPE_UNSPECIFIED",
        Processing = "TASK_PROCESSING_TYPE_PROCESSING",
        Waiting = "TASK_PROCESSING_TYPE_WAITING",
        Done = "TASK_PROCESSING_TYPE_DONE",
    }
);

wire_enum!(
    /// `c1.api.task.v1.TaskOrigin`: what opened the task.
    TaskOrigin {
        Unspecified = "TASK_ORIGIN_UNSPECIFIED",
        ProfileMembershipAutomation = "TASK_ORIGIN_PROFILE_MEMBERSHIP_AUTOMATION",
        Slack = "TASK_ORIGIN_SLACK",
        Api = "TASK_ORIGIN_API",
        Jira = "TASK_ORIGIN_JIRA",
        Copilot = "TASK_ORIGIN_COPILOT",
        Webapp = "TASK_ORIGIN_WEBAPP",
        TimeRevoke = "TASK_ORIGIN_TIME_REVOKE",
        NonUsageRevoke = "TASK_ORIGIN_NON_USAGE_REVOKE",
        ProfileMembershipManual = "TASK_ORIGIN_PROFILE_MEMBERSHIP_MANUAL",
        ProfileMembership = "TASK_ORIGIN_PROFILE_MEMBERSHIP",
        Automation = "TASK_ORIGIN_AUTOMATION",
        AccessReview = "TASK_ORIGIN_ACCESS_REVIEW",
        CascadeDelete = "TASK_ORIGIN_CASCADE_DELETE",
    }
);

wire_enum!(
    /// `c1.api.task.v1.TaskTypeGrant.Outcome`.
    GrantOutcome {
        Unspecified = "GRANT_OUTCOME_UNSPECIFIED",
        Granted = "GRANT_OUTCOME_GRANTED",
        Denied = "GRANT_OUTCOME_DENIED",
        Error = "GRANT_OUTCOME_ERROR",
        Cancelled = "GRANT_OUTCOME_CANCELLED",
        WaitTimedOut = "GRANT_OUTCOME_WAIT_TIMED_OUT",
    }
);

wire_enum!(
    /// `c1.api.task.v1.TaskTypeRevoke.Outcome`.
    RevokeOutcome {
        Unspecified = "REVOKE_OUTCOME_UNSPECIFIED",
        Revoked = "REVOKE_OUTCOME_REVOKED",
        Denied = "REVOKE_OUTCOME_DENIED",
        Error = "REVOKE_OUTCOME_ERROR",
        Cancelled = "REVOKE_OUTCOME_CANCELLED",
        WaitTimedOut = "REVOKE_OUTCOME_WAIT_TIMED_OUT",
    }
);

wire_enum!(
    /// `c1.api.policy.v1.PolicyStepInstance.State`.
    StepState {
        Unspecified = "POLICY_STEP_STATE_UNSPECIFIED",
        Active = "POLICY_STEP_STATE_ACTIVE",
        Done = "POLICY_STEP_STATE_DONE",
    }
);

wire_enum!(
    /// `c1.api.policy.v1.ApprovalInstance.State`.
    ApprovalState {
        Unspecified = "APPROVAL_INSTANCE_STATE_UNSPECIFIED",
        Init = "APPROVAL_INSTANCE_STATE_INIT",
        SendingNotifications = "APPROVAL_INSTANCE_STATE_SENDING_NOTIFICATIONS",
        Waiting = "APPROVAL_INSTANCE_STATE_WAITING",
        Done = "APPROVAL_INSTANCE_STATE_DONE",
    }
);

wire_enum!(
    /// `c1.api.policy.v1.ProvisionInstance.State` (the states Chamberlain uses).
    ProvisionState {
        Unspecified = "PROVISION_INSTANCE_STATE_UNSPECIFIED",
        Init = "PROVISION_INSTANCE_STATE_INIT",
        Waiting = "PROVISION_INSTANCE_STATE_WAITING",
        Webhook = "PROVISION_INSTANCE_STATE_WEBHOOK",
        WebhookWaiting = "PROVISION_INSTANCE_STATE_WEBHOOK_WAITING",
        Done = "PROVISION_INSTANCE_STATE_DONE",
    }
);

wire_enum!(
    /// `c1.api.policy.v1.WaitInstance.State`.
    WaitState {
        Unspecified = "WAIT_INSTANCE_STATE_UNSPECIFIED",
        Waiting = "WAIT_INSTANCE_STATE_WAITING",
        Completed = "WAIT_INSTANCE_STATE_COMPLETED",
        TimedOut = "WAIT_INSTANCE_STATE_TIMED_OUT",
    }
);

/// `c1.api.task.v1.Task`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub id: String,
    #[serde(with = "int64_string")]
    pub numeric_id: i64,
    pub display_name: String,
    /// The requester's justification.
    pub description: String,
    pub state: TaskState,
    pub processing: TaskProcessing,
    pub origin: TaskOrigin,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    pub policy: Option<PolicyInstance>,
    /// The subject: the user the access is for.
    pub user_id: String,
    pub created_by_user_id: String,
    /// Who may act on the current step.
    pub step_approver_ids: Vec<String>,
    /// Everyone who approved a step so far.
    pub approver_ids: Vec<String>,
    pub emergency_access: bool,
    pub comment_count: i32,
    /// The actions the caller may take (filled per response).
    pub actions: Vec<String>,
    pub insight_ids: Vec<String>,
    pub recommendation: String,
    pub analysis_id: String,
    pub policy_generation_id: String,
    /// Chamberlain bookkeeping: the consequences of this task's outcome (profile enrollment and
    /// unenrollment) have been started. Not on C1's wire.
    #[serde(
        rename = "chamberlainFollowUpsDone",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub follow_ups_done: bool,
    /// Chamberlain bookkeeping: the task that caused this one (profile enrollment). Not on C1's
    /// wire when empty.
    #[serde(
        rename = "chamberlainParentTaskId",
        skip_serializing_if = "String::is_empty"
    )]
    pub parent_task_id: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}

/// `c1.api.task.v1.TaskType` (the kinds Chamberlain opens).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskType {
    pub grant: Option<TaskTypeGrant>,
    pub revoke: Option<TaskTypeRevoke>,
}

/// `c1.api.task.v1.TaskTypeGrant`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskTypeGrant {
    pub app_id: String,
    pub app_entitlement_id: String,
    pub app_user_id: String,
    pub identity_user_id: String,
    pub grant_duration: Option<Duration>,
    pub outcome: GrantOutcome,
    pub outcome_time: Option<Timestamp>,
}

/// `c1.api.task.v1.TaskTypeRevoke`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskTypeRevoke {
    pub app_id: String,
    pub app_entitlement_id: String,
    pub app_user_id: String,
    pub identity_user_id: String,
    pub outcome: RevokeOutcome,
    pub outcome_time: Option<Timestamp>,
}

/// `c1.api.policy.v1.PolicyInstance`: the task's copy of its policy and its progress.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyInstance {
    pub policy: Option<Policy>,
    pub current: Option<PolicyStepInstance>,
    pub next: Vec<PolicyStep>,
    pub history: Vec<PolicyStepInstance>,
}

/// `c1.api.policy.v1.PolicyStepInstance`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyStepInstance {
    pub id: String,
    pub policy_generation_id: String,
    pub state: StepState,
    pub approval: Option<ApprovalInstance>,
    pub provision: Option<ProvisionInstance>,
    pub accept: Option<Accept>,
    pub reject: Option<Reject>,
    pub wait: Option<WaitInstance>,
}

/// `c1.api.policy.v1.ApprovalInstance`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ApprovalInstance {
    pub approval: Option<Approval>,
    pub state: ApprovalState,
    pub assigned_at: Option<Timestamp>,
    pub approved: Option<ApprovedAction>,
    pub denied: Option<DeniedAction>,
    pub reassigned: Option<ReassignedAction>,
    pub skipped: Option<SkippedAction>,
    /// Chamberlain extension: why the approvers are who they are (for example "the manager
    /// step resolved to nobody; assigned to the fallback approvers").
    pub assignment_reason: String,
}

macro_rules! acted {
    ($(#[$m:meta])* $name:ident, $at:ident $(, $extra:ident)*) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
        #[serde(rename_all = "camelCase", default)]
        pub struct $name {
            pub user_id: String,
            pub $at: Option<Timestamp>,
            $(pub $extra: String,)*
        }
    };
}

acted!(
    /// `c1.api.policy.v1.ApprovedAction`.
    ApprovedAction, approved_at
);
acted!(
    /// `c1.api.policy.v1.DeniedAction`.
    DeniedAction, denied_at
);
acted!(
    /// `c1.api.policy.v1.ReassignedAction`.
    ReassignedAction, reassigned_at, new_policy_step_id
);
acted!(
    /// `c1.api.policy.v1.SkippedAction`.
    SkippedAction, skipped_at, new_policy_step_id
);

/// `c1.api.policy.v1.CancelledAction`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CancelledAction {
    pub cancelled_at: Option<Timestamp>,
    pub cancelled_by_user_id: String,
}

/// `c1.api.policy.v1.ProvisionInstance`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ProvisionInstance {
    pub provision: Option<Provision>,
    pub state: ProvisionState,
    pub completed: Option<CompletedAction>,
    pub errored: Option<ErroredAction>,
    pub cancelled: Option<CancelledAction>,
    pub skipped: Option<SkippedAction>,
    /// The webhook provisioning was sent to, and its delivery (C1's webhook instance).
    pub webhook_id: String,
    pub webhook_instance_id: String,
    /// Chamberlain extension: `connector`, `manual`, `webhook`, `delegated` or `builtin`
    /// (recorded in Chamberlain only), and whether the grant was confirmed by a sync.
    pub method: String,
}

/// `c1.api.policy.v1.CompletedAction`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CompletedAction {
    pub completed_at: Option<Timestamp>,
    pub user_id: String,
}

/// `c1.api.policy.v1.ErroredAction`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ErroredAction {
    pub description: String,
    pub error_code: String,
    pub errored_at: Option<Timestamp>,
}

/// `c1.api.policy.v1.WaitInstance`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct WaitInstance {
    pub wait: Option<Wait>,
    pub state: WaitState,
    pub started_waiting_at: Option<Timestamp>,
    /// When the wait ends (duration) or gives up (condition timeout).
    pub timeout: Option<Timestamp>,
}
