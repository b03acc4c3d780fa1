//! The OAuth authorization server's storage (migration 0014): AI clients (DCR and client ID
//! metadata documents), users' authorizations of them (C1's `ExternalClientInfo`, with the
//! ACTIVE → HIDDEN → CLOSED → DELETED lifecycle), authorization codes and refresh tokens.
//!
//! Codes, refresh tokens and client secrets are stored as SHA-256 digests only. Every change
//! is audited in its transaction, except `last_used_at` bookkeeping (at most once a minute per
//! authorization), which records use rather than a change anyone made.

use crate::page::Page;
use crate::record::{list_page, PageReq, Sql};
use crate::tx::Activity;
use crate::{Store, StoreError, Tx};
use chamberlain_model::ai_governance::{ClientIdType, ExternalClientInfo, WellKnownClient};
use chamberlain_model::{new_id, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

/// Authorization state: in use.
pub const ACTIVE: &str = "ACTIVE";
/// Authorization state: unused for a while, still works, hidden from default listings.
pub const HIDDEN: &str = "HIDDEN";
/// Authorization state: closed (by inactivity, the user or an admin); tokens stop working.
pub const CLOSED: &str = "CLOSED";
/// Authorization state: past retention.
pub const DELETED: &str = "DELETED";

/// Client metadata (RFC 7591 names) as registered or read from a metadata document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    /// Name shown on the consent page.
    pub client_name: String,
    /// Allowed redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub token_endpoint_auth_method: String,
    /// Grant types.
    pub grant_types: Vec<String>,
    /// Response types.
    pub response_types: Vec<String>,
    /// `web` or `native`.
    pub application_type: String,
    /// Optional home page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_uri: String,
}

/// An AI client as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OAuthClient {
    /// Record id (C1's `mcpClientId`).
    pub id: String,
    /// The OAuth client id (generated for DCR, the URL for CIMD).
    pub client_id: String,
    /// DCR or METADATA_URL.
    pub client_id_type: ClientIdType,
    /// The metadata.
    pub meta: ClientMetadata,
    /// The well-known client guess.
    pub well_known: WellKnownClient,
    /// SHA-256 of the client secret (confidential DCR clients).
    pub secret_hash: Option<String>,
    /// Switched off for everyone by an admin.
    pub killed: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl OAuthClient {
    /// The CIMD URL's host (empty for DCR clients).
    pub fn verified_domain(&self) -> String {
        if self.client_id_type != ClientIdType::MetadataUrl {
            return String::new();
        }
        let rest = self
            .client_id
            .strip_prefix("https://")
            .or_else(|| self.client_id.strip_prefix("http://"))
            .unwrap_or("");
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => &authority[..i],
            _ => authority,
        };
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }

    fn audit_doc(&self) -> serde_json::Value {
        json!({
            "mcpClientId": self.id,
            "clientId": self.client_id,
            "clientIdType": self.client_id_type.as_str(),
            "metadata": self.meta,
            "wellKnownClient": self.well_known.as_str(),
            "confidential": self.secret_hash.is_some(),
            "killed": self.killed,
        })
    }
}

const CLIENT_COLS: &str =
    "id, client_id, client_id_type, well_known, secret_hash, killed, created_at, updated_at, doc";

fn client_from_row(r: &sqlx::any::AnyRow) -> Result<OAuthClient, StoreError> {
    let doc: String = r.try_get(8)?;
    Ok(OAuthClient {
        id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        client_id_type: ClientIdType::parse(&r.try_get::<String, _>(2)?)
            .unwrap_or(ClientIdType::Unspecified),
        well_known: WellKnownClient::parse(&r.try_get::<String, _>(3)?)
            .unwrap_or(WellKnownClient::Unknown),
        secret_hash: r.try_get(4)?,
        killed: r.try_get::<i64, _>(5)? != 0,
        created_at: Timestamp::from_micros(r.try_get(6)?),
        updated_at: Timestamp::from_micros(r.try_get(7)?),
        meta: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt("oauth client", e.to_string()))?,
    })
}

/// The client with OAuth client id `client_id`.
pub async fn client_by_client_id(
    store: &Store,
    client_id: &str,
) -> Result<Option<OAuthClient>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {CLIENT_COLS} FROM oauth_clients WHERE client_id = "
    ));
    sql.arg(client_id);
    sql.query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| client_from_row(&r))
        .transpose()
}

