//! Uploads as `POST /api/v1/chats/{id}/attachments` reads them: axum's `Multipart`
//! extractor (over multer) reading every part's name, file name, content type, headers and
//! bytes (streamed, as the route streams the `file` part), then what the service makes of
//! a part named `file`: its file name cleaned (`domain::clean_filename`), its type sniffed
//! from its first bytes (`service::attachments::sniff_content_type`), an image's size read
//! from its header (`imagesize`, as `ChatService::upload` does) and the
//! `Content-Disposition` of its download (`service::attachments::content_disposition`).
//!
//! Input: a mode byte, a chunk byte (the body arrives in chunks of that many bytes; 0: in
//! one), then by mode (modulo 3):
//! - 0: a body under a fixed boundary;
//! - 1: a `Content-Type` header value up to the first `\n`, then the body;
//! - 2: parts made from the bytes (names, file names, content types, contents), written as
//!   a browser writes them.
//!
//! Asserts: a malformed form is an error, never a panic; parts written as a browser does
//! read back exactly (mode 2); a kept file name is 1 to 255 bytes, one path component
//! without control characters, never `.` or `..`; a sniffed type is a MIME type, text only
//! for bytes that are UTF-8 without NUL; `Content-Disposition` is a valid header value,
//! `inline` only for audio, video and raster images (never HTML, SVG or text), its
//! quoted fallback name has no quote or backslash and as many characters as the kept name,
//! and its `filename*` decodes to the kept name.

