//! Test harness: a real server on a random port over a real database (a temp SQLite file or a
//! fresh PostgreSQL database that is dropped afterwards), and a small HTTP client.

use chamberlain_api::metrics::Metrics;
use chamberlain_api::AppState;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_auth::tokens::TokenIssuer;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::{AuditCtx, Store};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// PostgreSQL server used by the tests (trust auth on our machines).
pub fn pg_admin_url() -> String {
    std::env::var("CHAMBERLAIN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub admin: String,
    pub admin_user_id: String,
    pub host: String,
    /// The server's state (tests mint gateway tokens with its issuer).
    pub state: Arc<AppState>,
    pg_db: Option<String>,
    worker: tokio::task::JoinHandle<()>,
    _dir: Option<TempDir>,
}

/// A temp directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestServer {
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server whose job settings (the config file's part) `tweak` adjusts.
    pub async fn start_with(
        db: Db,
        tweak: impl FnOnce(&mut chamberlain_api::worker::JobSettings),
    ) -> TestServer {
        // `CHAMBERLAIN_TEST_LOG=debug cargo test … -- --nocapture` shows the server's log.
        if let Ok(filter) = std::env::var("CHAMBERLAIN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let (url, pg_db, dir) = match db {
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(format!("chamberlain-test-{}", new_id()));
                std::fs::create_dir_all(&dir).unwrap();
                (
                    format!("sqlite://{}?mode=rwc", dir.join("t.db").display()),
                    None,
                    Some(TempDir(dir)),
                )
            }
            Db::Postgres => {
                let name = format!("chamberlain_t_{}", new_id().to_lowercase());
                let admin = Store::connect(&pg_admin_url()).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for the test suite ({}): {e}",
                        pg_admin_url()
                    )
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(admin.pool())
                    .await
                    .unwrap();
                admin.close().await;
                let base = pg_admin_url();
                let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
                (url, Some(name), None)
            }
        };
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let host = addr.to_string();
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let dir_path = match &dir {
            Some(d) => d.0.clone(),
            None => std::env::temp_dir().join(format!("chamberlain-test-{}", new_id())),
        };
        let mut jobs = chamberlain_api::worker::JobSettings {
            poll: std::time::Duration::from_millis(100),
            retry_delay: std::time::Duration::from_millis(200),
            // Webhook receivers in tests listen on 127.0.0.1 (any port, plain http).
            webhook_allow_hosts: vec!["127.0.0.1".into()],
            outbound_allow_hosts: vec!["127.0.0.1".into(), "localhost".into()],
            webhook_max_attempts: 4,
            webhook_retry_min: std::time::Duration::from_millis(100),
            webhook_retry_max: std::time::Duration::from_millis(300),
            notify_retry: chamberlain_notify::delivery::RetryPolicy {
                max_attempts: 3,
                min_delay: std::time::Duration::from_millis(200),
                max_delay: std::time::Duration::from_millis(500),
            },
            device_pending_max: 20,
            ..chamberlain_api::worker::JobSettings::under(dir_path.as_path())
        };
        tweak(&mut jobs);
        let secrets = SecretBox::new(&rand::random::<[u8; 32]>());
        let gateway = chamberlain_api::gateway(&store, &secrets, &jobs, &base)
            .await
            .unwrap();
        let state = Arc::new(AppState {
            store: store.clone(),
            issuer: TokenIssuer::new(base.clone(), vec![("k1".into(), key)]).unwrap(),
            secrets,
            public_url: base.clone(),
            audiences: vec![host.clone()],
            metrics: Metrics::default(),
            jobs,
            gateway,
        });
        let worker = chamberlain_api::worker::spawn(state.clone());
        let served = state.clone();
        tokio::spawn(async move {
            axum::serve(listener, chamberlain_web::app(served))
                .await
                .unwrap();
        });
        let http = reqwest::Client::new();
        let mut s = TestServer {
            base,
            http,
            store,
            admin: String::new(),
            admin_user_id: String::new(),
            host,
            state,
            pg_db,
            worker,
            _dir: dir,
        };
        let (uid, tok) = s
            .user_with_token("admin@example.com", &["super-admin"])
            .await;
        s.admin = tok;
        s.admin_user_id = uid;
        s
    }

    /// Creates a user with roles, an API client for them, and returns (user id, access token).
    pub async fn user_with_token(&self, email: &str, roles: &[&str]) -> (String, String) {
        let (uid, cid, secret) = self.user_with_client(email, roles).await;
        let _ = uid.clone();
        (uid, self.token_with_secret(&cid, &secret).await)
    }

    /// Creates a user with roles and an API client; returns (user id, client id, secret).
    pub async fn user_with_client(&self, email: &str, roles: &[&str]) -> (String, String, String) {
        let now = Timestamp::now();
        let user = User {
            id: new_id(),
            email: email.into(),
            emails: vec![email.into()],
            display_name: email.split('@').next().unwrap().into(),
            status: UserStatus::Enabled,
            origin: UserOrigin::Local,
            user_type: UserType::Human,
            role_ids: roles.iter().map(|r| r.to_string()).collect(),
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        };
        let audit = AuditCtx::system("test");
        chamberlain_store::write_tx!(self.store, &audit, |tx| { tx.create(&user).await }).unwrap();
        let (client, secret) = chamberlain_api::routes::iam::mint_client(
            &self.store,
            &audit,
            &self.host,
            chamberlain_api::routes::iam::NewClient {
                user_id: &user.id,
                display_name: "test",
                personal: false,
                expires_at: None,
                scoped_roles: vec![],
                connector: None,
            },
        )
        .await
        .unwrap();
        (user.id, client.client.client_id, secret)
    }

    pub async fn token_with_secret(&self, client_id: &str, secret: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/auth/v1/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "token request failed");
        resp.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Sends a request with `token` and returns (status, JSON body).
    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{}", self.base, path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// As the super admin; panics unless 200.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self.call(&self.admin, method, path, body).await;
        assert_eq!(st, 200, "{method} {path} -> {v}");
        v
    }

    /// Raw body as the super admin.
    pub async fn raw(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self
            .http
            .request(m, format!("{}{}", self.base, path))
            .bearer_auth(&self.admin)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Announces a body of `len` bytes and sends none of it: the server must refuse on the
    /// declared length alone. Returns (status, JSON body).
    pub async fn oversized_post(&self, path: &str, len: usize) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(&self.host).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
            self.host, self.admin
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read until the response's JSON body is complete (the server may keep the socket open).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !String::from_utf8_lossy(&buf).trim_end().ends_with('}') {
            match tokio::time::timeout_at(deadline, sock.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        (
            status,
            serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_string())),
        )
    }

    pub async fn create_app(&self, name: &str) -> String {
        let v = self
            .ok("POST", "/api/v1/apps", Some(json!({"displayName": name})))
            .await;
        v["app"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a connector under `app` with `path` (`connectors` for C1's CreateDelegated,
    /// `connectors/create` for Create) and `body`; returns its id.
    pub async fn create_connector(&self, app: &str, path: &str, body: Value) -> String {
        self.ok("POST", &format!("/api/v1/apps/{app}/{path}"), Some(body))
            .await["connectorView"]["connector"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_entitlement(&self, app: &str, name: &str) -> String {
        let v = self
            .ok(
                "POST",
                &format!("/api/v1/apps/{app}/entitlements"),
                Some(json!({"displayName": name})),
            )
            .await;
        v["appEntitlementView"]["appEntitlement"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a local user (no roles, no client) with a display name and employee ids.
    pub async fn local_user(
        &self,
        email: &str,
        display_name: &str,
        employee_ids: &[&str],
    ) -> String {
        let now = Timestamp::now();
        let user = User {
            id: new_id(),
            email: email.into(),
            emails: vec![email.into()],
            display_name: display_name.into(),
            employee_ids: employee_ids.iter().map(|e| e.to_string()).collect(),
            status: UserStatus::Enabled,
            origin: UserOrigin::Local,
            user_type: UserType::Human,
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        };
        chamberlain_store::write_tx!(self.store, &AuditCtx::system("test"), |tx| {
            tx.create(&user).await
        })
        .unwrap();
        user.id
    }

    /// Waits until the background worker has run every pending identity resolution.
    pub async fn wait_identity(&self) {
        for _ in 0..300 {
            let dirty = chamberlain_store::repo::identity::dirty_scopes(&self.store)
                .await
                .unwrap();
            if dirty.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("identity resolution did not finish within 30 s");
    }

    /// Number of system log events: a refused request must not change it.
    pub async fn event_count(&self) -> i64 {
        chamberlain_store::repo::syslog::count(&self.store)
            .await
            .unwrap()
    }

    pub async fn finish(self) {
        // Stop the worker first, as the server does, so it does not poll a closed pool.
        self.worker.abort();
        self.store.close().await;
        if let Some(name) = self.pg_db {
            let admin = Store::connect(&pg_admin_url()).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Runs `scenario` against a fresh server on `db`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(mod $name {
            use super::harness::{Db, TestServer};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = TestServer::start(Db::Sqlite).await;
                super::$name(&s).await;
                s.finish().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = TestServer::start(Db::Postgres).await;
                super::$name(&s).await;
                s.finish().await;
            }
        })+
    };
}