/// The client with record id `id`.
pub async fn client_by_id(store: &Store, id: &str) -> Result<Option<OAuthClient>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {CLIENT_COLS} FROM oauth_clients WHERE id = "
    ));
    sql.arg(id);
    sql.query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| client_from_row(&r))
        .transpose()
}

/// Stores a new client, recording it (the secret's digest is not in the event).
pub async fn insert_client(tx: &mut Tx<'_>, c: &OAuthClient) -> Result<(), StoreError> {
    let doc = serde_json::to_string(&c.meta)
        .map_err(|e| StoreError::Corrupt("oauth client", e.to_string()))?;
    let mut sql = Sql::new(&format!(
        "INSERT INTO oauth_clients ({CLIENT_COLS}, client_name_lc) VALUES ("
    ));
    sql.arg(c.id.as_str())
        .push(", ")
        .arg(c.client_id.as_str())
        .push(", ")
        .arg(c.client_id_type.as_str())
        .push(", ")
        .arg(c.well_known.as_str())
        .push(", ")
        .arg(crate::Col::OptText(c.secret_hash.clone()))
        .push(", ")
        .arg(c.killed)
        .push(", ")
        .arg(c.created_at.as_micros())
        .push(", ")
        .arg(c.updated_at.as_micros())
        .push(", ")
        .arg(doc)
        .push(", ")
        .arg(c.meta.client_name.to_lowercase())
        .push(")");
    tx.exec(&sql).await.map_err(|e| {
        if e.is_unique_violation() {
            StoreError::Conflict(format!("client `{}` already exists", c.client_id))
        } else {
            e
        }
    })?;
    tx.audit(
        Activity::Create,
        "oauth client",
        &c.id,
        None,
        Some(c.audit_doc()),
    )
    .await
}

/// Records a client known by its metadata document: created on first sight, its metadata
/// refreshed when the document changed. Returns the stored client.
pub async fn upsert_cimd_client(
    tx: &mut Tx<'_>,
    url: &str,
    meta: &ClientMetadata,
) -> Result<OAuthClient, StoreError> {
    let mut sel = Sql::new(&format!(
        "SELECT {CLIENT_COLS} FROM oauth_clients WHERE client_id = "
    ));
    sel.arg(url);
    let existing = sel
        .query()
        .fetch_optional(tx.conn())
        .await?
        .map(|r| client_from_row(&r))
        .transpose()?;
    let now = tx.now();
    let well_known = WellKnownClient::guess(&meta.client_name, url);
    match existing {
        Some(c) if c.meta == *meta => Ok(c),
        Some(before) => {
            let mut after = before.clone();
            after.meta = meta.clone();
            after.well_known = well_known;
            after.updated_at = now;
            let doc = serde_json::to_string(&after.meta)
                .map_err(|e| StoreError::Corrupt("oauth client", e.to_string()))?;
            let mut sql = Sql::new("UPDATE oauth_clients SET doc = ");
            sql.arg(doc)
                .push(", client_name_lc = ")
                .arg(after.meta.client_name.to_lowercase())
                .push(", well_known = ")
                .arg(after.well_known.as_str())
                .push(", updated_at = ")
                .arg(now.as_micros())
                .push(" WHERE id = ")
                .arg(after.id.as_str());
            tx.exec(&sql).await?;
            tx.audit(
                Activity::Update,
                "oauth client",
                &after.id,
                Some(before.audit_doc()),
                Some(after.audit_doc()),
            )
            .await?;
            Ok(after)
        }
        None => {
            let c = OAuthClient {
                id: new_id(),
                client_id: url.to_string(),
                client_id_type: ClientIdType::MetadataUrl,
                meta: meta.clone(),
                well_known,
                secret_hash: None,
                killed: false,
                created_at: now,
                updated_at: now,
            };
            insert_client(tx, &c).await?;
            Ok(c)
        }
    }
}

