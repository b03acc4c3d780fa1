//! Who is calling, and the built-in roles that decide what they may do.

use serde::{Deserialize, Serialize};

/// A built-in role. Role ids on the wire (`roleIds`, `--role`) are the kebab-case names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything.
    SuperAdmin,
    /// Manages the apps they own (as an app owner), and reads everything an admin reads.
    AppAdmin,
    /// Reads everything, changes nothing.
    ReadOnlyAdmin,
    /// Their own user, their own API clients, and what later features show them.
    BasicUser,
}

impl Role {
    /// Every role, in order of decreasing power.
    pub const ALL: [Role; 4] = [
        Role::SuperAdmin,
        Role::AppAdmin,
        Role::ReadOnlyAdmin,
        Role::BasicUser,
    ];

    /// The wire id.
    pub fn id(&self) -> &'static str {
        match self {
            Role::SuperAdmin => "super-admin",
            Role::AppAdmin => "app-admin",
            Role::ReadOnlyAdmin => "read-only-admin",
            Role::BasicUser => "basic-user",
        }
    }

    /// Display name, as the roles API shows it.
    pub fn display_name(&self) -> &'static str {
        match self {
            Role::SuperAdmin => "Super Admin",
            Role::AppAdmin => "App Admin",
            Role::ReadOnlyAdmin => "Read-Only Admin",
            Role::BasicUser => "Basic User",
        }
    }

    /// Parses a wire id (also accepting snake_case and the display name).
    pub fn parse(s: &str) -> Option<Role> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Role::ALL.into_iter().find(|r| r.id() == norm)
    }
}

/// The authenticated caller of a request, resolved from the access token and the current state
/// of the database (so revoked clients and removed roles take effect at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user the caller acts as.
    pub user_id: String,
    /// The API client that authenticated, if any.
    pub client_id: Option<String>,
    /// The user's current roles.
    pub roles: Vec<Role>,
    /// Set when the caller is a connector's credential: it may only feed that connector.
    pub connector: Option<ConnectorScope>,
}

/// The connector a connector credential belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorScope {
    /// The connector's app.
    pub app_id: String,
    /// The connector.
    pub connector_id: String,
}

impl Principal {
    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    /// Whether the caller may read every object in the identity graph.
    pub fn can_read_all(&self) -> bool {
        self.has(Role::SuperAdmin) || self.has(Role::ReadOnlyAdmin) || self.has(Role::AppAdmin)
    }
    /// Whether the caller may change anything without an ownership check.
    pub fn is_super_admin(&self) -> bool {
        self.has(Role::SuperAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_parse_in_several_spellings() {
        assert_eq!(Role::parse("super-admin"), Some(Role::SuperAdmin));
        assert_eq!(Role::parse("SUPER_ADMIN"), Some(Role::SuperAdmin));
        assert_eq!(Role::parse("Read-Only Admin"), Some(Role::ReadOnlyAdmin));
        assert_eq!(Role::parse("root"), None);
    }
}
