//! The measured part: the real router served in-process on 127.0.0.1, a super-admin token, and
//! for each operation `concurrency` client tasks sharing one HTTP client.

use crate::dataset::Dataset;
use anyhow::{bail, Context, Result};
use chamberlain_api::metrics::Metrics;
use chamberlain_api::routes::iam::{mint_client, NewClient};
use chamberlain_api::AppState;
use chamberlain_auth::crypto::SecretBox;
use chamberlain_auth::tokens::TokenIssuer;
use chamberlain_model::user::{User, UserOrigin, UserStatus, UserType};
use chamberlain_model::{new_id, Timestamp};
use chamberlain_store::{AuditCtx, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the operations are driven.
pub struct Settings {
    /// Client tasks per operation.
    pub concurrency: usize,
    /// Unmeasured time before each measurement.
    pub warmup: Duration,
    /// Measured time per operation.
    pub duration: Duration,
    /// Seed of the request targets.
    pub seed: u64,
}

/// A measured API operation.
#[derive(Clone, Copy, Debug)]
pub enum Operation {
    /// A page of 25 entitlements of a random app.
    ListEntitlements,
    /// Current grants of a random user.
    SearchGrants,
    /// A new grant of an entitlement to an account of the same app.
    AddGrant,
}

impl Operation {
    /// Every operation, in the order they are measured.
    pub const ALL: [Operation; 3] = [
        Operation::ListEntitlements,
        Operation::SearchGrants,
        Operation::AddGrant,
    ];

    /// Name and request, as printed in the results.
    pub fn label(self) -> &'static str {
        match self {
            Operation::ListEntitlements => {
                "list entitlements (`GET /api/v1/apps/{app_id}/entitlements?page_size=25`)"
            }
            Operation::SearchGrants => "search grants by user (`POST /api/v1/search/grants {userId}`)",
            Operation::AddGrant => {
                "add a grant (`POST /api/v1/apps/{app_id}/entitlements/{id}/add-manual-user {userIds:[account]}`)"
            }
        }
    }

    /// A request with random targets.
    fn request(
        self,
        http: &reqwest::Client,
        base: &str,
        data: &Dataset,
        rng: &mut StdRng,
    ) -> reqwest::RequestBuilder {
        match self {
            Operation::ListEntitlements => {
                let app = &data.apps[rng.gen_range(0..data.apps.len())];
                http.get(format!(
                    "{base}/api/v1/apps/{app}/entitlements?page_size=25"
                ))
            }
            Operation::SearchGrants => {
                let user = &data.users[rng.gen_range(0..data.users.len())];
                http.post(format!("{base}/api/v1/search/grants"))
                    .json(&json!({ "userId": user }))
            }
            Operation::AddGrant => {
                let pair = data.take_fresh_pair(rng);
                http.post(format!(
                    "{base}/api/v1/apps/{}/entitlements/{}/add-manual-user",
                    pair.app_id, pair.entitlement_id
                ))
                .json(&json!({ "userIds": [pair.account_id] }))
            }
        }
    }
}

/// What one operation achieved in its measured window.
pub struct Measurement {
    /// The operation.
    pub operation: Operation,
    /// Requests started in the window, including failed ones.
    pub requests: usize,
    /// Requests answered with a non-2xx status or not answered at all.
    pub errors: usize,
    /// Status and body of the first failure.
    pub first_error: Option<String>,
    /// From the start of the window until the last request finished.
    pub elapsed: Duration,
    /// Latency of each successful request in microseconds, sorted.
    latencies_us: Vec<u64>,
}

impl Measurement {
    /// Successful requests per second.
    pub fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile (nearest rank) of successful requests' latency, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = (p / 100.0 * self.latencies_us.len() as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, self.latencies_us.len()) - 1] as f64 / 1000.0
    }
}

/// Serves the application and measures every operation in turn.
pub async fn measure(
    store: &Store,
    data: Arc<Dataset>,
    settings: &Settings,
) -> Result<Vec<Measurement>> {
    let server = Server::start(store).await?;
    let token = server.admin_token(store).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.concurrency)
        .build()?;
    let mut results = Vec::new();
    for (i, op) in Operation::ALL.into_iter().enumerate() {
        let seed = settings.seed.wrapping_add(1_000 * i as u64);
        let m = run_operation(op, &http, &server.base, &token, &data, settings, seed).await?;
        println!(
            "{}: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            op.label(),
            m.requests,
            m.per_second(),
            m.percentile_ms(50.0),
            m.percentile_ms(99.0),
            m.errors
        );
        if let Some(e) = &m.first_error {
            println!("  first error: {e}");
        }
        results.push(m);
    }
    drop(http);
    server.stop().await?;
    Ok(results)
}

