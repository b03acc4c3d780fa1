//! Notification preferences as C1 serves them (`c1.api.settings.v1.ChannelSettings`): per
//! channel, per notification type, an `enabled` flag and (tenant level) a `locked` flag that
//! stops users from changing it; plus the digest schedule.

use serde::{Deserialize, Serialize};

/// `…Preference` (`enabled`, `locked`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Preference {
    pub enabled: bool,
    /// Tenant level only: users cannot change this type on this channel.
    pub locked: bool,
}

crate::wire_enum!(
    /// `DIGEST_FREQUENCY_*`.
    DigestFrequency {
        Unspecified = "DIGEST_FREQUENCY_UNSPECIFIED",
        Daily = "DIGEST_FREQUENCY_DAILY",
        Weekly = "DIGEST_FREQUENCY_WEEKLY",
    }
);

crate::wire_enum!(
    /// `WEEKDAY_*`.
    Weekday {
        Unspecified = "WEEKDAY_UNSPECIFIED",
        Monday = "WEEKDAY_MONDAY",
        Tuesday = "WEEKDAY_TUESDAY",
        Wednesday = "WEEKDAY_WEDNESDAY",
        Thursday = "WEEKDAY_THURSDAY",
        Friday = "WEEKDAY_FRIDAY",
        Saturday = "WEEKDAY_SATURDAY",
        Sunday = "WEEKDAY_SUNDAY",
    }
);

impl Weekday {
    /// Monday = 1 … Sunday = 7 (ISO 8601); unspecified counts as Monday.
    pub fn iso_number(self) -> i8 {
        match self {
            Weekday::Unspecified | Weekday::Monday => 1,
            Weekday::Tuesday => 2,
            Weekday::Wednesday => 3,
            Weekday::Thursday => 4,
            Weekday::Friday => 5,
            Weekday::Saturday => 6,
            Weekday::Sunday => 7,
        }
    }
}

/// `DigestPreference`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DigestPreference {
    pub enabled: bool,
    pub frequency: DigestFrequency,
    pub day_of_week: Weekday,
}

/// One channel's settings (`EmailChannelSettings`, `SlackChannelSettings`,
/// `MSTeamsChannelSettings`: the same fields; email has no `isConfigured`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ChannelPreferences {
    pub enabled: bool,
    /// Read-only: whether the channel can deliver (SMTP / Slack configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_configured: Option<bool>,
    pub access_provisioned: Option<Preference>,
    pub approval_needed: Option<Preference>,
    pub comment_on_request: Option<Preference>,
    pub completion: Option<Preference>,
    pub connector_issues: Option<Preference>,
    pub digest: Option<DigestPreference>,
    pub expiring_access: Option<Preference>,
    pub provisioning_request: Option<Preference>,
    pub request_created: Option<Preference>,
    pub reviews: Option<Preference>,
    pub system: Option<Preference>,
    pub task_reminders: Option<Preference>,
}

/// The preference types by wire name, for iteration and error messages.
pub const PREFERENCE_NAMES: &[&str] = &[
    "accessProvisioned",
    "approvalNeeded",
    "commentOnRequest",
    "completion",
    "connectorIssues",
    "expiringAccess",
    "provisioningRequest",
    "requestCreated",
    "reviews",
    "system",
    "taskReminders",
];

impl ChannelPreferences {
    /// The preference named `name` (wire name), if set.
    pub fn get(&self, name: &str) -> Option<Preference> {
        *self.slot(name)?
    }

    fn slot(&self, name: &str) -> Option<&Option<Preference>> {
        Some(match name {
            "accessProvisioned" => &self.access_provisioned,
            "approvalNeeded" => &self.approval_needed,
            "commentOnRequest" => &self.comment_on_request,
            "completion" => &self.completion,
            "connectorIssues" => &self.connector_issues,
            "expiringAccess" => &self.expiring_access,
            "provisioningRequest" => &self.provisioning_request,
            "requestCreated" => &self.request_created,
            "reviews" => &self.reviews,
            "system" => &self.system,
            "taskReminders" => &self.task_reminders,
            _ => return None,
        })
    }

    /// Sets the preference named `name` (wire name); unknown names are ignored.
    pub fn set(&mut self, name: &str, p: Preference) {
        let slot = match name {
            "accessProvisioned" => &mut self.access_provisioned,
            "approvalNeeded" => &mut self.approval_needed,
            "commentOnRequest" => &mut self.comment_on_request,
            "completion" => &mut self.completion,
            "connectorIssues" => &mut self.connector_issues,
            "expiringAccess" => &mut self.expiring_access,
            "provisioningRequest" => &mut self.provisioning_request,
            "requestCreated" => &mut self.request_created,
            "reviews" => &mut self.reviews,
            "system" => &mut self.system,
            "taskReminders" => &mut self.task_reminders,
            _ => return,
        };
        *slot = Some(p);
    }

    /// The tenant default of a channel: on, every type on and unlocked, digest off.
    pub fn tenant_default() -> ChannelPreferences {
        let mut c = ChannelPreferences {
            enabled: true,
            digest: Some(DigestPreference {
                enabled: false,
                frequency: DigestFrequency::Daily,
                day_of_week: Weekday::Monday,
            }),
            ..Default::default()
        };
        for name in PREFERENCE_NAMES {
            c.set(
                name,
                Preference {
                    enabled: true,
                    locked: false,
                },
            );
        }
        c
    }
}