/// Switches a client off for everyone (closing every authorization of it and revoking its
/// refresh tokens) or back on. Returns the client after the change.
pub async fn set_killed(
    tx: &mut Tx<'_>,
    id: &str,
    killed: bool,
) -> Result<OAuthClient, StoreError> {
    let mut sel = Sql::new(&format!(
        "SELECT {CLIENT_COLS} FROM oauth_clients WHERE id = "
    ));
    sel.arg(id);
    let before = sel
        .query()
        .fetch_optional(tx.conn())
        .await?
        .map(|r| client_from_row(&r))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("AI client", id))?;
    let now = tx.now();
    let mut after = before.clone();
    after.killed = killed;
    after.updated_at = now;
    let mut sql = Sql::new("UPDATE oauth_clients SET killed = ");
    sql.arg(killed)
        .push(", updated_at = ")
        .arg(now.as_micros())
        .push(" WHERE id = ")
        .arg(id);
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Update,
        "oauth client",
        id,
        Some(before.audit_doc()),
        Some(after.audit_doc()),
    )
    .await?;
    if killed {
        let mut sel = Sql::new(&format!(
            "SELECT {AUTH_COLS} FROM oauth_authorizations WHERE mcp_client_id = "
        ));
        sel.arg(id).push(" AND state IN ('ACTIVE', 'HIDDEN')");
        let rows = sel.query().fetch_all(tx.conn()).await?;
        for r in rows {
            let a = auth_from_row(&r)?;
            set_state(tx, &a, CLOSED).await?;
        }
    }
    Ok(after)
}

/// A user's authorization of a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Authorization {
    /// Record id.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client's record id.
    pub mcp_client_id: String,
    /// ACTIVE, HIDDEN, CLOSED or DELETED.
    pub state: String,
    /// Access tokens issued at or before this Unix second are refused.
    pub revoked_before: i64,
    /// First authorization.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Last successful use.
    pub last_used_at: Timestamp,
}

impl Authorization {
    fn audit_doc(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "userId": self.user_id,
            "clientId": self.client_id,
            "mcpClientId": self.mcp_client_id,
            "state": self.state,
            "lastUsedAt": self.last_used_at,
        })
    }
}

const AUTH_COLS: &str = "id, user_id, client_id, mcp_client_id, state, revoked_before, created_at, updated_at, last_used_at";

fn auth_from_row(r: &sqlx::any::AnyRow) -> Result<Authorization, StoreError> {
    Ok(Authorization {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        mcp_client_id: r.try_get(3)?,
        state: r.try_get(4)?,
        revoked_before: r.try_get(5)?,
        created_at: Timestamp::from_micros(r.try_get(6)?),
        updated_at: Timestamp::from_micros(r.try_get(7)?),
        last_used_at: Timestamp::from_micros(r.try_get(8)?),
    })
}

/// An authorization by record id.
pub async fn authorization(store: &Store, id: &str) -> Result<Option<Authorization>, StoreError> {
    let mut sql = Sql::new(&format!(
        "SELECT {AUTH_COLS} FROM oauth_authorizations WHERE id = "
    ));
    sql.arg(id);
    sql.query()
        .fetch_optional(store.pool())
        .await?
        .map(|r| auth_from_row(&r))
        .transpose()
}

/// What the MCP gateway needs to admit a token: the authorization, the user's status and the
/// client's name, in one statement over unique indexes (no scan).
#[derive(Clone, Debug)]
pub struct McpCheck {
    /// The authorization.
    pub authorization: Authorization,
    /// The user's status (`USER_STATUS_*`); empty when the user row is gone or deleted.
    pub user_status: String,
    /// The client's name.
    pub client_name: String,
    /// The user's live grants in the apps asked for (as `repo::mcp::user_grants` gives them),
    /// read by the same statement; None when no apps were asked for.
    pub grants: Option<Vec<(String, Option<Timestamp>)>>,
}