#![no_main]

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use domain::attachment::MAX_FILENAME_BYTES;
use domain::{AttachmentKind, clean_filename};
use futures::StreamExt;
use libfuzzer_sys::arbitrary::{Result as Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use service::attachments::{content_disposition, sniff_content_type};

const BOUNDARY: &str = "petit-chat-fuzz";
/// What `ChatService::upload` keeps of an upload's first bytes to sniff it.
const SNIFF_BYTES: usize = 256 * 1024;

fuzz_target!(|data: &[u8]| {
    let [mode, chunk, rest @ ..] = data else { return };
    let chunk = usize::from(*chunk);
    match mode % 3 {
        0 => {
            let _ = read_form(&format!("multipart/form-data; boundary={BOUNDARY}"), rest, chunk);
        }
        1 => {
            let (content_type, body) = match rest.iter().position(|b| *b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            if let Ok(content_type) = std::str::from_utf8(content_type) {
                let _ = read_form(content_type, body, chunk);
            }
        }
        _ => {
            if let Ok((boundary, parts)) = parts_of(&mut Unstructured::new(rest)) {
                round_trip(&boundary, &parts, chunk);
            }
        }
    }
});

#[derive(Debug, PartialEq)]
struct Part {
    name: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// Reads a form as the upload route does: `Multipart` from a request with this
/// `Content-Type`, every part to its end.
fn read_form(content_type: &str, body: &[u8], chunk: usize) -> Result<Vec<Part>, String> {
    let chunks: Vec<Result<Bytes, std::io::Error>> = match chunk {
        0 => vec![Ok(Bytes::copy_from_slice(body))],
        n => body.chunks(n).map(|c| Ok(Bytes::copy_from_slice(c))).collect(),
    };
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/chats/1/attachments")
        .header(CONTENT_TYPE, content_type)
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .map_err(|e| e.to_string())?;
    futures::executor::block_on(async {
        let mut form = Multipart::from_request(request, &()).await.map_err(|e| e.body_text())?;
        let mut parts = vec![];
        while let Some(mut field) = form.next_field().await.map_err(|e| e.body_text())? {
            let name = field.name().map(str::to_owned);
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let _headers = field.headers().iter().count();
            let mut bytes = vec![];
            while let Some(chunk) = field.next().await {
                bytes.extend_from_slice(&chunk.map_err(|e| e.body_text())?);
            }
            if name.as_deref() == Some("file") {
                check_upload(file_name.as_deref().unwrap_or("file"), &bytes);
            }
            parts.push(Part { name, file_name, content_type, bytes });
        }
        Ok(parts)
    })
}

/// What the service makes of an uploaded file.
fn check_upload(file_name: &str, bytes: &[u8]) {
    let kept = clean_filename(file_name);
    assert!(!kept.is_empty() && kept.len() <= MAX_FILENAME_BYTES, "{file_name:?} kept as {kept:?}");
    assert!(!kept.contains(['/', '\\']) && !kept.chars().any(char::is_control), "{file_name:?} kept as {kept:?}");
    assert!(kept != "." && kept != "..", "{file_name:?} kept as {kept:?}");
    assert!(!kept.contains(['\u{202E}', '\u{200B}', '\u{FEFF}']), "{file_name:?} kept as {kept:?}");
    assert_eq!(kept.trim(), kept, "{file_name:?} kept with spaces around");
    assert_eq!(clean_filename(&kept), kept, "cleaning {file_name:?} twice changes it");

    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let content_type = sniff_content_type(head);
    let (kind_part, subtype) = content_type.split_once('/').unwrap_or_default();
    assert!(!kind_part.is_empty() && !subtype.is_empty(), "sniffed {content_type:?}");
    if content_type.starts_with("text/plain") {
        assert!(!head.is_empty() && !head.contains(&0), "{head:?} sniffed as text");
    }
    if AttachmentKind::of_content_type(&content_type) == AttachmentKind::Image
        && let Ok(size) = imagesize::blob_size(head)
    {
        let _ = (u32::try_from(size.width), u32::try_from(size.height));
    }

    let disposition = content_disposition(&content_type, &kept);
    assert!(HeaderValue::from_str(&disposition).is_ok(), "{disposition:?} is not a header value");
    assert!(disposition.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{disposition:?}");
    if disposition.starts_with("inline;") {
        let media = ["image/", "video/", "audio/"].iter().any(|p| content_type.starts_with(p));
        assert!(media && !content_type.contains("svg"), "{content_type:?} shown inline");
    } else {
        assert!(disposition.starts_with("attachment;"), "{disposition:?}");
    }
    let (_, names) = disposition.split_once("; filename=\"").unwrap_or_default();
    let (fallback, encoded) = names.split_once("\"; filename*=UTF-8''").unwrap_or_default();
    assert!(!fallback.contains(['"', '\\']), "{disposition:?}");
    assert_eq!(fallback.chars().count(), kept.chars().count(), "{disposition:?}");
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8();
    assert_eq!(decoded.as_deref().ok(), Some(kept.as_str()), "{disposition:?}");
}

/// A boundary and up to three parts, as a browser could send them: names and boundaries of
/// letters, digits, `-` and `_` (names without `filename`, see below); file names without
/// control characters, quotes or backslashes (a browser escapes those); contents that do
/// not hold the boundary.
fn parts_of(u: &mut Unstructured) -> Arbitrary<(String, Vec<Part>)> {
    let token = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect::<String>();
    let mut boundary = token(u.arbitrary::<&str>()?);
    boundary.truncate(70);
    if boundary.is_empty() {
        boundary = BOUNDARY.to_string();
    }
    let mut parts = vec![];
    for _ in 0..u.int_in_range(1..=3)? {
        // multer 3.1 loses the file name of a part whose name holds `filenamefilename`
        // (`ContentDispositionAttr::extract_from` gives up at the second one): no browser
        // names a field so, and the upload route reads the part named `file` only.
        let name = match token(u.arbitrary::<&str>()?) {
            name if name.is_empty() || name.contains("filename") => "file".to_string(),
            name => name,
        };
        let file_name = if u.arbitrary()? {
            let name: String =
                u.arbitrary::<&str>()?.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
            Some(name)
        } else {
            None
        };
        let content_type = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some("application/octet-stream"),
            2 => Some("image/png"),
            _ => Some("text/plain; charset=utf-8"),
        };
        let bytes: Vec<u8> = u.arbitrary::<&[u8]>()?.to_vec();
        parts.push(Part { name: Some(name), file_name, content_type: content_type.map(str::to_owned), bytes });
    }
    Ok((boundary, parts))
}

fn round_trip(boundary: &str, parts: &[Part], chunk: usize) {
    let delimiter = format!("--{boundary}");
    if parts.iter().any(|p| p.bytes.windows(delimiter.len()).any(|w| w == delimiter.as_bytes())) {
        return;
    }
    let mut body = vec![];
    for part in parts {
        body.extend_from_slice(format!("{delimiter}\r\n").as_bytes());
        let mut disposition =
            format!("Content-Disposition: form-data; name=\"{}\"", part.name.as_deref().unwrap_or_default());
        if let Some(file_name) = &part.file_name {
            disposition.push_str(&format!("; filename=\"{file_name}\""));
        }
        body.extend_from_slice(format!("{disposition}\r\n").as_bytes());
        if let Some(content_type) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("{delimiter}--\r\n").as_bytes());
    let read = read_form(&format!("multipart/form-data; boundary={boundary}"), &body, chunk);
    assert_eq!(read.as_deref(), Ok(parts), "{:?}", String::from_utf8_lossy(&body));
}
