//! The web client: the browser app's built files, served from a directory at `/`. A GET or
//! HEAD for a path that is no file answers `index.html` (the app routes deep links such as
//! `/chats/123` itself); the hashed files under `/assets/` are cached for good, the rest
//! revalidated. Its responses carry the headers a browser app needs (a strict
//! Content-Security-Policy, no sniffing, no referrer, a browsing context group of its own);
//! API responses do not, so the OpenAPI contract stays as it is. API paths never reach the
//! files: what is not a route there stays a problem document, as is any other method.

use std::path::PathBuf;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::ErrorCode;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;

/// Where the web client is, and the other origins it talks to.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// The directory of the built client: `index.html`, hashed files under `assets/`.
    pub dir: PathBuf,
    /// The OpenID Connect issuer, when people log in through one: the browser fetches its
    /// discovery document and tokens, and may post forms to it.
    pub oidc_issuer: Option<String>,
    /// Where the object store serves attachments from, when downloads redirect there: the
    /// browser follows the redirect to fetch them.
    pub blob_endpoint: Option<String>,
}

/// The paths of the API and of the operations endpoints: an unknown one is a problem
/// document, never the web client.
const API_PATHS: [&str; 6] = ["/api", "/openapi.json", "/healthz", "/readyz", "/metrics", "/docs"];

/// Build outputs named by their content's hash: a new build gives new names.
const ASSETS: &str = "/assets/";

const CACHE_FOREVER: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// The files and the headers that go with them.
#[derive(Debug, Clone)]
pub struct WebClient {
    /// Any file of the directory, `index.html` when there is none.
    files: ServeDir<ServeFile>,
    /// The files under `assets/`, with no fallback: a missing one is a 404.
    assets: ServeDir,
    content_security_policy: HeaderValue,
}

impl WebClient {
    pub fn new(settings: &WebSettings) -> Self {
        for url in [&settings.oidc_issuer, &settings.blob_endpoint].into_iter().flatten() {
            if origin(url).is_none() {
                tracing::warn!(%url, "the web client's content security policy cannot name this URL's origin");
            }
        }
        let policy = content_security_policy(settings.oidc_issuer.as_deref(), settings.blob_endpoint.as_deref());
        let index = ServeFile::new(settings.dir.join("index.html")).precompressed_br().precompressed_gzip();
        let files = ServeDir::new(&settings.dir)
            .append_index_html_on_directories(false)
            .precompressed_br()
            .precompressed_gzip()
            .fallback(index);
        let assets = ServeDir::new(&settings.dir)
            .append_index_html_on_directories(false)
            .precompressed_br()
            .precompressed_gzip();
        Self {
            files,
            assets,
            // The origins are checked to be host characters, so the policy is a valid value.
            content_security_policy: HeaderValue::from_str(&policy)
                .unwrap_or(HeaderValue::from_static("default-src 'self'")),
        }
    }

    /// Answers a request no route took.
    pub async fn serve(&self, request: Request) -> Response {
        let path = request.uri().path();
        if !matches!(*request.method(), Method::GET | Method::HEAD) || is_api_path(path) {
            return crate::routes::not_found().await.into_response();
        }
        let is_asset = path.starts_with(ASSETS);
        let served = if is_asset {
            self.assets.clone().oneshot(request).await
        } else {
            self.files.clone().oneshot(request).await
        };
        let mut response = match served {
            Ok(response) if is_asset && response.status() == StatusCode::NOT_FOUND => {
                ApiError::not_found(ErrorCode::NoSuchRoute, "no such file in the web client").into_response()
            }
            Ok(response) => response.map(axum::body::Body::new),
            Err(infallible) => match infallible {},
        };
        let cache_forever =
            is_asset && (response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED);
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, if cache_forever { CACHE_FOREVER } else { REVALIDATE });
        headers.insert(header::CONTENT_SECURITY_POLICY, self.content_security_policy.clone());
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
        response
    }
}

