//! Shared parts of Chamberlain's benchmark binaries (`chamberlain-bench`,
//! `chamberlain-sync-bench`, `chamberlain-identity-bench`): the benchmark database, the c1z
//! data-set generator and the peak-memory reading.

pub mod c1zgen;
pub mod db;

/// The allocator `chamberlain serve` runs with (see crates/chamberlain/src/main.rs), so every
/// benchmark binary linking this crate measures the server's code as it runs in production.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (linked with the allocator above).
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// The allocator setting `chamberlain` applies at start (crates/chamberlain/src/main.rs,
/// `tune_allocator`): freed memory is kept a second before it goes back to the OS.
pub fn tune_allocator() {
    /// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3).
    const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1_000) }
}

/// The process's peak resident set size (VmHWM) in KiB, 0 where /proc is unavailable.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Serves the real HTTP application in-process on a free port (no background worker) and
/// returns its base URL and a super admin's access token.
pub async fn serve(store: &chamberlain_store::Store) -> anyhow::Result<(String, String)> {
    let (base, token, _) = serve_with_state(store).await?;
    Ok((base, token))
}

/// [`serve`], also returning the server's state (for benchmarks that need its issuer or
/// gateway).
pub async fn serve_with_state(
    store: &chamberlain_store::Store,
) -> anyhow::Result<(String, String, std::sync::Arc<chamberlain_api::AppState>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let secrets = chamberlain_auth::crypto::SecretBox::new(&rand::random::<[u8; 32]>());
    let mut jobs = chamberlain_api::worker::JobSettings::under(&std::env::temp_dir());
    jobs.outbound_allow_hosts = vec!["127.0.0.1".into()];
    let gateway = chamberlain_api::gateway(store, &secrets, &jobs, &base).await?;
    let state = std::sync::Arc::new(chamberlain_api::AppState {
        store: store.clone(),
        issuer: chamberlain_auth::tokens::TokenIssuer::new(base.clone(), vec![("k1".into(), key)])?,
        secrets,
        public_url: base.clone(),
        audiences: vec![addr.to_string()],
        metrics: chamberlain_api::metrics::Metrics::default(),
        jobs,
        gateway,
    });
    let served = state.clone();
    tokio::spawn(async move {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, chamberlain_web::app(served)).await;
    });
    let token = admin_token(store, &base, &addr.to_string()).await?;
    Ok((base, token, state))
}

async fn admin_token(
    store: &chamberlain_store::Store,
    base: &str,
    host: &str,
) -> anyhow::Result<String> {
    use anyhow::Context;
    let now = chamberlain_model::Timestamp::now();
    let user = chamberlain_model::user::User {
        id: chamberlain_model::new_id(),
        display_name: "bench".into(),
        status: chamberlain_model::user::UserStatus::Enabled,
        role_ids: vec!["super-admin".into()],
        user_type: chamberlain_model::user::UserType::Service,
        created_at: Some(now),
        ..Default::default()
    };
    let audit = chamberlain_store::AuditCtx::system("bench");
    chamberlain_store::write_tx!(store, &audit, |tx| { tx.create(&user).await })?;
    let new = chamberlain_api::routes::iam::NewClient {
        user_id: &user.id,
        display_name: "bench",
        personal: false,
        expires_at: None,
        scoped_roles: vec![],
        connector: None,
    };
    let (client, secret) =
        chamberlain_api::routes::iam::mint_client(store, &audit, host, new).await?;
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/auth/v1/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    v["access_token"]
        .as_str()
        .map(str::to_string)
        .context("no token")
}