/// Loads [`McpCheck`] for `(user_id, client_id)` and, when `grant_apps` is not empty, the
/// user's grants in those apps: the gateway's two per-call reads in one statement.
pub async fn mcp_check(
    store: &Store,
    user_id: &str,
    client_id: &str,
    grant_apps: &[String],
) -> Result<Option<McpCheck>, StoreError> {
    let cols = AUTH_COLS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = Sql::new(&format!("SELECT {cols}, u.status, u.deleted_at, c.doc"));
    if !grant_apps.is_empty() {
        // One text value: `entitlement:deprovision_at` items joined by the ASCII unit
        // separator (no id holds a control character; the time is the part after the last `:`).
        let (concat, sep) = match store.backend() {
            crate::Backend::Sqlite => ("group_concat", "char(31)"),
            crate::Backend::Postgres => ("string_agg", "chr(31)"),
        };
        sql.push(&format!(
            ", (SELECT {concat}(g.entitlement_id || ':' || COALESCE(CAST(g.deprovision_at AS TEXT), ''), {sep}) \
             FROM app_users au JOIN grants g ON g.app_user_id = au.id \
             WHERE au.identity_user_id = a.user_id AND au.deleted_at IS NULL \
             AND g.deleted_at IS NULL AND au.app_id IN ("
        ))
        .list(grant_apps)
        .push("))");
    }
    sql.push(
        " FROM oauth_authorizations a \
         LEFT JOIN users u ON u.id = a.user_id \
         LEFT JOIN oauth_clients c ON c.id = a.mcp_client_id \
         WHERE a.user_id = ",
    );
    sql.arg(user_id).push(" AND a.client_id = ").arg(client_id);
    let text = sql.text_for(store.backend());
    let Some(r) = sql.query_text(&text).fetch_optional(store.pool()).await? else {
        return Ok(None);
    };
    let status: Option<String> = r.try_get(9)?;
    let deleted: Option<i64> = r.try_get(10)?;
    let doc: Option<String> = r.try_get(11)?;
    let client_name = doc
        .and_then(|d| serde_json::from_str::<ClientMetadata>(&d).ok())
        .map(|m| m.client_name)
        .unwrap_or_default();
    Ok(Some(McpCheck {
        authorization: auth_from_row(&r)?,
        user_status: if deleted.is_some() {
            String::new()
        } else {
            status.unwrap_or_default()
        },
        client_name,
        grants: if grant_apps.is_empty() {
            None
        } else {
            Some(parse_grants(
                r.try_get::<Option<String>, _>(12)?.as_deref(),
            )?)
        },
    }))
}

/// Parses the list of `entitlement:deprovision_at` items [`mcp_check`] reads.
fn parse_grants(list: Option<&str>) -> Result<Vec<(String, Option<Timestamp>)>, StoreError> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(Vec::new());
    };
    list.split('\u{1f}')
        .map(|item| {
            let (ent, until) = item.rsplit_once(':').ok_or_else(|| {
                StoreError::Corrupt("grant", format!("bad grant list item `{item}`"))
            })?;
            let until = match until {
                "" => None,
                t => Some(Timestamp::from_micros(t.parse().map_err(|_| {
                    StoreError::Corrupt("grant", format!("bad deprovision time `{t}`"))
                })?)),
            };
            Ok((ent.to_string(), until))
        })
        .collect()
}

/// Records a use: `last_used_at = now` when the stored value is at least `min_gap_secs` old
/// (so at most one write per minute per authorization), and a HIDDEN authorization becomes
/// ACTIVE again (that state change is audited).
pub async fn touch(
    store: &Store,
    a: &Authorization,
    now: Timestamp,
    min_gap_secs: i64,
) -> Result<(), StoreError> {
    if a.state == HIDDEN {
        let ctx = crate::AuditCtx::system("mcp-gateway");
        let a = a.clone();
        return crate::write_tx!(store, &ctx, |tx| {
            let mut after = a.clone();
            after.state = ACTIVE.into();
            after.last_used_at = tx.now();
            after.updated_at = tx.now();
            let mut sql =
                Sql::new("UPDATE oauth_authorizations SET state = 'ACTIVE', last_used_at = ");
            sql.arg(tx.now().as_micros())
                .push(", updated_at = ")
                .arg(tx.now().as_micros())
                .push(" WHERE id = ")
                .arg(a.id.as_str())
                .push(" AND state = 'HIDDEN'");
            if tx.exec(&sql).await? > 0 {
                tx.audit(
                    Activity::Update,
                    "ai client authorization",
                    &a.id,
                    Some(a.audit_doc()),
                    Some(after.audit_doc()),
                )
                .await?;
            }
            Ok(())
        });
    }
    let threshold = now.as_micros() - min_gap_secs * 1_000_000;
    let mut sql = Sql::new("UPDATE oauth_authorizations SET last_used_at = ");
    sql.arg(now.as_micros())
        .push(" WHERE id = ")
        .arg(a.id.as_str())
        .push(" AND last_used_at < ")
        .arg(threshold);
    sql.query().execute(store.pool()).await?;
    Ok(())
}

