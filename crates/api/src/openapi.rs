//! The OpenAPI 3.1 document: generated from the handlers' annotations, finished here with
//! the API's title, description and bearer security scheme.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Server};

/// Names the API and declares the bearer scheme every `/api/v1` route (but the login ones) uses.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info.title = "Petit chat API".into();
    doc.info.description = Some(
        "Self-hosted chat: direct and group chats, messages, reactions, receipts and live events. \
         Errors are RFC 9457 problem documents with a stable `code`; ids are decimal strings; \
         lists are cursor-paged."
            .into(),
    );
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.contact = None;
    doc.info.license = Some(utoipa::openapi::License::new("AGPL-3.0-or-later"));
    doc.servers = Some(vec![Server::new("/")]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
    doc
}
