//! The web client at `/`: its files and deep links, its headers, and the API around it
//! answering as before.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::TestServer;

const INDEX: &str = "<!doctype html><title>Petit chat</title><script type=module src=/assets/app-abc123.js></script>";
const APP: &str = "console.log('petit chat');";
const SECRET: &str = "a file beside the web client's directory";

/// A built client in a temp dir: `web/index.html`, `web/assets/app-abc123.js` (and a
/// gzipped sibling), with a secret file beside `web/`, which nothing may serve.
fn built_client() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let web = root.path().join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), INDEX).unwrap();
    std::fs::write(web.join("assets/app-abc123.js"), APP).unwrap();
    std::fs::write(web.join("assets/app-abc123.js.gz"), "gzipped bytes").unwrap();
    std::fs::write(root.path().join("secret.txt"), SECRET).unwrap();
    (root, web)
}

async fn server_with(web: &Path) -> TestServer {
    let web = web.to_path_buf();
    TestServer::start_with(move |c| c.server.web_dir = Some(web)).await
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server.client.get(format!("{}{path}", server.base)).send().await.unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> &'r str {
    response.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

/// The headers every response of the web client carries.
fn assert_web_headers(response: &reqwest::Response, expected_policy: &str) {
    assert_eq!(header(response, "content-security-policy"), expected_policy);
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "cross-origin-opener-policy"), "same-origin");
}

/// The policy this server's web client must send: its own origin, and the object store's
/// when attachments download from one (the HTTP suite's cluster run).
fn expected_policy(server: &TestServer) -> String {
    let blobs = server.uses_s3().then(|| server.config().blobs.s3.download_base_url());
    let policy = api::content_security_policy(None, blobs.as_deref());
    for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'"] {
        assert!(policy.split("; ").any(|d| d == directive), "{directive} missing from {policy}");
    }
    assert!(policy.ends_with("; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"), "{policy}");
    if !server.uses_s3() {
        assert!(policy.contains("; connect-src 'self'; "), "{policy}");
    }
    policy
}

#[tokio::test]
async fn the_root_and_deep_links_serve_index_html_with_the_web_headers_and_no_caching() {
    let (_root, web) = built_client();
    let server = server_with(&web).await;
    let policy = expected_policy(&server);
    for path in ["/", "/index.html", "/chats/123", "/chats/some/deep/link", "/settings?tab=push", "/assets"] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header(&response, "content-type").starts_with("text/html"), "{path}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        assert_web_headers(&response, &policy);
        assert_eq!(response.text().await.unwrap(), INDEX, "{path}");
    }
    let head = server.client.head(format!("{}/chats/1", server.base)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_web_headers(&head, &policy);
    assert!(head.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_a_missing_one_is_a_404() {
    let (_root, web) = built_client();
    let server = server_with(&web).await;
    let policy = expected_policy(&server);

    let response = get(&server, "/assets/app-abc123.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").contains("javascript"), "{}", header(&response, "content-type"));
    assert_eq!(header(&response, "cache-control"), "public, max-age=31536000, immutable");
    assert_web_headers(&response, &policy);
    assert_eq!(response.text().await.unwrap(), APP);

    // A precompressed sibling goes to a client that accepts it.
    let gzipped = server
        .client
        .get(format!("{}/assets/app-abc123.js", server.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.status(), StatusCode::OK);
    assert_eq!(header(&gzipped, "content-encoding"), "gzip");
    assert!(header(&gzipped, "content-type").contains("javascript"));
    assert_eq!(gzipped.text().await.unwrap(), "gzipped bytes");

    // An asset of another build is not index.html under a name cached for a year.
    let (status, problem) = server.call(None, Method::GET, "/assets/app-old999.js", None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_such_route")));
    let response = get(&server, "/assets/app-old999.js").await;
    assert_eq!(header(&response, "cache-control"), "no-cache");
}

#[tokio::test]
async fn api_paths_and_other_methods_answer_as_without_the_web_client() {
    let (_root, web) = built_client();
    let with_web = server_with(&web).await;
    let without_web = TestServer::start_with(|c| c.server.web_dir = Some(PathBuf::new())).await;

    for (method, path) in [
        (Method::GET, "/api/v1/nope"),
        (Method::GET, "/api"),
        (Method::HEAD, "/api/v1/nope"),
        (Method::GET, "/healthz/nope"),
        (Method::GET, "/openapi.json/nope"),
        (Method::POST, "/chats/x"),
        (Method::POST, "/"),
        (Method::PUT, "/index.html"),
        (Method::DELETE, "/assets/app-abc123.js"),
    ] {
        for server in [&with_web, &without_web] {
            let response =
                server.client.request(method.clone(), format!("{}{path}", server.base)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(header(&response, "content-type"), "application/problem+json", "{method} {path}");
            assert_eq!(header(&response, "content-security-policy"), "", "{method} {path}");
            let body = response.text().await.unwrap();
            if method != Method::HEAD {
                let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(problem["code"], "no_such_route", "{method} {path}");
            }
        }
    }

    // Without a web client, `/` is an unknown route, as it always was.
    let (status, problem) = without_web.call(None, Method::GET, "/", None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_such_route")));

    // The API's own responses carry none of the web client's headers.
    for path in ["/healthz", "/openapi.json"] {
        let response = get(&with_web, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header(&response, "content-type").starts_with("application/json"), "{path}");
        assert_eq!(header(&response, "content-security-policy"), "", "{path}");
    }
    let (status, _) = with_web.call(None, Method::GET, "/api/v1/chats", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_path_reaches_outside_the_web_clients_directory() {
    let (_root, web) = built_client();
    let server = server_with(&web).await;
    let encoded = [
        "/..%2fsecret.txt",
        "/..%2f..%2f..%2f..%2f..%2f..%2fetc/passwd",
        "/..%2f..%2fetc/passwd",
        "/assets/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
    ];
    for path in encoded {
        let response = get(&server, path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(!body.contains(SECRET) && !body.contains("root:"), "{path}: {status} {body}");
        assert!((status == StatusCode::OK && body == INDEX) || status == StatusCode::NOT_FOUND, "{path}: {status}");
    }
    // Sent as is, without a client normalising the dot segments first.
    for path in ["/../secret.txt", "/assets/../../secret.txt", "/./../secret.txt"] {
        let (status_line, body) = raw_get(&server, path).await;
        assert!(!body.contains(SECRET), "{path}: {status_line} {body}");
        assert!(status_line.contains(" 200 ") || status_line.contains(" 404 "), "{path}: {status_line}");
    }
}

/// A GET of `path` written on the socket byte for byte: the status line and the body.
async fn raw_get(server: &TestServer, path: &str) -> (String, String) {
    let address = server.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}