fn is_api_path(path: &str) -> bool {
    API_PATHS.iter().any(|api| path.strip_prefix(api).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// The web client's Content-Security-Policy: its own origin only, plus the identity
/// provider's origin for fetches and forms, and the object store's for downloads.
pub fn content_security_policy(oidc_issuer: Option<&str>, blob_endpoint: Option<&str>) -> String {
    let identity = oidc_issuer.and_then(origin);
    let blobs = blob_endpoint.and_then(origin);
    let directive = |base: &str, extra: &[&Option<String>]| {
        let mut directive = base.to_string();
        for origin in extra.iter().copied().flatten() {
            if !directive.split(' ').any(|source| source == origin) {
                directive.push(' ');
                directive.push_str(origin);
            }
        }
        directive
    };
    [
        directive("default-src 'self'", &[]),
        directive("script-src 'self'", &[]),
        directive("style-src 'self'", &[]),
        directive("img-src 'self' blob: data:", &[&blobs]),
        directive("media-src 'self' blob:", &[&blobs]),
        directive("connect-src 'self'", &[&identity, &blobs]),
        directive("worker-src 'self'", &[]),
        directive("manifest-src 'self'", &[]),
        directive("object-src 'none'", &[]),
        directive("base-uri 'none'", &[]),
        directive("form-action 'self'", &[&identity]),
        directive("frame-ancestors 'none'", &[]),
    ]
    .join("; ")
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased; `None` for anything else, or for a
/// host with characters a policy source cannot hold.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let is_host = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (!host_port.is_empty() && host_port.chars().all(is_host))
        .then(|| format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_identity_provider_and_the_object_store_only_when_there_are_some() {
        let own_only = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                        media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
                        object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
        assert_eq!(content_security_policy(None, None), own_only);

        let with_keycloak = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                             media-src 'self' blob:; connect-src 'self' http://127.0.0.1:8180; worker-src 'self'; \
                             manifest-src 'self'; object-src 'none'; base-uri 'none'; \
                             form-action 'self' http://127.0.0.1:8180; frame-ancestors 'none'";
        assert_eq!(content_security_policy(Some("http://127.0.0.1:8180/realms/petit-chat"), None), with_keycloak);

        let with_both = content_security_policy(
            Some("https://sso.example.org/realms/petit-chat"),
            Some("https://files.example.org"),
        );
        let directives: Vec<&str> = with_both.split("; ").collect();
        assert!(directives.contains(&"connect-src 'self' https://sso.example.org https://files.example.org"));
        assert!(directives.contains(&"form-action 'self' https://sso.example.org"));
        assert!(directives.contains(&"img-src 'self' blob: data: https://files.example.org"));
        assert!(directives.contains(&"media-src 'self' blob: https://files.example.org"));
        assert!(directives.contains(&"script-src 'self'"));

        // One origin for both is named once.
        let shared = content_security_policy(Some("https://example.org/sso"), Some("https://example.org/files"));
        assert!(shared.contains("connect-src 'self' https://example.org;"), "{shared}");
    }

    #[test]
    fn an_origin_is_the_scheme_host_and_port_of_an_http_url() {
        let cases = [
            ("http://127.0.0.1:8180/realms/petit-chat", Some("http://127.0.0.1:8180")),
            ("https://SSO.example.org/realms/x?y#z", Some("https://sso.example.org")),
            ("https://sso.example.org", Some("https://sso.example.org")),
            ("HTTPS://user:secret@sso.example.org:8443/", Some("https://sso.example.org:8443")),
            ("http://[::1]:8180/realms/x", Some("http://[::1]:8180")),
            ("ftp://sso.example.org", None),
            ("sso.example.org/realms/x", None),
            ("https:///realms/x", None),
            ("https://evil.org;script-src *", None),
            ("https://evil.org 'unsafe-inline'", None),
        ];
        for (url, expected) in cases {
            assert_eq!(origin(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn api_paths_are_told_from_the_web_clients() {
        for path in ["/api", "/api/v1/nope", "/openapi.json", "/healthz", "/readyz/x", "/metrics", "/docs/x"] {
            assert!(is_api_path(path), "{path}");
        }
        for path in ["/", "/chats/123", "/apiary", "/assets/app.js", "/docs.html", "/index.html"] {
            assert!(!is_api_path(path), "{path}");
        }
    }
}