/// `ChannelSettings`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ChannelSettings {
    pub email: Option<ChannelPreferences>,
    pub slack: Option<ChannelPreferences>,
    pub teams: Option<ChannelPreferences>,
}

/// The delivery channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Slack,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "slack" => Some(Channel::Slack),
            _ => None,
        }
    }
}

impl ChannelSettings {
    /// The tenant defaults: email and Slack on with every type, Teams off (not supported).
    pub fn tenant_default() -> ChannelSettings {
        ChannelSettings {
            email: Some(ChannelPreferences::tenant_default()),
            slack: Some(ChannelPreferences::tenant_default()),
            teams: Some(ChannelPreferences {
                enabled: false,
                ..ChannelPreferences::tenant_default()
            }),
        }
    }

    pub fn channel(&self, c: Channel) -> Option<&ChannelPreferences> {
        match c {
            Channel::Email => self.email.as_ref(),
            Channel::Slack => self.slack.as_ref(),
        }
    }

    /// Fills every unset channel and preference from `defaults`.
    pub fn filled_from(mut self, defaults: &ChannelSettings) -> ChannelSettings {
        fn fill(mine: &mut Option<ChannelPreferences>, theirs: &Option<ChannelPreferences>) {
            match (mine.as_mut(), theirs) {
                (None, t) => *mine = t.clone(),
                (Some(m), Some(t)) => {
                    for name in PREFERENCE_NAMES {
                        if m.get(name).is_none() {
                            if let Some(p) = t.get(name) {
                                m.set(name, p);
                            }
                        }
                    }
                    if m.digest.is_none() {
                        m.digest = t.digest;
                    }
                }
                (Some(_), None) => {}
            }
        }
        fill(&mut self.email, &defaults.email);
        fill(&mut self.slack, &defaults.slack);
        fill(&mut self.teams, &defaults.teams);
        self
    }

    /// Whether a user with `own` preferences gets notifications of type `name` on `channel`
    /// under these (complete) tenant settings: the channel must be on for the tenant; a locked
    /// tenant preference decides alone; otherwise the user's choice, else the tenant default.
    pub fn wants(&self, own: Option<&ChannelSettings>, channel: Channel, name: &str) -> bool {
        let Some(org) = self.channel(channel) else {
            return false;
        };
        if !org.enabled {
            return false;
        }
        let org_pref = org.get(name).unwrap_or(Preference {
            enabled: true,
            locked: false,
        });
        if org_pref.locked {
            return org_pref.enabled;
        }
        let mine = own.and_then(|o| o.channel(channel));
        if mine.is_some_and(|m| !m.enabled) {
            return false;
        }
        mine.and_then(|m| m.get(name))
            .map(|p| p.enabled)
            .unwrap_or(org_pref.enabled)
    }

    /// The digest a user gets on `channel`, if any (the user's choice unless absent).
    pub fn digest(
        &self,
        own: Option<&ChannelSettings>,
        channel: Channel,
    ) -> Option<DigestPreference> {
        let org = self.channel(channel).filter(|c| c.enabled)?;
        let mine = own.and_then(|o| o.channel(channel));
        if mine.is_some_and(|m| !m.enabled) {
            return None;
        }
        let d = mine.and_then(|m| m.digest).or(org.digest)?;
        d.enabled.then_some(d)
    }

    /// The names of preferences `own` changes against locked tenant preferences.
    pub fn locked_changes(&self, own: &ChannelSettings) -> Vec<String> {
        let mut out = Vec::new();
        for (label, c) in [("email", Channel::Email), ("slack", Channel::Slack)] {
            let (Some(org), Some(mine)) = (self.channel(c), own.channel(c)) else {
                continue;
            };
            for name in PREFERENCE_NAMES {
                if let (Some(o), Some(m)) = (org.get(name), mine.get(name)) {
                    if o.locked && m.enabled != o.enabled {
                        out.push(format!("{label}.{name}"));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_tenant_preferences_win_and_user_choices_apply_otherwise() {
        let mut org = ChannelSettings::tenant_default();
        let mut user = ChannelSettings::default();
        assert!(org.wants(None, Channel::Email, "completion"));
        let mut mine = ChannelPreferences {
            enabled: true,
            ..Default::default()
        };
        mine.set(
            "completion",
            Preference {
                enabled: false,
                locked: false,
            },
        );
        user.email = Some(mine);
        assert!(!org.wants(Some(&user), Channel::Email, "completion"));
        assert!(org.wants(Some(&user), Channel::Email, "approvalNeeded"));
        org.email.as_mut().unwrap().set(
            "completion",
            Preference {
                enabled: true,
                locked: true,
            },
        );
        assert!(org.wants(Some(&user), Channel::Email, "completion"));
        assert_eq!(org.locked_changes(&user), vec!["email.completion"]);
        org.email.as_mut().unwrap().enabled = false;
        assert!(!org.wants(Some(&user), Channel::Email, "completion"));
        assert!(org.wants(Some(&user), Channel::Slack, "completion"));
    }
}
