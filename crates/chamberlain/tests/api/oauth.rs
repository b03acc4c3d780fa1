//! The OAuth 2.1 authorization server for AI clients, driven like a browser and an MCP client
//! would: discovery, dynamic registration and client metadata documents, sign-in with CSRF,
//! consent, PKCE, code and refresh-token rules, the gateway's `authenticate_mcp`, the AI-client
//! lifecycle and its switches, and the AI governance settings.

use crate::harness::TestServer;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chamberlain_store::AuditCtx;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub(crate) const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://127.0.0.1:7777/callback";

/// A browser: keeps cookies, does not follow redirects (the test reads each one).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of the page's form.
pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|part| {
            let name = part
                .split("name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let value = part
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn query_of(location: &str) -> HashMap<String, String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Creates an enabled local user with the test password; returns the user id.
pub(crate) async fn user_with_password(s: &TestServer, email: &str) -> String {
    let id = s.local_user(email, "Ada", &[]).await;
    let phc = chamberlain_auth::password::hash(PASSWORD).unwrap();
    chamberlain_store::write_tx!(s.store, &AuditCtx::system("test"), |tx| {
        chamberlain_store::repo::web_auth::set_password(tx, &id, &phc).await
    })
    .unwrap();
    id
}

async fn register(s: &TestServer, body: Value) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/auth/v1/register", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn register_public(s: &TestServer, name: &str) -> String {
    let (st, v) = register(
        s,
        json!({"client_name": name, "redirect_uris": ["http://127.0.0.1/callback"], "application_type": "native"}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v["client_id"].as_str().unwrap().to_string()
}

fn resource(s: &TestServer) -> String {
    format!("{}/mcp", s.base)
}

fn authorize_url(
    s: &TestServer,
    client_id: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = reqwest::Url::parse(&format!("{}/auth/v1/authorize", s.base)).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "st<ate>&1")
            .append_pair("scope", "mcp");
        let mut has_resource = false;
        for (k, v) in extra {
            if *k == "resource" {
                has_resource = true;
            }
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if !has_resource {
            q.append_pair("resource", &format!("{}/mcp", s.base));
        }
    }
    url.to_string()
}

/// Signs `b` in through the sign-in form reached from `signin_location`; returns where the
/// form sent the browser.
pub(crate) async fn sign_in(
    s: &TestServer,
    b: &reqwest::Client,
    signin_location: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = b
        .get(format!("{}{}", s.base, signin_location))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let mut form = hidden_fields(&html);
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    b.post(format!("{}/auth/v1/signin", s.base))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Runs the browser part of the flow for `client_id` (sign-in if needed, consent, Allow) and
/// returns the redirect's query (code, state, iss).
async fn authorize(
    s: &TestServer,
    b: &reqwest::Client,
    client_id: &str,
    challenge: &str,
    email: &str,
) -> HashMap<String, String> {
    let url = authorize_url(s, client_id, challenge, &[]);
    let mut resp = b.get(&url).send().await.unwrap();
    if resp.status() == 303 && location(&resp).starts_with("/auth/v1/signin") {
        let signed = sign_in(s, b, &location(&resp), email, PASSWORD).await;
        assert_eq!(
            signed.status(),
            303,
            "sign-in failed: {}",
            signed.text().await.unwrap()
        );
        let back = location(&signed);
        assert!(back.starts_with("/auth/v1/authorize?"), "{back}");
        resp = b.get(format!("{}{}", s.base, back)).send().await.unwrap();
    }
    assert_eq!(resp.status(), 200, "consent page expected");
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"client-name\""), "{html}");
    let mut form = hidden_fields(&html);
    form.push(("decision".into(), "allow".into()));
    let decided = b
        .post(format!("{}/auth/v1/authorize", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 303);
    let loc = location(&decided);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    query_of(&loc)
}

async fn token(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn exchange(s: &TestServer, client_id: &str, code: &str, verifier: &str) -> (u16, Value) {
    token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("resource", &resource(s)),
        ],
    )
    .await
}

async fn refresh(s: &TestServer, client_id: &str, rt: &str) -> (u16, Value) {
    token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", rt),
        ],
    )
    .await
}

