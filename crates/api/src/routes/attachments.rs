//! Attachments: uploads, a chat's files, downloads (a redirect to the object store, or the
//! bytes with byte ranges).

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{AttachmentKind, Error, ErrorCode, Id};
use futures::StreamExt;
use serde::Deserialize;
use service::attachments::Download;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, CurrentUser};
use crate::wire::{AttachmentKindWire, AttachmentOut, ChatFileOut, Page};

/// What a multipart upload may add around the file itself (headers of the parts, other
/// small fields), beyond the configured size of a file.
const FORM_OVERHEAD: u64 = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    // An upload's size is checked as it streams (`limits.max_upload_bytes`), not by the
    // JSON body limit.
    let uploads = OpenApiRouter::new().routes(routes!(upload, list_files)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(get_attachment))
        .routes(routes!(content))
        .routes(routes!(thumbnail))
}

/// The form of an upload: the part `file`; other parts are skipped. A part's name is text
/// of its header, so it holds no control character but tab (else 400 `unreadable_body`).
pub struct UploadForm;

impl utoipa::PartialSchema for UploadForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let file = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("The file; its filename is kept, its content type is sniffed from the bytes."));
        let header_text =
            ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^\u0000-\u0008\u000a-\u001f\u007f]*$"));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("The form of an upload: the part `file`; other parts are skipped."))
            .property("file", file)
            .required("file")
            .property_names(Some(header_text))
            .into()
    }
}

impl ToSchema for UploadForm {}

/// Uploads a file to a chat (members only), to send it in a message afterwards. The body
/// streams to storage; a file over the size limit (default 25 MiB) is refused with 413 and
/// leaves nothing. The same bytes uploaded again (by anyone) are stored once.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("chat_id" = String, Path)), request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentOut), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    request: Request,
) -> ApiResult<(StatusCode, Json<AttachmentOut>)> {
    let max = state.service.limits().max_upload_bytes;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max + FORM_OVERHEAD) {
        return Err(too_large(max));
    }
    let mut form = Multipart::from_request(request, &state).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("send a multipart/form-data body: {}", e.body_text()),
        )
    })?;
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("file").to_string();
        let bytes = field.map(|chunk| {
            chunk.map_err(|e| Error::invalid(ErrorCode::UnreadableBody, format!("the upload could not be read: {e}")))
        });
        let attachment = state.service.upload(&user, chat_id, &filename, bytes).await?;
        return Ok((StatusCode::CREATED, Json(attachment.into())));
    }
    Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::MissingFile, "the form has no part named `file`"))
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, format!("a file is at most {max} bytes"))
}

fn form_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request(ErrorCode::UnreadableBody, format!("the form could not be read: {}", e.body_text()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FilesQuery {
    /// Only files of this kind.
    kind: Option<AttachmentKindWire>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 50; a number out of range counts as the nearest).
    #[serde(default, deserialize_with = "crate::extract::page_size")]
    limit: Option<usize>,
}

/// All files sent in a chat, newest first.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("chat_id" = String, Path), FilesQuery),
    responses((status = 200, body = Page<ChatFileOut>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_files(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(chat_id): ApiPath<Id>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<Json<Page<ChatFileOut>>> {
    let kind = q.kind.map(AttachmentKind::from);
    let page = state.service.files(&user, chat_id, kind, q.cursor.as_deref(), q.limit).await?;
    Ok(Json(Page::from_domain(page, ChatFileOut::from)))
}

/// One attachment: sent in the chat, or the caller's own upload not sent yet.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/attachments/{attachment_id}", tag = "attachments", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("attachment_id" = String, Path)),
    responses((status = 200, body = AttachmentOut), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn get_attachment(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, id)): ApiPath<(Id, Id)>,
) -> ApiResult<Json<AttachmentOut>> {
    let attachment = state.service.attachment(&user, chat_id, id).await?;
    Ok(Json(attachment.into()))
}

/// The bytes of an attachment. Cluster shape: `302` to a presigned URL of the object store
/// that expires (default 5 minutes). Embedded: the bytes, with `Range` support (206).
/// Either way with the sniffed `Content-Type`, `Content-Disposition` (inline for images,
/// audio and video; attachment otherwise) and `X-Content-Type-Options: nosniff`.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/attachments/{attachment_id}/content", tag = "attachments", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("attachment_id" = String, Path),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`")),
    responses((status = 200, description = "the file, as its sniffed content type", content_type = "*/*"),
        (status = 206, description = "the requested range", content_type = "*/*"),
        (status = 302, description = "the file at a presigned URL of the object store"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 416, body = Problem), (status = 503, body = Problem)))]
async fn content(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, id)): ApiPath<(Id, Id)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let download = state.service.download(&user, chat_id, id).await?;
    respond(&state, download, &headers).await
}

