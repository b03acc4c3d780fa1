//! Policy validation and rule selection.
//!
//! A policy is checked as a whole on every save: step sequences well formed (each step exactly
//! one kind, each approval exactly one approver kind, only kinds Chamberlain can run), rule
//! conditions valid CEL returning bool, rules pointing at existing step keys or at policies of
//! the same type, and no reference chain longer than [`MAX_REFERENCE_DEPTH`] or looping back.

use chamberlain_cel::{Expression, Input, Purpose, Subject};
use chamberlain_model::app::{AppEntitlement, AppUser};
use chamberlain_model::policy::{Policy, PolicyStep, PolicyType};
use chamberlain_model::user::User;
use std::collections::{HashMap, HashSet};

/// How deep policy references may nest (C1: 5).
pub const MAX_REFERENCE_DEPTH: usize = 5;
/// Extra rules a policy may have besides its baseline (C1: 16).
pub const MAX_RULES: usize = 16;

/// Checks a policy about to be saved. `others` are the other live policies (by id), used to
/// check references. Returns the first problem, phrased as what to fix.
pub fn validate(policy: &Policy, others: &HashMap<String, Policy>) -> Result<(), String> {
    if policy.display_name.trim().is_empty() {
        return Err("displayName must not be empty".into());
    }
    if matches!(
        policy.policy_type,
        PolicyType::Unspecified | PolicyType::AccessRequest | PolicyType::Provision
    ) {
        return Err(format!(
            "policyType must be POLICY_TYPE_GRANT, POLICY_TYPE_REVOKE or POLICY_TYPE_CERTIFY (got {})",
            policy.policy_type.as_str()
        ));
    }
    let baseline = policy.policy_type.baseline_key();
    let has_baseline_steps = policy.policy_steps.contains_key(baseline);
    if has_baseline_steps && !policy.baseline_policy_id.is_empty() {
        return Err(format!(
            "set either policySteps[\"{baseline}\"] or baselinePolicyId, not both"
        ));
    }
    if !has_baseline_steps && policy.baseline_policy_id.is_empty() {
        return Err(format!(
            "policySteps must contain the baseline sequence under the key \"{baseline}\" (or set baselinePolicyId)"
        ));
    }
    if policy.rules.len() > MAX_RULES {
        return Err(format!(
            "a policy may have at most {MAX_RULES} rules besides its baseline (got {})",
            policy.rules.len()
        ));
    }
    for (key, seq) in &policy.policy_steps {
        if seq.steps.is_empty() {
            return Err(format!(
                "policySteps[\"{key}\"] has no steps; add at least one"
            ));
        }
        if seq.steps.len() > 32 {
            return Err(format!("policySteps[\"{key}\"] has more than 32 steps"));
        }
        for (i, step) in seq.steps.iter().enumerate() {
            validate_step(step, policy.policy_type)
                .map_err(|e| format!("policySteps[\"{key}\"].steps[{i}]: {e}"))?;
        }
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if rule.condition.trim().is_empty() {
            return Err(format!(
                "{at}.condition must be a CEL expression returning bool"
            ));
        }
        if let Err(markers) = Expression::compile(Purpose::PolicyCondition, &rule.condition) {
            let m = &markers[0];
            return Err(format!(
                "{at}.condition: {} (line {}, column {})",
                m.message, m.start_line_number, m.start_column
            ));
        }
        match (rule.selected_key(), rule.referenced_policy()) {
            (Some(_), Some(_)) => {
                return Err(format!("{at}: set stepKey or policyId, not both"));
            }
            (None, None) => {
                return Err(format!(
                    "{at}: set stepKey (a key of policySteps) or policyId (another policy)"
                ));
            }
            (Some(k), None) if !policy.policy_steps.contains_key(k) => {
                return Err(format!(
                    "{at}.stepKey \"{k}\" is not a key of policySteps (keys: {})",
                    policy
                        .policy_steps
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            _ => {}
        }
    }
    check_references(policy, others)
}

fn validate_step(step: &PolicyStep, ptype: PolicyType) -> Result<(), String> {
    let kinds = step.kinds();
    if kinds.len() != 1 {
        return Err(format!(
            "a step sets exactly one of approval, provision, accept, reject, wait (this one sets {})",
            if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
        ));
    }
    if step.form.is_some() || step.action.is_some() {
        return Err(format!(
            "{} steps are not supported by Chamberlain yet; use approval, provision, accept, reject or wait",
            kinds[0]
        ));
    }
    if let Some(a) = &step.approval {
        let k = a.kinds();
        if k.len() != 1 {
            return Err(format!(
                "an approval sets exactly one of users, manager, appOwners, entitlementOwners, resourceOwners, expression, self, group (this one sets {})",
                if k.is_empty() { "none".to_string() } else { k.join(", ") }
            ));
        }
        if a.webhook.is_some() || a.agent.is_some() {
            return Err(format!(
                "{} approvals are not supported by Chamberlain yet",
                k[0]
            ));
        }
        if let Some(u) = &a.users {
            if u.user_ids.is_empty() {
                return Err("approval.users.userIds must name at least one user".into());
            }
        }
        if let Some(g) = &a.group {
            if g.app_id.is_empty() || g.app_group_id.is_empty() {
                return Err(
                    "approval.group needs appId and appGroupId (the group's entitlement)".into(),
                );
            }
        }
        if let Some(e) = &a.expression {
            if e.expressions.is_empty() {
                return Err(
                    "approval.expression.expressions must hold at least one CEL expression".into(),
                );
            }
            for (i, src) in e.expressions.iter().enumerate() {
                if let Err(markers) = Expression::compile(Purpose::ApproverExpression, src) {
                    let m = &markers[0];
                    return Err(format!(
                        "approval.expression.expressions[{i}]: {} (line {}, column {})",
                        m.message, m.start_line_number, m.start_column
                    ));
                }
            }
        }
        if let Some(esc) = &a.escalation {
            if a.escalation_enabled {
                let set = [
                    esc.reassign_to_approvers.is_some(),
                    esc.replace_policy.is_some(),
                    esc.cancel_ticket.is_some(),
                    esc.skip_step.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if set != 1 {
                    return Err("approval.escalation sets exactly one of reassignToApprovers, replacePolicy, cancelTicket, skipStep".into());
                }
                match esc.expiration {
                    Some(d) if d.seconds >= 60 => {}
                    _ => {
                        return Err("approval.escalation.expiration must be a duration of at least 60s (for example \"86400s\")".into())
                    }
                }
                if let Some(r) = &esc.reassign_to_approvers {
                    if r.approver_ids.is_empty() {
                        return Err("approval.escalation.reassignToApprovers.approverIds must name at least one user".into());
                    }
                }
            }
        }
    }
    if let Some(p) = &step.provision {
        if ptype == PolicyType::Certify {
            return Err("certify policies do not provision".into());
        }
        if let Some(pp) = &p.provision_policy {
            let set = pp.methods();
            if set.len() > 1 {
                return Err(format!(
                    "provisionPolicy sets exactly one method (this one sets {})",
                    set.join(", ")
                ));
            }
            if let Some(m) = set.first() {
                if !matches!(
                    *m,
                    "connector" | "manual" | "webhook" | "delegated" | "unconfigured"
                ) {
                    return Err(format!(
                        "{m} provisioning is not supported by Chamberlain yet; use connector, manual, webhook or delegated"
                    ));
                }
            }
            if pp
                .delegated
                .as_ref()
                .is_some_and(|d| d.app_id.is_empty() || d.entitlement_id.is_empty())
            {
                return Err("provisionPolicy.delegated needs appId and entitlementId (the entitlement that carries the access)".into());
            }
            if pp.webhook.as_ref().is_some_and(|w| w.webhook_id.is_empty()) {
                return Err("provisionPolicy.webhook.webhookId must name a webhook".into());
            }
            if let Some(m) = &pp.manual {
                if m.user_ids.is_empty() {
                    return Err(
                        "provisionPolicy.manual.userIds must name at least one provisioner".into(),
                    );
                }
            }
        }
    }
    if let Some(w) = &step.wait {
        match (&w.duration, &w.condition, &w.until_time) {
            (Some(d), None, None) => {
                let secs = d.duration.map(|d| d.seconds).unwrap_or(0);
                if !(60..=31 * 86400).contains(&secs) {
                    return Err(
                        "wait.duration.duration must be between 60s and 2678400s (31 days)".into(),
                    );
                }
            }
            (None, Some(c), None) => {
                if let Err(markers) = Expression::compile(Purpose::PolicyCondition, &c.condition) {
                    let m = &markers[0];
                    return Err(format!(
                        "wait.condition.condition: {} (line {}, column {})",
                        m.message, m.start_line_number, m.start_column
                    ));
                }
                match w.timeout_duration {
                    Some(d) if d.seconds >= 60 => {}
                    _ => return Err("wait.condition needs timeoutDuration of at least 60s".into()),
                }
            }
            (None, None, Some(_)) => {
                return Err(
                    "wait.untilTime is not supported by Chamberlain yet; use duration or condition"
                        .into(),
                )
            }
            _ => return Err("wait sets exactly one of duration, condition, untilTime".into()),
        }
    }
    Ok(())
}

/// The policies a policy refers to (rules and baseline).
pub fn references(policy: &Policy) -> Vec<&str> {
    let mut out: Vec<&str> = policy
        .rules
        .iter()
        .filter_map(|r| r.referenced_policy())
        .collect();
    if !policy.baseline_policy_id.is_empty() {
        out.push(&policy.baseline_policy_id);
    }
    out
}

fn check_references(policy: &Policy, others: &HashMap<String, Policy>) -> Result<(), String> {
    for r in references(policy) {
        if !policy.id.is_empty() && r == policy.id {
            return Err(format!(
                "policy {r} refers to itself; choose another policy"
            ));
        }
        let Some(target) = others.get(r) else {
            return Err(format!("referenced policy `{r}` does not exist"));
        };
        if target.policy_type != policy.policy_type {
            return Err(format!(
                "referenced policy `{r}` is a {} policy; a {} policy may only refer to policies of its own type",
                target.policy_type.as_str(),
                policy.policy_type.as_str()
            ));
        }
    }
    // Depth and cycles over the graph with this policy's new version in place.
    fn walk<'a>(
        id: &'a str,
        this: &'a Policy,
        others: &'a HashMap<String, Policy>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), String> {
        if path.contains(&id) {
            path.push(id);
            return Err(format!(
                "policy references form a cycle: {}; remove one of the references",
                path.join(" → ")
            ));
        }
        if path.len() > MAX_REFERENCE_DEPTH {
            return Err(format!(
                "policy references nest deeper than {MAX_REFERENCE_DEPTH}: {}",
                path.join(" → ")
            ));
        }
        let node = if id == this.id || (id.is_empty() && this.id.is_empty()) {
            this
        } else {
            match others.get(id) {
                Some(p) => p,
                None => return Ok(()),
            }
        };
        path.push(id);
        for r in references(node) {
            walk(r, this, others, path)?;
        }
        path.pop();
        Ok(())
    }
    let mut path = Vec::new();
    walk(&policy.id, policy, others, &mut path)?;
    // Policies that refer to this one must not now exceed the depth either.
    for other in others.values() {
        if other.id != policy.id && references(other).contains(&policy.id.as_str()) {
            let mut path = Vec::new();
            walk(&other.id, policy, others, &mut path)?;
        }
    }
    Ok(())
}

/// What a rule selection needs to evaluate conditions.
pub struct RuleInput<'a> {
    pub subject: &'a User,
    pub account: Option<&'a AppUser>,
    pub entitlement: &'a AppEntitlement,
    pub task: &'a serde_json::Value,
    pub directory: Option<&'a dyn chamberlain_cel::Directory>,
}

/// The steps a policy prescribes for a request, and how they were chosen (for the task's
/// history). Rules are tried top-down; a rule whose condition fails to evaluate is skipped and
/// reported. References are followed (bounded by [`MAX_REFERENCE_DEPTH`]).
pub fn select_steps(
    policy: &Policy,
    all: &HashMap<String, Policy>,
    input: &RuleInput<'_>,
) -> Result<(Vec<PolicyStep>, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut current = policy;
    let mut seen = HashSet::new();
    for _ in 0..=MAX_REFERENCE_DEPTH {
        seen.insert(current.id.clone());
        let mut chosen: Option<Result<&str, &str>> = None;
        for (i, rule) in current.rules.iter().enumerate() {
            let matched = match Expression::compile(Purpose::PolicyCondition, &rule.condition) {
                Ok(expr) => {
                    let cel_input = Input {
                        subject: Some(Subject::User(input.subject)),
                        account: input.account,
                        entitlement: Some(input.entitlement),
                        task: Some(input.task),
                        directory: input.directory,
                        ..Default::default()
                    };
                    match expr.evaluate(&cel_input).and_then(|o| o.as_bool()) {
                        Ok(b) => b,
                        Err(e) => {
                            notes.push(format!(
                                "policy \"{}\" rule {} could not be evaluated ({e}); skipped",
                                current.display_name,
                                i + 1
                            ));
                            false
                        }
                    }
                }
                Err(_) => false,
            };
            if matched {
                notes.push(format!(
                    "policy \"{}\" rule {} matched: {}",
                    current.display_name,
                    i + 1,
                    rule.condition
                ));
                chosen = Some(match rule.referenced_policy() {
                    Some(p) => Err(p),
                    None => Ok(rule.selected_key().unwrap_or_default()),
                });
                break;
            }
        }
        let chosen = chosen.unwrap_or_else(|| {
            if current.baseline_policy_id.is_empty() {
                Ok(current.policy_type.baseline_key())
            } else {
                Err(current.baseline_policy_id.as_str())
            }
        });
        match chosen {
            Ok(key) => {
                let steps = current
                    .policy_steps
                    .get(key)
                    .map(|s| s.steps.clone())
                    .ok_or_else(|| {
                        format!(
                            "policy \"{}\" has no step sequence \"{key}\"",
                            current.display_name
                        )
                    })?;
                if notes.is_empty() || !notes.last().is_some_and(|n| n.contains("matched")) {
                    notes.push(format!(
                        "policy \"{}\": no rule matched; baseline steps apply",
                        current.display_name
                    ));
                }
                return Ok((steps, notes));
            }
            Err(next) => {
                let Some(p) = all.get(next) else {
                    return Err(format!(
                        "policy \"{}\" refers to policy `{next}`, which no longer exists",
                        current.display_name
                    ));
                };
                if seen.contains(&p.id) {
                    return Err(format!("policy references loop at `{next}`"));
                }
                notes.push(format!(
                    "policy \"{}\" defers to policy \"{}\"",
                    current.display_name, p.display_name
                ));
                current = p;
            }
        }
    }
    Err(format!(
        "policy references nest deeper than {MAX_REFERENCE_DEPTH}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chamberlain_model::policy::{Accept, Approval, PolicySteps, Rule, UserApproval};

    fn accept_policy(id: &str) -> Policy {
        let mut p = Policy {
            id: id.into(),
            display_name: format!("P {id}"),
            policy_type: PolicyType::Grant,
            ..Default::default()
        };
        p.policy_steps.insert(
            "grant".into(),
            PolicySteps {
                steps: vec![PolicyStep {
                    accept: Some(Accept::default()),
                    ..Default::default()
                }],
            },
        );
        p
    }

    fn refer(mut p: Policy, to: &str) -> Policy {
        p.rules.push(Rule {
            condition: "true".into(),
            policy_id: Some(to.into()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn cycles_and_depth_are_refused() {
        let mut all = HashMap::new();
        all.insert("a".to_string(), refer(accept_policy("a"), "b"));
        all.insert("b".to_string(), accept_policy("b"));
        // b → a closes a cycle.
        let b2 = refer(accept_policy("b"), "a");
        let err = validate(&b2, &all).unwrap_err();
        assert!(err.contains("cycle"), "{err}");
        // A chain of 7 is too deep.
        let mut all = HashMap::new();
        for i in 0..6 {
            let p = refer(accept_policy(&format!("p{i}")), &format!("p{}", i + 1));
            all.insert(format!("p{i}"), p);
        }
        all.insert("p6".into(), accept_policy("p6"));
        let top = refer(accept_policy("top"), "p0");
        let err = validate(&top, &all).unwrap_err();
        assert!(err.contains("deeper"), "{err}");
    }

    #[test]
    fn steps_must_be_well_formed() {
        let all = HashMap::new();
        let mut p = accept_policy("x");
        p.policy_steps
            .get_mut("grant")
            .unwrap()
            .steps
            .push(PolicyStep {
                approval: Some(Approval {
                    users: Some(UserApproval::default()),
                    manager: Some(Default::default()),
                    ..Default::default()
                }),
                ..Default::default()
            });
        let err = validate(&p, &all).unwrap_err();
        assert!(err.contains("exactly one of users"), "{err}");
        let mut p = accept_policy("x");
        p.rules.push(Rule {
            condition: "subject.nope == 1".into(),
            step_key: Some("grant".into()),
            ..Default::default()
        });
        let err = validate(&p, &all).unwrap_err();
        assert!(err.contains("rules[0].condition"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}

/// What a step asks for, in words a requester understands ("Approval by your manager"). `name`
/// turns a user id into a display name.
pub fn describe_step(step: &PolicyStep, name: &dyn Fn(&str) -> String) -> String {
    let names = |ids: &[String]| {
        let v: Vec<String> = ids.iter().map(|i| name(i)).collect();
        v.join(", ")
    };
    if let Some(a) = &step.approval {
        let who: Vec<String> = a
            .kinds()
            .into_iter()
            .map(|k| match k {
                "users" => a
                    .users
                    .as_ref()
                    .map(|u| names(&u.user_ids))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "named users".into()),
                "manager" => "the requester's manager".into(),
                "appOwners" => "the app's owners".into(),
                "entitlementOwners" => "the entitlement's owners".into(),
                "resourceOwners" => "the resource's owners".into(),
                "expression" => "approvers chosen by an expression".into(),
                "self" => "the requester".into(),
                "group" => "members of a group".into(),
                "webhook" => "a webhook".into(),
                "agent" => "an automated agent".into(),
                other => other.to_string(),
            })
            .collect();
        let who = if who.is_empty() {
            "an approver".to_string()
        } else {
            who.join(" or ")
        };
        return format!("Approval by {who}");
    }
    if step.provision.is_some() {
        return "Provisioning (the access is set up in the app)".into();
    }
    if let Some(a) = &step.accept {
        return if a.accept_message.is_empty() {
            "Approved automatically".into()
        } else {
            format!("Approved automatically: {}", a.accept_message)
        };
    }
    if let Some(r) = &step.reject {
        return if r.reject_message.is_empty() {
            "Denied automatically".into()
        } else {
            format!("Denied automatically: {}", r.reject_message)
        };
    }
    if step.wait.is_some() {
        return "A wait until a condition holds or a time passes".into();
    }
    if step.form.is_some() {
        return "A form for the requester to fill in".into();
    }
    "An automated action".into()
}

/// How a request with these steps ends without a person deciding: `AUTO_APPROVE` when no step
/// needs an approver or rejects, `AUTO_DENY` when a reject step comes before any approval,
/// else `REQUIRES_APPROVAL`.
pub fn outcome(steps: &[PolicyStep]) -> &'static str {
    for s in steps {
        if s.reject.is_some() {
            return "AUTO_DENY";
        }
        if s.approval.is_some() {
            return "REQUIRES_APPROVAL";
        }
    }
    "AUTO_APPROVE"
}

#[cfg(test)]
mod describe_tests {
    use super::*;
    use chamberlain_model::policy::{Accept, Approval, ManagerApproval, Reject, UserApproval};

    #[test]
    fn steps_are_described_and_classified() {
        let manager = PolicyStep {
            approval: Some(Approval {
                manager: Some(ManagerApproval::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let users = PolicyStep {
            approval: Some(Approval {
                users: Some(UserApproval {
                    user_ids: vec!["u1".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let accept = PolicyStep {
            accept: Some(Accept::default()),
            ..Default::default()
        };
        let reject = PolicyStep {
            reject: Some(Reject {
                reject_message: "not offered".into(),
            }),
            ..Default::default()
        };
        let name = |id: &str| format!("User {id}");
        assert_eq!(
            describe_step(&manager, &name),
            "Approval by the requester's manager"
        );
        assert_eq!(describe_step(&users, &name), "Approval by User u1");
        assert_eq!(
            describe_step(&reject, &name),
            "Denied automatically: not offered"
        );
        assert_eq!(
            outcome(&[accept.clone(), PolicyStep::default()]),
            "AUTO_APPROVE"
        );
        assert_eq!(outcome(&[accept, manager.clone()]), "REQUIRES_APPROVAL");
        assert_eq!(outcome(&[reject, manager]), "AUTO_DENY");
    }
}
