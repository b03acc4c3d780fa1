//! c1z import through the API: the real Baton fixtures, on both backends.

use crate::harness::TestServer;
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../sync/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// POSTs a file body to one of a connector's upload endpoints (`c1z` or `file`).
async fn post_file(
    s: &TestServer,
    app: &str,
    connector: &str,
    endpoint: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let resp = s
        .http
        .post(format!(
            "{}/api/v1/apps/{app}/connectors/{connector}/{endpoint}",
            s.base
        ))
        .bearer_auth(&s.admin)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn upload(s: &TestServer, app: &str, connector: &str, bytes: Vec<u8>) -> (u16, Value) {
    post_file(s, app, connector, "c1z", "application/octet-stream", bytes).await
}

pub async fn c1z_import_and_resync(s: &TestServer) {
    let app = s.create_app("Baton test connector").await;
    let conn = s
        .create_connector(&app, "connectors", json!({"displayName": "Uploads"}))
        .await;
    let v = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{conn}"),
            None,
        )
        .await;
    assert_eq!(
        v["connectorView"]["connector"]["status"]["status"],
        "SYNC_STATUS_UNSPECIFIED"
    );

    let (st, v) = upload(
        s,
        &app,
        &conn,
        fixture("sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded.c1z"),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let c = &v["syncRun"]["counts"];
    assert_eq!(c["resourceTypes"]["added"], 4);
    assert_eq!(c["resources"]["added"], 1221);
    assert_eq!(c["appUsers"]["added"], 1000);
    assert_eq!(c["entitlements"]["added"], 342);
    assert_eq!(c["grants"]["added"], 14981);
    assert_eq!(v["syncRun"]["sourceSyncId"], "36zfOAoWMxQdISbixanQCRBiX7E");
    let got = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{conn}"),
            None,
        )
        .await;
    assert_eq!(
        got["connectorView"]["connector"]["status"]["status"],
        "SYNC_STATUS_DONE"
    );
    assert!(got["connectorView"]["connector"]["status"]["completedAt"].is_string());

    // The data is there, shaped as C1 objects.
    let types = s
        .ok("GET", &format!("/api/v1/apps/{app}/resource_types"), None)
        .await;
    let names: Vec<&str> = types["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["appResourceType"]["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let user_type = types["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["appResourceType"]["traitIds"] == json!(["TRAIT_USER"]))
        .expect("user type keeps its trait");
    assert!(user_type["appResourceType"]["id"].is_string());
    let found = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "user-0@example.com"})),
        )
        .await;
    let account = &found["list"][0]["appUser"];
    assert_eq!(account["email"], "user-0@example.com");
    assert_eq!(account["appUserType"], "APP_USER_TYPE_USER");
    assert_eq!(account["status"]["status"], "STATUS_ENABLED");
    assert!(
        !account["usernames"].as_array().unwrap().is_empty(),
        "login becomes the username"
    );
    let au = account["id"].as_str().unwrap().to_string();
    let held = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/entitlements/users/{au}?page_size=100"),
            None,
        )
        .await;
    assert!(
        !held["list"].as_array().unwrap().is_empty(),
        "user-0 holds entitlements"
    );
    let derived = s
        .ok(
            "POST",
            "/api/v1/search/grants",
            Some(json!({"appIds": [app], "pageSize": 100})),
        )
        .await;
    assert!(
        derived["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| !g["appEntitlementUserBinding"]["grantSources"]
                .as_array()
                .unwrap()
                .is_empty()),
        "expansion-derived grants carry grantSources"
    );

    // An unchanged re-sync changes nothing and writes no events.
    let events = s.event_count().await;
    let (st, v) = upload(
        s,
        &app,
        &conn,
        fixture("sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded.c1z"),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    for kind in [
        "resourceTypes",
        "resources",
        "appUsers",
        "entitlements",
        "grants",
    ] {
        let k = &v["syncRun"]["counts"][kind];
        assert_eq!(
            (
                k["added"].as_i64(),
                k["changed"].as_i64(),
                k["removed"].as_i64()
            ),
            (Some(0), Some(0), Some(0)),
            "{kind}: {k}"
        );
    }
    // Only the connector's status changes were recorded (RUNNING, DONE).
    assert_eq!(s.event_count().await - events, 2);

    // Refusals leave the data as it was and show in the connector's status and history.
    let (st, e) = upload(s, &app, &conn, fixture("sync-in-progress.c1z")).await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("no finished sync"),
        "{e}"
    );
    let got = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{conn}"),
            None,
        )
        .await;
    assert_eq!(
        got["connectorView"]["connector"]["status"]["status"],
        "SYNC_STATUS_ERROR"
    );
    assert!(got["connectorView"]["connector"]["status"]["lastError"]
        .as_str()
        .unwrap()
        .contains("no finished sync"));
    let (st, e) = upload(
        s,
        &app,
        &conn,
        fixture("sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z"),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("--storage-engine sqlite"),
        "{e}"
    );
    let (st, _) = upload(s, &app, &conn, vec![]).await;
    assert_eq!(st, 400);
    let runs = s
        .ok(
            "GET",
            &format!("/api/v1/apps/{app}/connectors/{conn}/sync_runs"),
            None,
        )
        .await;
    let statuses: Vec<&str> = runs["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec![
            "SYNC_STATUS_ERROR",
            "SYNC_STATUS_ERROR",
            "SYNC_STATUS_DONE",
            "SYNC_STATUS_DONE"
        ]
    );
    let still = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "user-0@example.com"})),
        )
        .await;
    assert_eq!(still["list"][0]["appUser"]["id"], au.as_str());
    // force_sync explains what to do for an upload-fed connector.
    let (st, e) = s
        .call(
            &s.admin,
            "POST",
            &format!("/api/v1/apps/{app}/connectors/{conn}/force_sync"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(e["message"].as_str().unwrap().contains("/c1z"));
}

pub(crate) async fn upload_file(
    s: &TestServer,
    app: &str,
    connector: &str,
    body: &str,
) -> (u16, Value) {
    post_file(
        s,
        app,
        connector,
        "file",
        "text/csv",
        body.as_bytes().to_vec(),
    )
    .await
}

pub async fn csv_file_app_sync(s: &TestServer) {
    let app = s.create_app("Spreadsheet app").await;
    let conn = s
        .create_connector(&app, "connectors", json!({"displayName": "HR sheet"}))
        .await;
    let first = "User ID,Email Address,First Name,Last Name,User Status,User Type,Resource Type,Resource Name,Entitlement,Entitlement Display Name\n\
        u1,ann@example.com,Ann,Lee,Active,,Group,Admins,member,Admins member\n\
        u1,ann@example.com,Ann,Lee,Active,,Group,Devs,member,Devs member\n\
        u2,bob@example.com,Bob,Ray,Active,,Group,Devs,member,Devs member\n\
        svc,ci@example.com,,,Active,Service,,,,\n";
    let (st, v) = upload_file(s, &app, &conn, first).await;
    assert_eq!(st, 200, "{v}");
    let c = &v["syncRun"]["counts"];
    assert_eq!(c["appUsers"]["added"], 3);
    assert_eq!(c["entitlements"]["added"], 2);
    assert_eq!(c["grants"]["added"], 3);
    let found = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "ci@example.com"})),
        )
        .await;
    assert_eq!(
        found["list"][0]["appUser"]["appUserType"],
        "APP_USER_TYPE_SERVICE_ACCOUNT"
    );
    assert_eq!(
        s.ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "ann@"}))
        )
        .await["list"][0]["appUser"]["displayName"],
        "Ann Lee"
    );
    // Re-upload: Ann leaves Devs, Bob is disabled, the service account is gone.
    let second = "User ID\tEmail Address\tFirst Name\tLast Name\tUser Status\tResource Type\tResource Name\tEntitlement\tEntitlement Display Name\n\
        u1\tann@example.com\tAnn\tLee\tActive\tGroup\tAdmins\tmember\tAdmins member\n\
        u2\tbob@example.com\tBob\tRay\tDisabled\tGroup\tDevs\tmember\tDevs member\n";
    let (st, v) = upload_file(s, &app, &conn, second).await;
    assert_eq!(st, 200, "{v}");
    let c = &v["syncRun"]["counts"];
    assert_eq!(
        (
            c["appUsers"]["changed"].as_i64(),
            c["appUsers"]["removed"].as_i64()
        ),
        (Some(1), Some(1)),
        "{c}"
    );
    assert_eq!(c["grants"]["removed"], 1);
    // A bad file changes nothing and says where the problem is.
    let events = s.event_count().await;
    let bad = "User ID,Email Address,User Status\nu1,ann@example.com,Active\nu9,nobody,Active\n";
    let (st, e) = upload_file(s, &app, &conn, bad).await;
    assert_eq!(st, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("row 3, column Email Address"),
        "{e}"
    );
    assert_eq!(
        s.event_count().await - events,
        2,
        "only the connector status (RUNNING, ERROR) was recorded"
    );
    assert_eq!(
        s.ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app}))
        )
        .await["list"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (st, e) = upload_file(s, &app, &conn, "PK\u{3}\u{4}not really a workbook").await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("not a readable XLSX workbook"),
        "{e}"
    );
}