/// Runs `concurrency` client tasks through the warm-up and the measured window.
async fn run_operation(
    op: Operation,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    data: &Arc<Dataset>,
    settings: &Settings,
    seed: u64,
) -> Result<Measurement> {
    let window_start = Instant::now() + settings.warmup;
    let window_end = window_start + settings.duration;
    let tasks: Vec<JoinHandle<Tally>> = (0..settings.concurrency)
        .map(|i| {
            let client = Client {
                op,
                http: http.clone(),
                base: base.to_string(),
                token: token.to_string(),
                data: data.clone(),
                rng: StdRng::seed_from_u64(seed.wrapping_add(i as u64)),
            };
            tokio::spawn(client.run(window_start, window_end))
        })
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        let tally = t.await?;
        total.requests += tally.requests;
        total.latencies_us.extend(tally.latencies_us);
        total.errors += tally.errors;
        total.first_error = total.first_error.or(tally.first_error);
    }
    let elapsed = window_start.elapsed();
    total.latencies_us.sort_unstable();
    Ok(Measurement {
        operation: op,
        requests: total.requests,
        errors: total.errors,
        first_error: total.first_error,
        elapsed,
        latencies_us: total.latencies_us,
    })
}

/// Counts of one client task (or of all of them).
#[derive(Default)]
struct Tally {
    requests: usize,
    errors: usize,
    first_error: Option<String>,
    latencies_us: Vec<u64>,
}

/// One client task: sends requests back to back.
struct Client {
    op: Operation,
    http: reqwest::Client,
    base: String,
    token: String,
    data: Arc<Dataset>,
    rng: StdRng,
}

impl Client {
    /// Sends requests until `window_end`, recording those started from `window_start` on.
    async fn run(mut self, window_start: Instant, window_end: Instant) -> Tally {
        let mut tally = Tally::default();
        loop {
            let started = Instant::now();
            if started >= window_end {
                return tally;
            }
            let req = self
                .op
                .request(&self.http, &self.base, &self.data, &mut self.rng)
                .bearer_auth(&self.token);
            let outcome = send(req).await;
            if started < window_start {
                continue;
            }
            tally.requests += 1;
            match outcome {
                Ok(()) => tally
                    .latencies_us
                    .push(started.elapsed().as_micros() as u64),
                Err(e) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(e);
                }
            }
        }
    }
}

/// Sends a request and reads the whole response; any non-2xx status is an error.
async fn send(req: reqwest::RequestBuilder) -> Result<(), String> {
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status} {}", String::from_utf8_lossy(&body)))
    }
}

/// The application router served on an ephemeral local port, wired as `chamberlain serve`
/// wires it.
struct Server {
    base: String,
    host: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(store: &Store) -> Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host = listener.local_addr()?.to_string();
        let base = format!("http://{host}");
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let state = Arc::new(AppState {
            store: store.clone(),
            issuer: TokenIssuer::new(base.clone(), vec![(new_id(), key)])?,
            secrets: SecretBox::new(&rand::random::<[u8; 32]>()),
            public_url: base.clone(),
            audiences: vec![host.clone(), "localhost".into()],
            metrics: Metrics::default(),
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, chamberlain_api::app(state))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Server {
            base,
            host,
            shutdown,
            task,
        })
    }

    /// Creates a super-admin user with an API client and exchanges its credentials for an
    /// access token at the token endpoint.
    async fn admin_token(&self, store: &Store) -> Result<String> {
        let now = Timestamp::now();
        let admin = User {
            id: new_id(),
            display_name: "Benchmark admin".into(),
            status: UserStatus::Enabled,
            origin: UserOrigin::Local,
            user_type: UserType::Service,
            role_ids: vec!["super-admin".into()],
            created_at: Some(now),
            updated_at: Some(now),
            ..Default::default()
        };
        let audit = AuditCtx::system("bench");
        chamberlain_store::write_tx!(store, &audit, |tx| { tx.create(&admin).await })?;
        let new = NewClient {
            user_id: &admin.id,
            display_name: "chamberlain-bench",
            personal: false,
            expires_at: None,
            scoped_roles: vec![],
        };
        let (client, secret) = mint_client(store, &audit, &self.host, new).await?;
        let resp = reqwest::Client::new()
            .post(format!("{}/auth/v1/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client.client.client_id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("token endpoint answered {status}: {body}");
        }
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .context("the token response has no access_token")
    }

    /// Stops accepting connections and waits for the server task.
    async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .context("the server did not stop within 10 s")???;
        Ok(())
    }
}