/// Makes (or keeps) `user_id`'s authorization of `client` ACTIVE after a successful consent.
pub async fn activate(
    tx: &mut Tx<'_>,
    user_id: &str,
    client: &OAuthClient,
) -> Result<Authorization, StoreError> {
    let now = tx.now();
    let mut sel = Sql::new(&format!(
        "SELECT {AUTH_COLS} FROM oauth_authorizations WHERE user_id = "
    ));
    sel.arg(user_id)
        .push(" AND client_id = ")
        .arg(client.client_id.as_str());
    let existing = sel
        .query()
        .fetch_optional(tx.conn())
        .await?
        .map(|r| auth_from_row(&r))
        .transpose()?;
    match existing {
        Some(before) => {
            let mut after = before.clone();
            after.state = ACTIVE.into();
            after.updated_at = now;
            after.last_used_at = now;
            after.mcp_client_id = client.id.clone();
            let mut sql =
                Sql::new("UPDATE oauth_authorizations SET state = 'ACTIVE', updated_at = ");
            sql.arg(now.as_micros())
                .push(", last_used_at = ")
                .arg(now.as_micros())
                .push(", mcp_client_id = ")
                .arg(client.id.as_str())
                .push(" WHERE id = ")
                .arg(before.id.as_str());
            tx.exec(&sql).await?;
            tx.audit(
                Activity::Update,
                "ai client authorization",
                &after.id,
                Some(before.audit_doc()),
                Some(after.audit_doc()),
            )
            .await?;
            Ok(after)
        }
        None => {
            let a = Authorization {
                id: new_id(),
                user_id: user_id.to_string(),
                client_id: client.client_id.clone(),
                mcp_client_id: client.id.clone(),
                state: ACTIVE.into(),
                revoked_before: 0,
                created_at: now,
                updated_at: now,
                last_used_at: now,
            };
            let mut sql = Sql::new(&format!(
                "INSERT INTO oauth_authorizations ({AUTH_COLS}) VALUES ("
            ));
            sql.arg(a.id.as_str())
                .push(", ")
                .arg(a.user_id.as_str())
                .push(", ")
                .arg(a.client_id.as_str())
                .push(", ")
                .arg(a.mcp_client_id.as_str())
                .push(", 'ACTIVE', 0, ")
                .arg(now.as_micros())
                .push(", ")
                .arg(now.as_micros())
                .push(", ")
                .arg(now.as_micros())
                .push(")");
            tx.exec(&sql).await?;
            tx.audit(
                Activity::Create,
                "ai client authorization",
                &a.id,
                None,
                Some(a.audit_doc()),
            )
            .await?;
            Ok(a)
        }
    }
}

/// Moves an authorization to `state`; CLOSED and DELETED also revoke its refresh tokens.
pub async fn set_state(
    tx: &mut Tx<'_>,
    a: &Authorization,
    state: &str,
) -> Result<Authorization, StoreError> {
    let now = tx.now();
    let mut after = a.clone();
    after.state = state.to_string();
    after.updated_at = now;
    let mut sql = Sql::new("UPDATE oauth_authorizations SET state = ");
    sql.arg(state)
        .push(", updated_at = ")
        .arg(now.as_micros())
        .push(" WHERE id = ")
        .arg(a.id.as_str());
    tx.exec(&sql).await?;
    if state == CLOSED || state == DELETED {
        let mut sql = Sql::new("UPDATE oauth_refresh_tokens SET revoked_at = ");
        sql.arg(now.as_micros())
            .push(" WHERE revoked_at IS NULL AND user_id = ")
            .arg(a.user_id.as_str())
            .push(" AND client_id = ")
            .arg(a.client_id.as_str());
        tx.exec(&sql).await?;
    }
    tx.audit(
        Activity::Update,
        "ai client authorization",
        &a.id,
        Some(a.audit_doc()),
        Some(after.audit_doc()),
    )
    .await?;
    Ok(after)
}

/// Authorizations due for a lifecycle step: those in one of `from` states unused since before
/// `unused_before`, at most `limit`.
pub async fn due_for_lifecycle(
    store: &Store,
    from: &[&str],
    unused_before: Timestamp,
    limit: i64,
) -> Result<Vec<Authorization>, StoreError> {
    let states: Vec<String> = from.iter().map(|s| s.to_string()).collect();
    let mut sql = Sql::new(&format!(
        "SELECT {AUTH_COLS} FROM oauth_authorizations WHERE state IN ("
    ));
    sql.list(&states)
        .push(") AND last_used_at < ")
        .arg(unused_before.as_micros())
        .push(" ORDER BY last_used_at LIMIT ")
        .arg(limit);
    sql.query()
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(auth_from_row)
        .collect()
}

