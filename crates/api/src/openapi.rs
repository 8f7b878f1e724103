//! The OpenAPI 3.1 document: generated from the handlers' annotations, finished here with
//! the API's title, description and bearer security scheme, and with the error responses
//! every operation can give whatever its handler (problem documents, as
//! `application/problem+json`), added in one place rather than on each handler.

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
    with_common_errors(doc)
}

const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// Problem responses as `application/problem+json`, and on every operation the errors the
/// shared extractors and the store give: 400 (a path or query that does not parse, a body
/// that is not JSON), 401 (a secured operation without a valid token), 413 / 415 / 422 (a
/// body too large, not JSON, or breaking a rule), 429 (a rate limit, on every `/api/`
/// operation), 503 (a dependency away).
fn with_common_errors(doc: OpenApi) -> OpenApi {
    let Ok(mut value) = serde_json::to_value(&doc) else { return doc };
    let problem = serde_json::json!({
        "description": "a problem document (RFC 9457) with a stable `code`",
        "content": { "application/problem+json": { "schema": { "$ref": PROBLEM_REF } } }
    });
    if let Some(paths) = value.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                add_errors(path, operation, &problem);
            }
        }
    }
    serde_json::from_value(value).unwrap_or(doc)
}

fn add_errors(path: &str, operation: &mut serde_json::Value, problem: &serde_json::Value) {
    let secured = operation
        .get("security")
        .and_then(|s| s.as_array())
        .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
    let has_body = operation.get("requestBody").is_some();
    let has_query = operation
        .get("parameters")
        .and_then(|p| p.as_array())
        .is_some_and(|ps| ps.iter().any(|p| p.get("in").and_then(|i| i.as_str()) == Some("query")));
    if let Some(parameters) = operation.get_mut("parameters").and_then(|p| p.as_array_mut()) {
        for parameter in parameters {
            if parameter.get("in").and_then(|i| i.as_str()) != Some("path") {
                continue;
            }
            let name = parameter.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
            // Ids are decimal strings (anything else is a 400 `invalid_path`); an emoji is one
            // emoji (else 422 `invalid_emoji`).
            let stated = if name.ends_with("_id") {
                Some(crate::wire::rules::id())
            } else if name == "emoji" {
                Some(crate::wire::rules::emoji())
            } else {
                None
            };
            if let Some(stated) = stated.and_then(|s| serde_json::to_value(s).ok()) {
                parameter["schema"] = stated;
            }
        }
    }
    let Some(responses) = operation.get_mut("responses").and_then(|r| r.as_object_mut()) else { return };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut()) else { continue };
        let is_problem =
            content.get("application/json").and_then(|c| c.pointer("/schema/$ref")).and_then(|r| r.as_str())
                == Some(PROBLEM_REF);
        if is_problem && let Some(json) = content.remove("application/json") {
            content.insert("application/problem+json".into(), json);
        }
    }
    let mut statuses = vec!["503"];
    if path.starts_with("/api/") {
        statuses.push("429");
    }
    if path.contains('{') || has_body || has_query {
        statuses.push("400");
    }
    if secured {
        statuses.push("401");
    }
    if has_body {
        statuses.extend(["413", "415", "422"]);
    }
    if has_query {
        statuses.push("422");
    }
    for status in statuses {
        responses.entry(status).or_insert_with(|| problem.clone());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// The limits the document states with literal attributes, against the code's.
    #[test]
    fn the_document_states_the_limits_of_the_code() {
        let doc = serde_json::to_value(crate::openapi()).expect("document");
        let schemas = &doc["components"]["schemas"];
        let cases = [
            ("SetStatusIn/properties/clear_after_secs/maximum", json!(service::presence::MAX_CLEAR_AFTER_SECS)),
            ("SendSignalIn/properties/mentions/maxItems", json!(service::signals::MAX_MENTIONS)),
            ("SendSignalIn/properties/attachments/maxItems", json!(domain::attachment::MAX_ATTACHMENTS_PER_MESSAGE)),
            ("LocationWire/properties/accuracy_m/maximum", json!(domain::rules::MAX_LOCATION_ACCURACY_M)),
        ];
        for (pointer, limit) in cases {
            let stated = schemas.pointer(&format!("/{pointer}")).unwrap_or_else(|| panic!("no {pointer}"));
            assert_eq!(stated.as_f64(), limit.as_f64(), "{pointer}");
        }
    }

    /// Every id and emoji of a path has the schema of its rule.
    #[test]
    fn path_parameters_state_their_rules() {
        let doc = serde_json::to_value(crate::openapi()).expect("document");
        let id = serde_json::to_value(crate::wire::rules::id()).expect("id");
        let emoji = serde_json::to_value(crate::wire::rules::emoji()).expect("emoji");
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for operation in item.as_object().expect("operations").values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().unwrap_or_default();
                    if parameter["in"] != "path" {
                        continue;
                    }
                    let expected: &Value = if name == "emoji" { &emoji } else { &id };
                    assert_eq!(&parameter["schema"], expected, "{path} {name}");
                    seen += 1;
                }
            }
        }
        assert!(seen > 40, "{seen} path parameters");
    }
}