/// An image attachment's thumbnail: a JPEG whose longest side is at most
/// `workers.thumbnail_side` (400 px), without the original's metadata (EXIF, GPS). Made
/// by the `thumbnails` workers once the image is sent (404 `thumbnail_not_found` until
/// then, and for files that are not images or cannot be decoded). Served as the content is.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/attachments/{attachment_id}/thumbnail", tag = "attachments", security(("bearer" = [])),
    params(("chat_id" = String, Path), ("attachment_id" = String, Path),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`")),
    responses((status = 200, description = "the thumbnail", content_type = "image/jpeg"),
        (status = 206, description = "the requested range", content_type = "image/jpeg"),
        (status = 302, description = "the thumbnail at a presigned URL of the object store"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 416, body = Problem), (status = 503, body = Problem)))]
async fn thumbnail(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((chat_id, id)): ApiPath<(Id, Id)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let download = state.service.thumbnail(&user, chat_id, id).await?;
    respond(&state, download, &headers).await
}

/// A download as HTTP: a redirect, or the bytes (a range of them if asked) with headers
/// that keep a file from running as a page of this origin.
async fn respond(state: &AppState, download: Download, headers: &HeaderMap) -> ApiResult<Response> {
    let file = match download {
        Download::Redirect(url) => {
            let mut response = StatusCode::FOUND.into_response();
            let location =
                HeaderValue::try_from(url).map_err(|_| Error::internal("a download URL is not a header value"))?;
            response.headers_mut().insert(header::LOCATION, location);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            return Ok(response);
        }
        Download::Bytes(file) => file,
    };
    let size = file.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(value) => match parse_range(value, size) {
            RangeAsk::Whole => None,
            RangeAsk::Part(range) => Some(range),
            RangeAsk::Unsatisfiable => {
                let mut response = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::RangeNotSatisfiable,
                    format!("the file has {size} bytes"),
                )
                .into_response();
                response.headers_mut().insert(header::CONTENT_RANGE, header_value(format!("bytes */{size}")));
                return Ok(response);
            }
        },
        None => None,
    };
    let bytes = state.service.file_bytes(&file, range.clone()).await?;
    let mut response = Response::new(Body::from_stream(bytes));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(file.content_type));
    h.insert(header::CONTENT_DISPOSITION, header_value(file.disposition));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Nothing in a file runs as a page of this origin, even opened directly.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400, immutable"));
    h.insert(header::ETAG, header_value(format!("\"{}\"", file.key)));
    match range {
        Some(range) => {
            h.insert(header::CONTENT_RANGE, header_value(format!("bytes {}-{}/{size}", range.start, range.end - 1)));
            h.insert(header::CONTENT_LENGTH, header_value((range.end - range.start).to_string()));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => {
            h.insert(header::CONTENT_LENGTH, header_value(size.to_string()));
        }
    }
    Ok(response)
}

fn header_value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// Nothing this server serves as a range (another unit, several ranges, garbage): the
    /// whole file, as RFC 9110 allows.
    Whole,
    Part(std::ops::Range<u64>),
    /// A byte range that starts past the end.
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return RangeAsk::Whole };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeAsk::Whole };
    let (start, end) = (start.trim(), end.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (start.is_empty(), end.is_empty()) {
        // The last `n` bytes.
        (true, false) => match parse(end) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(n) if size > 0 => RangeAsk::Part(size.saturating_sub(n)..size),
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (false, _) => {
            let Some(first) = parse(start) else { return RangeAsk::Whole };
            let last = if end.is_empty() { Some(u64::MAX) } else { parse(end) };
            match last {
                None => RangeAsk::Whole,
                Some(last) if last < first => RangeAsk::Whole,
                Some(_) if first >= size => RangeAsk::Unsatisfiable,
                Some(last) => RangeAsk::Part(first..last.min(size - 1) + 1),
            }
        }
        (true, true) => RangeAsk::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        use RangeAsk::*;
        let cases = [
            ("bytes=0-9", Part(0..10)),
            ("bytes=10-", Part(10..100)),
            ("bytes=-10", Part(90..100)),
            ("bytes=-1000", Part(0..100)),
            ("bytes=90-1000", Part(90..100)),
            ("bytes=99-99", Part(99..100)),
            ("bytes=100-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=5-1", Whole),
            ("bytes=0-1,5-6", Whole),
            ("items=0-1", Whole),
            ("bytes=x-1", Whole),
            ("bytes=-", Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_range(header, 100), expected, "{header}");
        }
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }
}