/// Revokes the token family `family_id` (a reused code or refresh token): its refresh tokens
/// stop working and every access token issued so far to that (user, client) is refused.
pub async fn revoke_family(
    tx: &mut Tx<'_>,
    family_id: &str,
    user_id: &str,
    client_id: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let now = tx.now();
    let mut sql = Sql::new("UPDATE oauth_refresh_tokens SET revoked_at = ");
    sql.arg(now.as_micros())
        .push(" WHERE revoked_at IS NULL AND family_id = ")
        .arg(family_id);
    let n = tx.exec(&sql).await?;
    let mut sql = Sql::new("UPDATE oauth_authorizations SET revoked_before = ");
    sql.arg(now.unix_seconds())
        .push(", updated_at = ")
        .arg(now.as_micros())
        .push(" WHERE user_id = ")
        .arg(user_id)
        .push(" AND client_id = ")
        .arg(client_id);
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Delete,
        "oauth token family",
        family_id,
        None,
        Some(json!({"userId": user_id, "clientId": client_id, "reason": reason, "refreshTokensRevoked": n, "accessTokensIssuedBefore": now})),
    )
    .await
}

/// A new authorization code or refresh token's binding.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Token family (one per authorization code).
    pub family_id: String,
    /// OAuth client id.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// Resource (RFC 8707).
    pub resource: String,
    /// Granted scope.
    pub scope: String,
}

/// An authorization code as stored.
#[derive(Clone, Debug)]
pub struct Code {
    /// Record id.
    pub id: String,
    /// What it grants.
    pub grant: Grant,
    /// Redirect URI it was issued for.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Expiry (microseconds).
    pub expires_at: i64,
    /// When it was exchanged.
    pub used_at: Option<i64>,
}

/// Stores a new code (by digest), recording its issue (not the code).
pub async fn insert_code(
    tx: &mut Tx<'_>,
    code_hash: &str,
    grant: &Grant,
    redirect_uri: &str,
    code_challenge: &str,
    expires_at: Timestamp,
) -> Result<String, StoreError> {
    let id = new_id();
    let mut sql = Sql::new("INSERT INTO oauth_codes (id, code_hash, family_id, client_id, user_id, redirect_uri, code_challenge, resource, scope, created_at, expires_at, used_at) VALUES (");
    sql.arg(id.as_str())
        .push(", ")
        .arg(code_hash)
        .push(", ")
        .arg(grant.family_id.as_str())
        .push(", ")
        .arg(grant.client_id.as_str())
        .push(", ")
        .arg(grant.user_id.as_str())
        .push(", ")
        .arg(redirect_uri)
        .push(", ")
        .arg(code_challenge)
        .push(", ")
        .arg(grant.resource.as_str())
        .push(", ")
        .arg(grant.scope.as_str())
        .push(", ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(expires_at.as_micros())
        .push(", NULL)");
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Create,
        "oauth authorization code",
        &id,
        None,
        Some(json!({"userId": grant.user_id, "clientId": grant.client_id, "redirectUri": redirect_uri, "resource": grant.resource, "scope": grant.scope, "familyId": grant.family_id, "expiresAt": expires_at})),
    )
    .await?;
    Ok(id)
}

/// The code whose digest is `code_hash`.
pub async fn code_by_hash(tx: &mut Tx<'_>, code_hash: &str) -> Result<Option<Code>, StoreError> {
    let mut sql = Sql::new("SELECT id, family_id, client_id, user_id, resource, scope, redirect_uri, code_challenge, expires_at, used_at FROM oauth_codes WHERE code_hash = ");
    sql.arg(code_hash);
    let Some(r) = sql.query().fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    Ok(Some(Code {
        id: r.try_get(0)?,
        grant: Grant {
            family_id: r.try_get(1)?,
            client_id: r.try_get(2)?,
            user_id: r.try_get(3)?,
            resource: r.try_get(4)?,
            scope: r.try_get(5)?,
        },
        redirect_uri: r.try_get(6)?,
        code_challenge: r.try_get(7)?,
        expires_at: r.try_get(8)?,
        used_at: r.try_get(9)?,
    }))
}

