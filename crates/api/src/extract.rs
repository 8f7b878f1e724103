//! Extractors: JSON bodies, paths and queries whose rejections are problem documents, and
//! the authenticated user.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use domain::{Error, ErrorCode, User};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body. Malformed JSON is a 400, JSON of the wrong shape a 422, a body over the
/// limit a 413, a missing `Content-Type: application/json` a 415.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(ErrorCode::MalformedJson, e.body_text()),
        JsonRejection::JsonDataError(e) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidBody, e.body_text())
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        other => ApiError::bad_request(ErrorCode::UnreadableBody, other.body_text()),
    }
}

/// Path parameters; ids that do not parse are a 400.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::bad_request(ErrorCode::InvalidPath, e.body_text()))
            }
            Err(other) => Err(ApiError::bad_request(ErrorCode::InvalidPath, other.body_text())),
        }
    }
}

/// Query parameters; values that do not parse are a 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(ErrorCode::InvalidQuery, e.body_text()))
            }
            Err(other) => Err(ApiError::bad_request(ErrorCode::InvalidQuery, other.body_text())),
        }
    }
}

/// The caller, authenticated by `Authorization: Bearer <token>` and provisioned on first sight.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let identity = state.identity.verify(token).await?;
        let user = state.service.user_for_identity(&identity).await?;
        state.limits.charge_user(parts, user.id)?;
        Ok(Self(user))
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| Error::unauthenticated("send an Authorization: Bearer <token> header"))?;
    let value = header.to_str().map_err(|_| Error::unauthenticated("the Authorization header is not text"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Error::unauthenticated("the Authorization header must be: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::unauthenticated("the Authorization header must be: Bearer <token>").into());
    }
    Ok(token.trim())
}

/// A page size (`limit`) of a query: any whole number from 0, written in decimal; one past
/// `usize::MAX` counts as `usize::MAX`. The list takes the nearest size it allows (e.g. 1
/// to 100), so every such number is a good request, as the document says (`minimum: 0`).
pub fn page_size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    struct PageSize;

    impl serde::de::Visitor<'_> for PageSize {
        type Value = Option<usize>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number from 0")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(serde::de::Unexpected::Str(text), &self));
            }
            let saturating = |n: usize, d: u8| n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
            Ok(Some(text.bytes().fold(0, saturating)))
        }

        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
        }
    }

    deserializer.deserialize_any(PageSize)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Query {
        #[serde(default, deserialize_with = "super::page_size")]
        limit: Option<usize>,
    }

    /// `limit` of the query string `query`, or `None` if it does not parse.
    fn limit(query: &str) -> Option<Option<usize>> {
        let uri: axum::http::Uri = format!("/?{query}").parse().expect("uri");
        axum::extract::Query::<Query>::try_from_uri(&uri).ok().map(|q| q.0.limit)
    }

    #[test]
    fn page_sizes_are_whole_numbers_that_saturate() {
        let cases = [
            ("", Some(None)),
            ("limit=0", Some(Some(0))),
            ("limit=007", Some(Some(7))),
            ("limit=18446744073709551615", Some(Some(usize::MAX))),
            ("limit=63913560489948004483072", Some(Some(usize::MAX))),
            ("limit=", None),
            ("limit=-1", None),
            ("limit=%2B1", None),
            ("limit=1.0", None),
            ("limit=ten", None),
        ];
        for (query, expected) in cases {
            assert_eq!(limit(query), expected, "{query:?}");
        }
    }
}