/// `authenticate_mcp` with `token`: Ok(user id) or Err((status, WWW-Authenticate, body)).
async fn mcp(s: &TestServer, token: Option<&str>) -> Result<String, (u16, String, String)> {
    let mut headers = HeaderMap::new();
    if let Some(t) = token {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    match chamberlain_api::oauth::authenticate_mcp(&s.state, &headers).await {
        Ok(id) => Ok(id.user_id),
        Err(resp) => {
            let status = resp.status().as_u16();
            let www = resp
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            Err((status, www, String::from_utf8_lossy(&body).to_string()))
        }
    }
}

/// A whole authorization for a new public client: (client id, access token, refresh token).
pub(crate) async fn connect(
    s: &TestServer,
    b: &reqwest::Client,
    name: &str,
    email: &str,
) -> (String, String, String) {
    let client_id = register_public(s, name).await;
    let (verifier, challenge) = pkce();
    let q = authorize(s, b, &client_id, &challenge, email).await;
    let (st, t) = exchange(s, &client_id, &q["code"], &verifier).await;
    assert_eq!(st, 200, "{t}");
    (
        client_id,
        t["access_token"].as_str().unwrap().to_string(),
        t["refresh_token"].as_str().unwrap().to_string(),
    )
}

pub async fn oauth_flow_pkce_codes_and_refresh_rotation(s: &TestServer) {
    // Discovery.
    let prm: Value = s
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            s.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], resource(s));
    assert_eq!(prm["authorization_servers"], json!([s.base]));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    assert_eq!(prm["scopes_supported"], json!(["mcp"]));
    let root: Value = s
        .http
        .get(format!("{}/.well-known/oauth-protected-resource", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root, prm);
    for path in ["oauth-authorization-server", "openid-configuration"] {
        let md: Value = s
            .http
            .get(format!("{}/.well-known/{path}", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(md["issuer"], s.base);
        assert_eq!(
            md["authorization_endpoint"],
            format!("{}/auth/v1/authorize", s.base)
        );
        assert_eq!(
            md["registration_endpoint"],
            format!("{}/auth/v1/register", s.base)
        );
        assert_eq!(md["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(md["authorization_response_iss_parameter_supported"], true);
        assert_eq!(md["client_id_metadata_document_supported"], true);
        assert!(md["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials")));
        assert!(md["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none")));
    }

    // No token: a challenge pointing at the resource metadata, without an error code.
    let (st, www, _) = mcp(s, None).await.unwrap_err();
    assert_eq!(st, 401);
    assert_eq!(
        www,
        format!("Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\"", s.base)
    );

    // The whole flow: DCR → authorize → sign-in (CSRF) → consent → code → token (PKCE).
    let uid = user_with_password(s, "ada@example.com").await;
    let b = browser();
    let client_id = register_public(s, "Claude Code").await;
    let (verifier, challenge) = pkce();
    let q = authorize(s, &b, &client_id, &challenge, "ada@example.com").await;
    assert_eq!(q["state"], "st<ate>&1");
    assert_eq!(q["iss"], s.base);
    let code = q["code"].clone();

    // A wrong verifier is refused and does not use up the code.
    let (wrong, _) = pkce();
    let (st, e) = exchange(s, &client_id, &code, &wrong).await;
    assert_eq!(st, 400);
    assert_eq!(e["error"], "invalid_grant");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier does not match"),
        "{e}"
    );
    // Another client cannot use the code.
    let other = register_public(s, "Other").await;
    let (st, e) = exchange(s, &other, &code, &verifier).await;
    assert_eq!((st, e["error"].as_str().unwrap()), (400, "invalid_grant"));
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("another client"));

    let (st, t) = exchange(s, &client_id, &code, &verifier).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "mcp");
    let access = t["access_token"].as_str().unwrap().to_string();
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(mcp(s, Some(&access)).await.unwrap(), uid);
    // The API refuses the resource-bound token.
    let (st, _) = s.call(&access, "GET", "/api/v1/apps", None).await;
    assert_eq!(st, 401);

    // Refresh rotation.
    let (st, r2) = refresh(s, &client_id, &rt1).await;
    assert_eq!(st, 200, "{r2}");
    let rt2 = r2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt2, rt1);
    assert!(mcp(s, Some(r2["access_token"].as_str().unwrap()))
        .await
        .is_ok());
    let (st, r3) = refresh(s, &client_id, &rt2).await;
    assert_eq!(st, 200, "{r3}");
    let rt3 = r3["refresh_token"].as_str().unwrap().to_string();
    let access3 = r3["access_token"].as_str().unwrap().to_string();
    // Presenting a rotated refresh token revokes the whole family.
    let (st, e) = refresh(s, &client_id, &rt1).await;
    assert_eq!(st, 400);
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{e}"
    );
    let (st, e) = refresh(s, &client_id, &rt3).await;
    assert_eq!(st, 400, "the newest refresh token is revoked too: {e}");
    let (_, www, body) = mcp(s, Some(&access3)).await.unwrap_err();
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    assert!(body.contains("revoked"), "{body}");

    // A reused code is refused and revokes what was issued from it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (verifier, challenge) = pkce();
    let q = authorize(s, &b, &client_id, &challenge, "ada@example.com").await;
    let (st, t) = exchange(s, &client_id, &q["code"], &verifier).await;
    assert_eq!(st, 200, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    assert!(mcp(s, Some(&access)).await.is_ok());
    let (st, e) = exchange(s, &client_id, &q["code"], &verifier).await;
    assert_eq!(st, 400);
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{e}"
    );
    assert!(
        mcp(s, Some(&access)).await.is_err(),
        "tokens from a reused code are revoked"
    );
    assert_eq!(refresh(s, &client_id, &rt).await.0, 400);

    // Tokens for another resource, forged, API tokens: all refused by the gateway entry.
    let other_aud = s.state.issuer.issue_for_resource(
        &uid,
        &client_id,
        "https://elsewhere.example/mcp",
        "mcp",
        3600,
        chamberlain_model::Timestamp::now().unix_seconds(),
    );
    let (st, www, body) = mcp(s, Some(&other_aud)).await.unwrap_err();
    assert_eq!(st, 401);
    assert!(
        www.contains("invalid_token") && body.contains("elsewhere.example"),
        "{body}"
    );
    let (_, _, body) = mcp(s, Some("eyJhbGciOiJFZERTQSJ9.e30.AAAA"))
        .await
        .unwrap_err();
    assert!(body.contains("invalid access token"), "{body}");
    let (_, _, body) = mcp(s, Some(&s.admin)).await.unwrap_err();
    assert!(body.contains("API token"), "{body}");

    // Unknown grant types name what is supported; client credentials still work.
    let (st, e) = token(s, &[("grant_type", "password")]).await;
    assert_eq!(st, 400);
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("authorization_code"));

    // The connection is recorded as C1's ExternalClientInfo.
    let v = s
        .ok(
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({"users": [{"id": uid}]})),
        )
        .await;
    let list = v["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["clientId"], client_id);
    assert_eq!(list[0]["clientIdType"], "CLIENT_ID_TYPE_DCR");
    assert_eq!(list[0]["clientName"], "Claude Code");
    assert_eq!(list[0]["wellKnownClient"], "WELL_KNOWN_CLIENT_CLAUDE_CODE");
    assert_eq!(list[0]["chamberlainState"], "ACTIVE");
    assert_eq!(list[0]["verifiedDomain"], "");
    let v = s
        .ok(
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({"wellKnownClients": ["WELL_KNOWN_CLIENT_CURSOR"]})),
        )
        .await;
    assert_eq!(v["list"], json!([]));
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({"wellKnownClients": ["CLAUDE"]})),
        )
        .await;
    assert_eq!(st, 400, "{e}");

    // Sign-out ends the session: the next authorization asks to sign in again.
    let html = b
        .get(format!("{}/auth/v1/signin", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"signed-in\""), "{html}");
    let form = hidden_fields(&html);
    let out = b
        .post(format!("{}/auth/v1/signout", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let (_, challenge) = pkce();
    let resp = b
        .get(authorize_url(s, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/auth/v1/signin?return_to="));

    // A confidential client authenticates with its secret (HTTP Basic).
    let (st, reg) = register(
        s,
        json!({"client_name": "Server app", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"}),
    )
    .await;
    assert_eq!(st, 201, "{reg}");
    let cid = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let (verifier, challenge) = pkce();
    let q = authorize(s, &b, &cid, &challenge, "ada@example.com").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let no_secret = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .form(&[form.as_slice(), &[("client_id", cid.as_str())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(no_secret.status(), 401);
    let ok = s
        .http
        .post(format!("{}/auth/v1/token", s.base))
        .basic_auth(&cid, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

pub async fn oauth_refusals_are_clear(s: &TestServer) {
    user_with_password(s, "bob@example.com").await;
    let client_id = register_public(s, "Tool").await;
    let (_, challenge) = pkce();
    let b = browser();

    // Unregistered redirect URI: an error page, never a redirect.
    let mut url = reqwest::Url::parse(&authorize_url(s, &client_id, &challenge, &[])).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            if k == "redirect_uri" {
                (k.to_string(), "https://evil.example/cb".to_string())
            } else {
                (k.to_string(), v.to_string())
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = b.get(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("is not registered for this client"), "{html}");
    // Unknown client.
    let resp = b
        .get(authorize_url(s, "dcr_nope", &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("is not registered here"));

    // Later problems go back to the client with error, state and iss.
    let resp = b
        .get(
            authorize_url(
                s,
                &client_id,
                &challenge,
                &[("code_challenge_method", "plain")],
            )
            .replace("code_challenge_method=S256&", ""),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("plain"), "{q:?}");
    assert_eq!(q["state"], "st<ate>&1");
    assert_eq!(q["iss"], s.base);
    let resp = b
        .get(authorize_url(
            s,
            &client_id,
            &challenge,
            &[("resource", "")],
        ))
        .send()
        .await
        .unwrap();
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "invalid_target");
    assert!(q["error_description"].contains("resource is required"));
    let resp = b
        .get(authorize_url(
            s,
            &client_id,
            &challenge,
            &[("resource", "https://elsewhere.example/mcp")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&resp))["error"], "invalid_target");
    // A trailing slash on the resource is accepted.
    let resp = b
        .get(authorize_url(
            s,
            &client_id,
            &challenge,
            &[("resource", &format!("{}/mcp/", s.base))],
        ))
        .send()
        .await
        .unwrap();
    assert!(
        location(&resp).starts_with("/auth/v1/signin"),
        "{}",
        location(&resp)
    );

    // Bad password: one generic message, 401, no session.
    let events = s.event_count().await;
    let signin = location(&resp);
    let bad = sign_in(s, &b, &signin, "bob@example.com", "not the password").await;
    assert_eq!(bad.status(), 401);
    let html = bad.text().await.unwrap();
    assert!(html.contains("The email address or password is incorrect."));
    let unknown = sign_in(s, &b, &signin, "nobody@example.com", "whatever pass").await;
    assert_eq!(unknown.status(), 401);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("The email address or password is incorrect."));
    assert_eq!(
        s.event_count().await,
        events,
        "failed sign-ins change nothing"
    );

    // A form without the CSRF token (or from a browser without the cookie) is refused.
    let bare = browser();
    let resp = bare
        .post(format!("{}/auth/v1/signin", s.base))
        .form(&[("email", "bob@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("security cookie is missing"));
    let page = b
        .get(format!("{}{}", s.base, signin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form: Vec<(String, String)> = hidden_fields(&page)
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    form.push(("email".into(), "bob@example.com".into()));
    form.push(("password".into(), PASSWORD.into()));
    let resp = b
        .post(format!("{}/auth/v1/signin", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("security token is missing or does not match"));

    // Repeated failures are slowed down.
    for _ in 0..5 {
        sign_in(s, &b, &signin, "carol@example.com", "wrong password!").await;
    }
    let limited = sign_in(s, &b, &signin, "carol@example.com", "wrong password!").await;
    assert_eq!(limited.status(), 429);

    // DCR with bad metadata, each refusal saying what to fix.
    for (body, error, says) in [
        (
            json!({"client_name": "x"}),
            "invalid_redirect_uri",
            "redirect_uris` is required",
        ),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
            "loopback",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#frag"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
            "scheme",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
            "not supported",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
            "implicit",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
            "response_types",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "application_type": "robot"}),
            "invalid_client_metadata",
            "application_type",
        ),
        (json!([1, 2]), "invalid_client_metadata", "JSON object"),
    ] {
        let (st, e) = register(s, body.clone()).await;
        assert_eq!(st, 400, "{body}: {e}");
        assert_eq!(e["error"], error, "{body}: {e}");
        assert!(
            e["error_description"].as_str().unwrap().contains(says),
            "{body}: {e}"
        );
    }

    // Token endpoint refusals.
    let (st, e) = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(st, 400);
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("code is required"));
    let (st, e) = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "dcr_unknown"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "y"),
        ],
    )
    .await;
    assert_eq!((st, e["error"].as_str().unwrap()), (401, "invalid_client"));
    let (st, e) = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", "made-up"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "y"),
        ],
    )
    .await;
    assert_eq!((st, e["error"].as_str().unwrap()), (400, "invalid_grant"));
    let (st, e) = refresh(s, &client_id, "made-up").await;
    assert_eq!((st, e["error"].as_str().unwrap()), (400, "invalid_grant"));
}

/// A small server for client metadata documents on 127.0.0.1.
async fn metadata_server(docs: Vec<(&'static str, String)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut app = axum::Router::new();
    for (path, body) in docs {
        let body = body.replace("BASE", &base);
        app = app.route(
            path,
            axum::routing::get(
                move || async move { ([("content-type", "application/json")], body) },
            ),
        );
    }
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

pub async fn oauth_client_metadata_documents(s: &TestServer) {
    let uid = user_with_password(s, "cim@example.com").await;
    let base = metadata_server(vec![
        ("/claude/client.json", format!(r#"{{"client_id":"BASE/claude/client.json","client_name":"Claude","redirect_uris":["{REDIRECT}"]}}"#)),
        ("/wrong-id.json", format!(r#"{{"client_id":"https://other.example/x","redirect_uris":["{REDIRECT}"]}}"#)),
        ("/big.json", format!(r#"{{"client_id":"BASE/big.json","client_name":"{}","redirect_uris":["{REDIRECT}"]}}"#, "x".repeat(6000))),
    ])
    .await;
    let client_id = format!("{base}/claude/client.json");
    let b = browser();
    let (verifier, challenge) = pkce();
    // The consent page shows the verified domain.
    let url = authorize_url(s, &client_id, &challenge, &[]);
    let resp = b.get(&url).send().await.unwrap();
    let signed = sign_in(s, &b, &location(&resp), "cim@example.com", PASSWORD).await;
    assert_eq!(signed.status(), 303);
    let html = b.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("<dd id=\"verified-domain\">127.0.0.1</dd>"),
        "{html}"
    );
    assert!(html.contains("<span id=\"client-name\">Claude</span>"));
    let q = authorize(s, &b, &client_id, &challenge, "cim@example.com").await;
    let (st, t) = exchange(s, &client_id, &q["code"], &verifier).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(
        mcp(s, Some(t["access_token"].as_str().unwrap()))
            .await
            .unwrap(),
        uid
    );
    let v = s
        .ok(
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({"clientIdUrls": [client_id]})),
        )
        .await;
    assert_eq!(v["list"][0]["clientIdType"], "CLIENT_ID_TYPE_METADATA_URL");
    assert_eq!(v["list"][0]["clientIdUrl"], client_id);
    assert_eq!(v["list"][0]["verifiedDomain"], "127.0.0.1");
    assert_eq!(
        v["list"][0]["wellKnownClient"],
        "WELL_KNOWN_CLIENT_CLAUDE_AI"
    );
    assert_eq!(v["list"][0]["userId"], uid);

    // Refusals are shown on the error page, with what is wrong.
    for (cid, says) in [
        (
            format!("{base}/wrong-id.json"),
            "it must be the document&#39;s own URL".to_string(),
        ),
        (format!("{base}/big.json"), "too large".to_string()),
        (
            format!("{base}/missing.json"),
            "answered HTTP 404".to_string(),
        ),
        (
            "https://10.0.0.1/client.json".to_string(),
            "private, loopback or link-local".to_string(),
        ),
        (
            "https://api.localhost:9/client.json".to_string(),
            "loopback name".to_string(),
        ),
    ] {
        let resp = b
            .get(authorize_url(s, &cid, &challenge, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{cid}");
        assert!(resp.headers().get("location").is_none());
        let html = resp.text().await.unwrap();
        assert!(html.contains(&says), "{cid}: {html}");
    }
}

pub async fn oauth_lifecycle_and_switches(s: &TestServer) {
    let uid = user_with_password(s, "eve@example.com").await;
    let (_, user_token) = s
        .user_with_token("eve-api@example.com", &["basic-user"])
        .await;
    let b = browser();
    let (client_id, access, rt) = connect(s, &b, "Cursor", "eve@example.com").await;
    assert!(mcp(s, Some(&access)).await.is_ok());
    let v = s
        .ok(
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({"query": "curs"})),
        )
        .await;
    let mcp_client_id = v["list"][0]["mcpClientId"].as_str().unwrap().to_string();
    assert_eq!(v["list"][0]["wellKnownClient"], "WELL_KNOWN_CLIENT_CURSOR");
    // A basic user sees only their own (none) and cannot name others.
    let (st, v) = s
        .call(
            &user_token,
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["list"], json!([]));
    let (st, _) = s
        .call(
            &user_token,
            "POST",
            "/api/v1/search/iam/external_clients",
            Some(json!({"users": [{"id": uid}]})),
        )
        .await;
    assert_eq!(st, 403);

    // An admin closes the user's connection: tokens stop working; authorizing again reopens it.
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/iam/external_clients/{mcp_client_id}/users/{uid}/close"),
            None,
        )
        .await;
    assert_eq!(v["externalClientInfo"]["chamberlainState"], "CLOSED");
    let (_, _, body) = mcp(s, Some(&access)).await.unwrap_err();
    assert!(body.contains("closed"), "{body}");
    let (st, e) = refresh(s, &client_id, &rt).await;
    assert_eq!(st, 400, "{e}");
    let (verifier, challenge) = pkce();
    let q = authorize(s, &b, &client_id, &challenge, "eve@example.com").await;
    let (st, t) = exchange(s, &client_id, &q["code"], &verifier).await;
    assert_eq!(st, 200, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    assert!(
        mcp(s, Some(&access)).await.is_ok(),
        "ACTIVE again after authorizing"
    );

    // The per-client kill switch closes it for everyone and refuses new authorizations.
    let (st, _) = s
        .call(
            &user_token,
            "POST",
            &format!("/api/v1/iam/external_clients/{mcp_client_id}/kill"),
            None,
        )
        .await;
    assert_eq!(st, 403);
    let v = s
        .ok(
            "POST",
            &format!("/api/v1/iam/external_clients/{mcp_client_id}/kill"),
            None,
        )
        .await;
    assert_eq!(v["killed"], true);
    assert!(mcp(s, Some(&access)).await.is_err());
    let resp = b
        .get(authorize_url(s, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].contains("switched off"));
    s.ok(
        "POST",
        &format!("/api/v1/iam/external_clients/{mcp_client_id}/reopen"),
        None,
    )
    .await;
    let (verifier, challenge) = pkce();
    let q = authorize(s, &b, &client_id, &challenge, "eve@example.com").await;
    let (st, t) = exchange(s, &client_id, &q["code"], &verifier).await;
    assert_eq!(st, 200);
    let access = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();

    // AI governance settings: defaults, validation, Super Admin only, history.
    let v = s.ok("GET", "/api/v1/settings/ai-governance", None).await;
    let g = &v["aiGovernanceSettings"];
    assert_eq!(g["requireToolApproval"], true);
    assert_eq!(g["enabled"], true);
    assert_eq!(
        g["defaultToolClassification"],
        "TOOL_CLASSIFICATION_UNSPECIFIED"
    );
    assert_eq!(g["defaultClientLifecycle"]["inactivityHideAfter"], "86400s");
    assert_eq!(
        g["defaultClientLifecycle"]["retentionDeleteAfter"],
        "7776000s"
    );
    assert_eq!(g["auditVerbosity"], "AUDIT_VERBOSITY_STANDARD");
    assert_eq!(g["discoveryInterval"], "86400s");
    let v = s
        .ok(
            "GET",
            "/api/v1/settings/ai-governance/tenant-defaults",
            None,
        )
        .await;
    assert_eq!(v["requireToolApproval"], true);
    let events = s.event_count().await;
    for (body, says) in [
        (
            json!({"aiGovernanceSettings": {"auditVerbosity": "LOUD"}}),
            "auditVerbosity",
        ),
        (json!({"aiGovernanceSettings": {"nope": true}}), "nope"),
        (
            json!({"aiGovernanceSettings": {"discoveryInterval": "soon"}}),
            "discoveryInterval",
        ),
        (
            json!({"aiGovernanceSettings": {"defaultClientLifecycle": {"inactivityHideAfter": "900s", "inactivityCloseAfter": "60s"}}}),
            "inactivityHideAfter",
        ),
        (
            json!({"aiGovernanceSettings": {"enabled": false}, "updateMask": "createdAt"}),
            "createdAt",
        ),
        (json!({"settings": {}}), "settings"),
    ] {
        let (st, e) = s
            .call(
                &s.admin,
                "POST",
                "/api/v1/settings/ai-governance",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, 400, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{body}: {e}");
    }
    let (st, _) = s
        .call(
            &user_token,
            "POST",
            "/api/v1/settings/ai-governance",
            Some(json!({"aiGovernanceSettings": {"enabled": false}})),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(
        s.event_count().await,
        events,
        "refused updates change nothing"
    );

    // The tenant kill switch: no authorization, no refresh, no gateway calls.
    let v = s
        .ok(
            "POST",
            "/api/v1/settings/ai-governance",
            Some(json!({"aiGovernanceSettings": {"enabled": false}, "updateMask": "enabled"})),
        )
        .await;
    assert_eq!(v["aiGovernanceSettings"]["enabled"], false);
    assert_eq!(
        v["aiGovernanceSettings"]["requireToolApproval"], true,
        "the mask keeps other fields"
    );
    let (_, _, body) = mcp(s, Some(&access)).await.unwrap_err();
    assert!(body.contains("disabled"), "{body}");
    let (st, e) = refresh(s, &client_id, &rt).await;
    assert_eq!(st, 400);
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("disabled"));
    let resp = b
        .get(authorize_url(s, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&resp))["error"], "access_denied");
    s.ok(
        "POST",
        "/api/v1/settings/ai-governance",
        Some(json!({"aiGovernanceSettings": {"enabled": true}, "updateMask": "enabled"})),
    )
    .await;
    assert!(mcp(s, Some(&access)).await.is_ok());
    let h = s
        .ok("GET", "/api/v1/settings/ai-governance/history", None)
        .await;
    let list = h["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["snapshot"]["enabled"], true);
    assert_eq!(list[1]["snapshot"]["enabled"], false);
    assert_eq!(list[1]["metadata"]["changeKind"], "CHANGE_KIND_CREATE");

    // The access-token lifetime is bounded (60 s to 24 h, whole seconds).
    for bad in ["59s", "86401s", "90.5s"] {
        let (st, v) = s
            .call(
                &s.admin,
                "POST",
                "/api/v1/settings/ai-governance",
                Some(json!({"aiGovernanceSettings": {"chamberlainAccessTokenLifetime": bad}, "updateMask": "chamberlainAccessTokenLifetime"})),
            )
            .await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("must be whole seconds from 60s to 86400s"),
            "{v}"
        );
    }

    // Allowed client types: AI clients authorized by a user through OAuth are personal
    // clients; a tenant that allows only other types refuses them.
    s.ok(
        "POST",
        "/api/v1/settings/ai-governance",
        Some(json!({"aiGovernanceSettings": {"allowedClientTypes": ["MCP_CLIENT_TYPE_SERVICE"]}, "updateMask": "allowedClientTypes"})),
    )
    .await;
    let (_, _, body) = mcp(s, Some(&access)).await.unwrap_err();
    assert!(body.contains("allowed MCP client types"), "{body}");
    s.ok(
        "POST",
        "/api/v1/settings/ai-governance",
        Some(json!({"aiGovernanceSettings": {"allowedClientTypes": ["MCP_CLIENT_TYPE_PERSONAL", "MCP_CLIENT_TYPE_SERVICE"]}, "updateMask": "allowedClientTypes"})),
    )
    .await;
    assert!(mcp(s, Some(&access)).await.is_ok());

    // Inactivity closes connections: with a 1 s close-after, a sweep closes it.
    s.ok(
        "POST",
        "/api/v1/settings/ai-governance",
        Some(json!({"aiGovernanceSettings": {"defaultClientLifecycle": {"inactivityHideAfter": "1s", "inactivityCloseAfter": "1s", "retentionDeleteAfter": "0s"}}})),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    chamberlain_api::oauth::lifecycle::sweep(&s.state)
        .await
        .unwrap();
    let (_, _, body) = mcp(s, Some(&access)).await.unwrap_err();
    assert!(body.contains("closed"), "{body}");

    // The user lists and revokes their own connection (after reconnecting).
    s.ok(
        "POST",
        "/api/v1/settings/ai-governance",
        Some(json!({"aiGovernanceSettings": {"defaultClientLifecycle": null}, "updateMask": "defaultClientLifecycle"})),
    )
    .await;
    let (verifier, challenge) = pkce();
    let q = authorize(s, &b, &client_id, &challenge, "eve@example.com").await;
    let (_, t) = exchange(s, &client_id, &q["code"], &verifier).await;
    let access = t["access_token"].as_str().unwrap().to_string();
    assert!(mcp(s, Some(&access)).await.is_ok());
    let (api_client, secret) = chamberlain_api::routes::iam::mint_client(
        &s.store,
        &AuditCtx::system("test"),
        &s.host,
        chamberlain_api::routes::iam::NewClient {
            user_id: &uid,
            display_name: "eve",
            personal: true,
            expires_at: None,
            scoped_roles: vec![],
            connector: None,
        },
    )
    .await
    .unwrap();
    let eve = s
        .token_with_secret(&api_client.client.client_id, &secret)
        .await;
    let (st, own) = s
        .call(&eve, "GET", "/api/v1/iam/external_clients/self", None)
        .await;
    assert_eq!(st, 200, "{own}");
    assert_eq!(own["list"].as_array().unwrap().len(), 1);
    assert_eq!(own["list"][0]["mcpClientId"], mcp_client_id);
    let (st, v) = s
        .call(
            &eve,
            "POST",
            &format!("/api/v1/iam/external_clients/self/{mcp_client_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["externalClientInfo"]["chamberlainState"], "CLOSED");
    assert!(mcp(s, Some(&access)).await.is_err());
    let (st, e) = s
        .call(
            &eve,
            "POST",
            "/api/v1/iam/external_clients/self/00000000000000000000000000/revoke",
            None,
        )
        .await;
    assert_eq!(st, 404, "{e}");
}