/// Marks a code used; false when it already was (another request won the race).
pub async fn use_code(tx: &mut Tx<'_>, id: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("UPDATE oauth_codes SET used_at = ");
    sql.arg(tx.now().as_micros())
        .push(" WHERE used_at IS NULL AND id = ")
        .arg(id);
    let used = tx.exec(&sql).await? == 1;
    if used {
        tx.audit(
            Activity::Update,
            "oauth authorization code",
            id,
            None,
            Some(json!({"exchanged": true})),
        )
        .await?;
    }
    Ok(used)
}

/// A refresh token as stored.
#[derive(Clone, Debug)]
pub struct RefreshToken {
    /// Record id.
    pub id: String,
    /// What it grants.
    pub grant: Grant,
    /// Expiry (microseconds).
    pub expires_at: i64,
    /// When it was rotated.
    pub used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// Stores a new refresh token (by digest), recording its issue.
pub async fn insert_refresh(
    tx: &mut Tx<'_>,
    token_hash: &str,
    grant: &Grant,
    expires_at: Timestamp,
) -> Result<String, StoreError> {
    let id = new_id();
    let mut sql = Sql::new("INSERT INTO oauth_refresh_tokens (id, token_hash, family_id, client_id, user_id, resource, scope, created_at, expires_at, used_at, revoked_at) VALUES (");
    sql.arg(id.as_str())
        .push(", ")
        .arg(token_hash)
        .push(", ")
        .arg(grant.family_id.as_str())
        .push(", ")
        .arg(grant.client_id.as_str())
        .push(", ")
        .arg(grant.user_id.as_str())
        .push(", ")
        .arg(grant.resource.as_str())
        .push(", ")
        .arg(grant.scope.as_str())
        .push(", ")
        .arg(tx.now().as_micros())
        .push(", ")
        .arg(expires_at.as_micros())
        .push(", NULL, NULL)");
    tx.exec(&sql).await?;
    tx.audit(
        Activity::Create,
        "oauth refresh token",
        &id,
        None,
        Some(json!({"userId": grant.user_id, "clientId": grant.client_id, "familyId": grant.family_id, "resource": grant.resource, "expiresAt": expires_at})),
    )
    .await?;
    Ok(id)
}

/// The refresh token whose digest is `token_hash`.
pub async fn refresh_by_hash(
    tx: &mut Tx<'_>,
    token_hash: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    let mut sql = Sql::new("SELECT id, family_id, client_id, user_id, resource, scope, expires_at, used_at, revoked_at FROM oauth_refresh_tokens WHERE token_hash = ");
    sql.arg(token_hash);
    let Some(r) = sql.query().fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    Ok(Some(RefreshToken {
        id: r.try_get(0)?,
        grant: Grant {
            family_id: r.try_get(1)?,
            client_id: r.try_get(2)?,
            user_id: r.try_get(3)?,
            resource: r.try_get(4)?,
            scope: r.try_get(5)?,
        },
        expires_at: r.try_get(6)?,
        used_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
    }))
}

/// Marks a refresh token rotated; false when it already was or was revoked.
pub async fn use_refresh(tx: &mut Tx<'_>, id: &str) -> Result<bool, StoreError> {
    let mut sql = Sql::new("UPDATE oauth_refresh_tokens SET used_at = ");
    sql.arg(tx.now().as_micros())
        .push(" WHERE used_at IS NULL AND revoked_at IS NULL AND id = ")
        .arg(id);
    let used = tx.exec(&sql).await? == 1;
    if used {
        tx.audit(
            Activity::Update,
            "oauth refresh token",
            id,
            None,
            Some(json!({"rotated": true})),
        )
        .await?;
    }
    Ok(used)
}

/// Deletes codes and refresh tokens that can no longer be used: expired ones, and used or
/// revoked ones older than `keep_micros` (kept that long so a replay is still recognised and
/// revokes its family). Returns (codes, refresh tokens) removed.
pub async fn purge_expired(tx: &mut Tx<'_>, keep_micros: i64) -> Result<(u64, u64), StoreError> {
    let now = tx.now().as_micros();
    let mut sql = Sql::new("DELETE FROM oauth_codes WHERE expires_at < ");
    sql.arg(now - keep_micros);
    let codes = tx.exec(&sql).await?;
    let mut sql = Sql::new("DELETE FROM oauth_refresh_tokens WHERE expires_at < ");
    sql.arg(now)
        .push(" OR used_at < ")
        .arg(now - keep_micros)
        .push(" OR revoked_at < ")
        .arg(now - keep_micros);
    let refresh = tx.exec(&sql).await?;
    Ok((codes, refresh))
}

/// Filters of the external-client search.
#[derive(Clone, Debug, Default)]
pub struct ExternalClientQuery {
    /// Free text on the client name and the user's display name.
    pub query: String,
    /// Only these users (empty: all).
    pub user_ids: Vec<String>,
    /// Only these well-known clients (wire names; empty: all).
    pub well_known: Vec<String>,
    /// Only these client ids (e.g. CIMD URLs; empty: all).
    pub client_ids: Vec<String>,
    /// Include DELETED authorizations.
    pub include_deleted: bool,
}

/// Searches users' authorizations of AI clients, ordered by authorization id.
pub async fn search_external(
    store: &Store,
    q: &ExternalClientQuery,
    page: &PageReq,
) -> Result<Page<ExternalClientInfo>, StoreError> {
    let mut sql = Sql::new(
        "SELECT a.id, a.user_id, a.client_id, a.mcp_client_id, a.state, a.created_at, a.last_used_at, \
         c.client_id_type, c.well_known, c.killed, c.doc \
         FROM oauth_authorizations a JOIN oauth_clients c ON c.id = a.mcp_client_id \
         LEFT JOIN users u ON u.id = a.user_id WHERE 1 = 1",
    );
    if !q.include_deleted {
        sql.push(" AND a.state <> 'DELETED'");
    }
    if !q.user_ids.is_empty() {
        sql.push(" AND a.user_id IN (").list(&q.user_ids).push(")");
    }
    if !q.well_known.is_empty() {
        sql.push(" AND c.well_known IN (")
            .list(&q.well_known)
            .push(")");
    }
    if !q.client_ids.is_empty() {
        sql.push(" AND a.client_id IN (")
            .list(&q.client_ids)
            .push(")");
    }
    if !q.query.trim().is_empty() {
        sql.filter(&crate::Filter::Contains(
            vec!["c.client_name_lc", "u.display_name_lc"],
            q.query.trim().to_string(),
        ));
    }
    list_page(store.pool(), sql, "external_clients", page, "a.id", |r| {
        let doc: String = r.try_get(10)?;
        let meta: ClientMetadata = serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt("oauth client", e.to_string()))?;
        let client_id: String = r.try_get(2)?;
        let id_type =
            ClientIdType::parse(&r.try_get::<String, _>(7)?).unwrap_or(ClientIdType::Unspecified);
        let is_url = id_type == ClientIdType::MetadataUrl;
        let c = OAuthClient {
            id: r.try_get(3)?,
            client_id: client_id.clone(),
            client_id_type: id_type,
            meta: meta.clone(),
            well_known: WellKnownClient::Unknown,
            secret_hash: None,
            killed: false,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
        };
        Ok(ExternalClientInfo {
            client_id: client_id.clone(),
            client_id_type: id_type,
            client_id_url: if is_url { client_id } else { String::new() },
            client_name: meta.client_name.clone(),
            display_name: meta.client_name,
            verified_domain: c.verified_domain(),
            well_known_client: WellKnownClient::parse(&r.try_get::<String, _>(8)?)
                .unwrap_or(WellKnownClient::Unknown),
            mcp_client_id: c.id,
            role_ids: Vec::new(),
            user_id: r.try_get(1)?,
            created_at: Some(Timestamp::from_micros(r.try_get(5)?)),
            last_used_at: Some(Timestamp::from_micros(r.try_get(6)?)),
            chamberlain_state: r.try_get(4)?,
            chamberlain_killed: r.try_get::<i64, _>(9)? != 0,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_grants;
    use chamberlain_model::Timestamp;

    #[test]
    fn grant_lists_parse_and_bad_items_are_reported() {
        assert!(parse_grants(None).unwrap().is_empty());
        assert!(parse_grants(Some("")).unwrap().is_empty());
        let got = parse_grants(Some("e1:\u{1f}e:2:1700000000000000")).unwrap();
        assert_eq!(
            got,
            vec![
                ("e1".to_string(), None),
                (
                    "e:2".to_string(),
                    Some(Timestamp::from_micros(1_700_000_000_000_000))
                ),
            ]
        );
        assert!(parse_grants(Some("no-separator")).is_err());
        assert!(parse_grants(Some("e1:soon")).is_err());
    }
}