/// A minimal XLSX workbook (one sheet, inline strings; numbers where a cell parses as one,
/// as a spreadsheet program would store a typed-in id), built by hand so the test needs no
/// spreadsheet writer.
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    use std::io::Write;
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{}", (b'A' + c as u8) as char, r + 1);
            if cell.is_empty() {
                continue;
            }
            if cell.parse::<f64>().is_ok() {
                sheet.push_str(&format!(r#"<c r="{at}"><v>{cell}</v></c>"#));
            } else {
                sheet.push_str(&format!(
                    r#"<c r="{at}" t="inlineStr"><is><t>{cell}</t></is></c>"#
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let files = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Accounts" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(body.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

pub async fn xlsx_file_app_sync(s: &TestServer) {
    let app = s.create_app("Workbook app").await;
    let conn = s
        .create_connector(&app, "connectors", json!({"displayName": "Workbook"}))
        .await;
    let header: &[&str] = &[
        "User ID",
        "Email Address",
        "Full Name",
        "User Status",
        "Resource Type",
        "Resource Name",
        "Entitlement",
    ];
    let book = xlsx(&[
        header,
        &[
            "1042",
            "ann@example.com",
            "Ann Lee",
            "Active",
            "Team",
            "Platform",
            "member",
        ],
        &[
            "1043",
            "bob@example.com",
            "Bob Ray",
            "Disabled",
            "Team",
            "Platform",
            "member",
        ],
        &["1043", "bob@example.com", "Bob Ray", "Disabled", "", "", ""],
    ]);
    let (st, v) = post_file(
        s,
        &app,
        &conn,
        "file",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        book,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let c = &v["syncRun"]["counts"];
    assert_eq!(
        (
            c["appUsers"]["added"].as_i64(),
            c["entitlements"]["added"].as_i64(),
            c["grants"]["added"].as_i64()
        ),
        (Some(2), Some(1), Some(2)),
        "{c}"
    );
    // A numeric id cell reads as the id typed in, not "1042.0".
    let found = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app, "query": "ann@"})),
        )
        .await;
    assert_eq!(found["list"][0]["appUser"]["displayName"], "Ann Lee");
    // Errors name the spreadsheet's row and column; nothing changes.
    let bad = xlsx(&[
        header,
        &["1042", "ann@example.com", "Ann Lee", "Active", "", "", ""],
        &["1044", "carol", "Carol", "Active", "", "", ""],
    ]);
    let (st, e) = post_file(s, &app, &conn, "file", "application/octet-stream", bad).await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("row 3, column Email Address"),
        "{e}"
    );
    let after = s
        .ok(
            "POST",
            "/api/v1/search/app_users",
            Some(json!({"appId": app})),
        )
        .await;
    assert_eq!(
        after["list"].as_array().unwrap().len(),
        2,
        "the bad workbook changed nothing"
    );
}
