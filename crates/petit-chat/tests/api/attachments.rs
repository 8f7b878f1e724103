//! Attachments over HTTP: uploads (sniffed, hashed, deduplicated, limited), messages that
//! carry them, a chat's files, downloads (bytes with ranges in the embedded shape, a
//! presigned redirect on S3) and who may see what.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::harness::{Session, TestServer};

/// A 3×2 PNG (its header says so), 8-bit RGBA.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x03\0\0\0\x02\x08\x06\0\0\0".to_vec();
    bytes.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]); // CRC: not checked by sniffing
    bytes.extend(std::iter::repeat_n(7u8, 200));
    bytes
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Uploads `bytes` as `filename`, declared as `declared_type` (which the server ignores).
async fn upload_as(
    s: &Session,
    chat: &str,
    filename: &str,
    declared_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()).mime_str(declared_type).unwrap();
    let form = reqwest::multipart::Form::new().text("note", "ignored").part("file", part);
    let resp = post_form(s, chat, form).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn post_form(s: &Session, chat: &str, form: reqwest::multipart::Form) -> reqwest::Response {
    let url = format!("{}/api/v1/chats/{chat}/attachments", s.base);
    s.client.post(url).bearer_auth(&s.token).multipart(form).send().await.unwrap()
}

async fn upload(s: &Session, chat: &str, filename: &str, bytes: Vec<u8>) -> Value {
    let (status, body) = upload_as(s, chat, filename, "application/octet-stream", bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn send(s: &Session, chat: &str, text: Option<&str>, attachments: &[&Value], nonce: &str) -> (StatusCode, Value) {
    let ids: Vec<&Value> = attachments.iter().map(|a| &a["id"]).collect();
    let mut body = json!({ "kind": "msg", "attachments": ids, "nonce": nonce });
    if let Some(text) = text {
        body["text"] = json!(text);
    }
    s.post(&format!("/api/v1/chats/{chat}/signals"), body).await
}

/// A GET that does not follow redirects (the harness's client would, silently).
async fn fetch(s: &Session, path: &str, range: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = client.get(format!("{}{path}", s.base)).bearer_auth(&s.token);
    if let Some(range) = range {
        req = req.header("Range", range);
    }
    req.send().await.unwrap()
}

/// The bytes of an attachment as a client gets them: followed through the cluster shape's
/// redirect (with a client that sends no token: the URL alone grants access).
async fn download(s: &Session, chat: &str, id: &str, range: Option<&str>) -> reqwest::Response {
    let resp = fetch(s, &format!("/api/v1/chats/{chat}/attachments/{id}/content"), range).await;
    if resp.status() != StatusCode::FOUND {
        return resp;
    }
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let url = resp.headers()["location"].to_str().unwrap().to_string();
    let mut req = reqwest::Client::new().get(url);
    if let Some(range) = range {
        req = req.header("Range", range);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn an_upload_is_sniffed_hashed_and_described() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let chat = alice.group("files", &[&server.login("witness").await]).await;
    let bytes = png();
    let (status, a) = upload_as(&alice, &chat, "../../holiday.png", "text/plain", bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(a["filename"], "holiday.png", "the path is dropped");
    assert_eq!(a["content_type"], "image/png", "sniffed from the bytes, not the declared text/plain");
    assert_eq!(a["kind"], "image");
    assert_eq!((a["width"].as_u64(), a["height"].as_u64()), (Some(3), Some(2)));
    assert_eq!(a["size"], bytes.len());
    assert_eq!(a["sha256"], sha256_hex(&bytes));
    assert_eq!(a["uploader_id"], alice.id.as_str());
    assert_eq!(a["chat_id"], chat.as_str());

    let text = upload(&alice, &chat, "notes.txt", "Grüße, Petit chat".as_bytes().to_vec()).await;
    assert_eq!(text["content_type"], "text/plain; charset=utf-8");
    assert_eq!(text["kind"], "file");
    assert!(text.get("width").is_none());
    let pdf = upload(&alice, &chat, "a.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec()).await;
    assert_eq!((pdf["content_type"].as_str(), pdf["kind"].as_str()), (Some("application/pdf"), Some("file")));

    // Its uploader can read it back before sending it.
    let (status, again) = alice.get(&format!("/api/v1/chats/{chat}/attachments/{}", a["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, a);
}

#[tokio::test]
async fn the_same_bytes_are_stored_once_whoever_uploads_them_wherever() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let one = alice.group("one", &[&bob]).await;
    let two = bob.group("two", &[&server.login("witness").await]).await;
    let before = server.blob_count().await;
    let bytes = random_bytes(50_000);
    let a = upload(&alice, &one, "a.bin", bytes.clone()).await;
    let b = upload(&bob, &two, "b.bin", bytes.clone()).await;
    let c = upload(&bob, &one, "c.bin", bytes.clone()).await;
    assert_eq!(server.blob_count().await, before + 1, "three uploads of the same bytes, one object");
    assert_ne!(a["id"], b["id"]);
    assert_ne!(b["id"], c["id"]);
    assert_eq!(a["sha256"], b["sha256"]);
    assert_eq!(b["sha256"], c["sha256"]);
    upload(&alice, &one, "d.bin", random_bytes(10)).await;
    assert_eq!(server.blob_count().await, before + 2);
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_and_leaves_nothing() {
    let server = TestServer::start_with(|c| c.limits.max_upload_bytes = 100_000).await;
    let alice = server.login("alice").await;
    let chat = alice.group("big", &[&server.login("witness").await]).await;
    let before = server.blob_count().await;
    // Declared too large: refused before the body is read.
    let (status, body) = upload_as(&alice, &chat, "big.bin", "application/octet-stream", random_bytes(300_000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    // Chunked, no length: refused as it streams past the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..30).map(|_| Ok(random_bytes(10_000))).collect();
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .file_name("big.bin");
    let resp = post_form(&alice, &chat, reqwest::multipart::Form::new().part("file", part)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
    assert_eq!(server.blob_count().await, before, "nothing was stored");
    // Exactly the limit is fine.
    upload(&alice, &chat, "ok.bin", random_bytes(100_000)).await;
    assert_eq!(server.blob_count().await, before + 1);
}

#[tokio::test]
async fn a_bad_upload_gets_a_clear_error() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let chat = alice.group("bad", &[&server.login("witness").await]).await;
    // No part named `file`.
    let form = reqwest::multipart::Form::new().text("other", "x");
    let resp = post_form(&alice, &chat, form).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "missing_file");
    // Not a form at all.
    let (status, body) = alice.post(&format!("/api/v1/chats/{chat}/attachments"), json!({ "file": "x" })).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["code"], "unsupported_media_type");
}

#[tokio::test]
async fn messages_carry_attachments_in_pages_and_events() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("photos", &[&bob]).await;
    let mut bob_stream = bob.stream(None).await;
    let photo = upload(&alice, &chat, "p.png", png()).await;
    let doc = upload(&alice, &chat, "d.txt", b"minutes".to_vec()).await;

    // No text: the attachments are the message.
    let (status, signal) = send(&alice, &chat, None, &[&photo, &doc], "with-files").await;
    assert_eq!(status, StatusCode::CREATED, "{signal}");
    assert_eq!(signal["attachments"], json!([photo, doc]), "in the order sent");
    let event = bob_stream.next_message().await;
    assert_eq!(event.data["signal"]["attachments"], json!([photo, doc]));
    let (_, page) = bob.get(&format!("/api/v1/chats/{chat}/signals")).await;
    assert_eq!(page["items"][0]["id"], signal["id"]);
    assert_eq!(page["items"][0]["attachments"], json!([photo, doc]));

    // A retry of that send returns it; another send cannot take them.
    let (status, retry) = send(&alice, &chat, None, &[&photo, &doc], "with-files").await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry["id"], signal["id"]);
    let (status, body) = send(&alice, &chat, Some("again"), &[&photo], "other").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("attachment_unavailable")));

    // Text and a file together.
    let more = upload(&alice, &chat, "m.bin", random_bytes(64)).await;
    let (status, both) = send(&alice, &chat, Some("see attached"), &[&more], "both").await;
    assert_eq!(status, StatusCode::CREATED, "{both}");
    assert_eq!(
        (both["text"].as_str(), both["attachments"][0]["id"].as_str()),
        (Some("see attached"), more["id"].as_str())
    );
    // Plain messages carry none.
    let plain = alice.say(&chat, "hi").await;
    assert!(plain.get("attachments").is_none_or(|a| a == &json!([])), "{plain}");
}

#[tokio::test]
async fn a_send_takes_only_the_senders_own_unsent_uploads_of_that_chat() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("rules", &[&bob]).await;
    let elsewhere = alice.group("elsewhere", &[&server.login("witness").await]).await;
    let bobs = upload(&bob, &chat, "b.bin", random_bytes(10)).await;
    let other_chat = upload(&alice, &elsewhere, "o.bin", random_bytes(10)).await;
    let unknown = json!({ "id": "12345" });
    let cases = [("bob's upload", &bobs), ("another chat's", &other_chat), ("no such upload", &unknown)];
    for (i, (what, attachment)) in cases.into_iter().enumerate() {
        let (status, body) = send(&alice, &chat, Some("x"), &[attachment], &format!("n-{i}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["code"], "attachment_unavailable", "{what}");
    }
    // Eleven is one too many; an empty message is still refused.
    let mut many = vec![];
    for i in 0..11 {
        many.push(upload(&alice, &chat, &format!("{i}.bin"), random_bytes(8)).await);
    }
    let refs: Vec<&Value> = many.iter().collect();
    let (status, body) = send(&alice, &chat, None, &refs, "eleven").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("too_many_attachments")));
    let (status, body) = send(&alice, &chat, Some("  "), &[], "empty").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("empty_text")));
    // Nothing refused was posted, and the ten still go out.
    let (status, sent) = send(&alice, &chat, None, &refs[..10], "ten").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let (_, page) = alice.get(&format!("/api/v1/chats/{chat}/signals")).await;
    let msgs: Vec<&Value> = page["items"].as_array().unwrap().iter().filter(|s| s["kind"] == "msg").collect();
    assert_eq!(msgs.len(), 1);
}

#[tokio::test]
async fn all_files_of_a_chat_newest_first_by_kind_and_paged() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let chat = alice.group("album", &[&server.login("witness").await]).await;
    let mut sent = vec![];
    for i in 0..3 {
        let photo = upload(&alice, &chat, &format!("{i}.png"), [png(), vec![i]].concat()).await;
        let doc = upload(&alice, &chat, &format!("{i}.txt"), format!("doc {i}").into_bytes()).await;
        let (status, _) = send(&alice, &chat, None, &[&photo, &doc], &format!("files-{i}")).await;
        assert_eq!(status, StatusCode::CREATED);
        sent.push((photo, doc));
    }
    // An upload never sent is not among the chat's files.
    upload(&alice, &chat, "draft.png", [png(), vec![9]].concat()).await;

    let (status, all) = alice.get(&format!("/api/v1/chats/{chat}/attachments")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let names: Vec<&str> = all["items"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    // Newest message first; within one message, the later upload first.
    assert_eq!(names, ["2.txt", "2.png", "1.txt", "1.png", "0.txt", "0.png"]);
    assert!(all["items"][0]["signal_id"].is_string());
    assert!(all["next_cursor"].is_null());

    let (_, images) = alice.get(&format!("/api/v1/chats/{chat}/attachments?kind=image&limit=2")).await;
    let names: Vec<&str> =
        images["items"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["2.png", "1.png"]);
    let cursor = images["next_cursor"].as_str().expect("a next page");
    let (_, rest) = alice.get(&format!("/api/v1/chats/{chat}/attachments?kind=image&limit=2&cursor={cursor}")).await;
    let names: Vec<&str> = rest["items"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["0.png"]);
    assert!(rest["next_cursor"].is_null());

    let (status, body) = alice.get(&format!("/api/v1/chats/{chat}/attachments?kind=spreadsheet")).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let (status, body) = alice.get(&format!("/api/v1/chats/{chat}/attachments?cursor=garbage")).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor")));
}

#[tokio::test]
async fn a_download_has_the_sniffed_type_a_safe_disposition_and_ranges() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("dl", &[&bob]).await;
    let bytes = png();
    let photo = upload(&alice, &chat, "été.png", bytes.clone()).await;
    let page = upload(&alice, &chat, "x.html", b"<html><script>alert(1)</script></html>".to_vec()).await;
    send(&alice, &chat, None, &[&photo, &page], "dl").await;
    let id = photo["id"].as_str().unwrap();

    let direct = fetch(&bob, &format!("/api/v1/chats/{chat}/attachments/{id}/content"), None).await.status();
    assert_eq!(direct, if server.uses_s3() { StatusCode::FOUND } else { StatusCode::OK });
    let resp = download(&bob, &chat, id, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(
        resp.headers()["content-disposition"],
        "inline; filename=\"_t_.png\"; filename*=UTF-8''%C3%A9t%C3%A9.png"
    );
    if resp.url().as_str().starts_with(&bob.base) {
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.headers()["accept-ranges"], "bytes");
    }
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let resp = download(&bob, &chat, id, Some("bytes=8-15")).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-range"], format!("bytes 8-15/{}", bytes.len()).as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[8..16]);
    let resp = download(&bob, &chat, id, Some(&format!("bytes={}-", bytes.len()))).await;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Whatever it sniffs as, a page is downloaded, never shown.
    let resp = download(&bob, &chat, page["id"].as_str().unwrap(), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
}

#[tokio::test]
async fn outsiders_and_former_members_see_no_file_and_others_no_unsent_upload() {
    let server = TestServer::start().await;
    let (alice, bob, eve) = (server.login("alice").await, server.login("bob").await, server.login("eve").await);
    let chat = alice.group("private", &[&bob]).await;
    let sent = upload(&alice, &chat, "s.bin", random_bytes(20)).await;
    send(&alice, &chat, Some("x"), &[&sent], "s").await;
    let draft = upload(&alice, &chat, "d.bin", random_bytes(20)).await;
    let (sent_id, draft_id) = (sent["id"].as_str().unwrap(), draft["id"].as_str().unwrap());

    // Bob, a member, sees the sent file, not Alice's draft.
    assert_eq!(bob.get(&format!("/api/v1/chats/{chat}/attachments/{sent_id}")).await.0, StatusCode::OK);
    let (status, body) = bob.get(&format!("/api/v1/chats/{chat}/attachments/{draft_id}")).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("attachment_not_found")));
    assert_eq!(fetch(&bob, &format!("/api/v1/chats/{chat}/attachments/{draft_id}/content"), None).await.status(), 404);

    let check_outsider = |s: Session| {
        let chat = chat.clone();
        async move {
            for path in [
                format!("/api/v1/chats/{chat}/attachments"),
                format!("/api/v1/chats/{chat}/attachments/{sent_id}"),
                format!("/api/v1/chats/{chat}/attachments/{sent_id}/content"),
            ] {
                let resp = fetch(&s, &path, None).await;
                assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
                assert_eq!(resp.json::<Value>().await.unwrap()["code"], "chat_not_found", "{path}");
            }
            let (status, body) = upload_as(&s, &chat, "x.bin", "text/plain", random_bytes(10)).await;
            assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
        }
    };
    check_outsider(eve).await;
    let (status, _) = bob.delete(&format!("/api/v1/chats/{chat}/members/{}", bob.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    check_outsider(bob).await;
    let (status, _) = alice.get("/api/v1/chats/not-an-id/attachments").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// On S3 (the stack's SeaweedFS, as `deploy/local/cluster.toml` says, whatever
/// `PETIT_CHAT_TEST_CONFIG` says): the redirect's
/// URL serves the file without a token until it expires, then is refused.
#[tokio::test]
async fn a_presigned_download_url_stops_working_when_it_expires() {
    let config = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/cluster.toml");
    // Long enough for the first fetch on a loaded machine, short enough to wait out.
    const EXPIRY_SECS: u64 = 4;
    let server = TestServer::start_on(Some(&config), |c| c.blobs.url_expiry_secs = EXPIRY_SECS).await;
    assert!(server.uses_s3());
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("expiry", &[&bob]).await;
    let file = upload(&alice, &chat, "e.bin", random_bytes(1000)).await;
    send(&alice, &chat, None, &[&file], "e").await;
    let resp =
        fetch(&bob, &format!("/api/v1/chats/{chat}/attachments/{}/content", file["id"].as_str().unwrap()), None).await;
    // Signed before this moment: it expires at most EXPIRY_SECS after it.
    let signed_by = std::time::Instant::now();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let url = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(url.contains(&format!("X-Amz-Expires={EXPIRY_SECS}")), "{url}");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
    let expired_at = signed_by + std::time::Duration::from_secs(EXPIRY_SECS) + std::time::Duration::from_millis(1100);
    tokio::time::sleep_until(expired_at.into()).await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::FORBIDDEN);
}

/// A real JPEG of `width` × `height` with an EXIF block (APP1) saying "rotate 90°
/// clockwise" and carrying a location in its description.
fn jpeg_with_exif(width: u32, height: u32, secret: &str) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut plain = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut plain, image::ImageFormat::Jpeg).unwrap();
    let plain = plain.into_inner();
    let text = format!("{secret}\0");
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00\x02\x00".to_vec();
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]); // Orientation = 6
    tiff.extend_from_slice(&[0x0E, 0x01, 2, 0]); // ImageDescription, ASCII
    tiff.extend_from_slice(&(text.len() as u32).to_le_bytes());
    tiff.extend_from_slice(&38u32.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff.extend_from_slice(text.as_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A real PNG of `width` × `height`, half transparent, with a text chunk carrying `secret`.
fn png_with_text(width: u32, height: u32, secret: &str) -> Vec<u8> {
    let picture = image::RgbaImage::from_fn(width, height, |x, _| image::Rgba([200, (x % 256) as u8, 10, 128]));
    let mut plain = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut plain, image::ImageFormat::Png).unwrap();
    let plain = plain.into_inner();
    let data = format!("Comment\0{secret}");
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(data.as_bytes());
    chunk.extend_from_slice(&crc32fast::hash(&chunk[4..]).to_be_bytes());
    let ihdr_end = 8 + 25; // signature, then the IHDR chunk
    [&plain[..ihdr_end], &chunk, &plain[ihdr_end..]].concat()
}

/// The thumbnail of attachment `id`, once the workers made it (10 s at most).
async fn thumbnail_of(s: &Session, chat: &str, id: &str) -> reqwest::Response {
    let path = format!("/api/v1/chats/{chat}/attachments/{id}/thumbnail");
    for _ in 0..100 {
        let resp = fetch(s, &path, None).await;
        if resp.status() != StatusCode::NOT_FOUND {
            return resp;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no thumbnail of {id} within 10 s");
}

async fn thumbnail_bytes(s: &Session, chat: &str, id: &str) -> Vec<u8> {
    let resp = thumbnail_of(s, chat, id).await;
    let resp = if resp.status() == StatusCode::FOUND {
        reqwest::get(resp.headers()["location"].to_str().unwrap()).await.unwrap()
    } else {
        resp
    };
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("inline;"));
    resp.bytes().await.unwrap().to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn images_get_thumbnails_without_their_metadata_and_bombs_get_none() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("thumbs", &[&bob]).await;
    let secret = "GPS 48.8566N 2.3522E secret";
    let photo = upload(&alice, &chat, "photo.jpg", jpeg_with_exif(1200, 800, secret)).await;
    assert_eq!((photo["content_type"].as_str(), photo["width"].as_u64()), (Some("image/jpeg"), Some(1200)));
    let drawing = upload(&alice, &chat, "drawing.png", png_with_text(600, 300, secret)).await;
    let text = upload(&alice, &chat, "notes.txt", b"no picture here".to_vec()).await;
    // A PNG header claiming 100000 x 100000 pixels, nothing behind it.
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&100_000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 6, 0, 0, 0]);
    let crc = crc32fast::hash(&bomb[12..]);
    bomb.extend_from_slice(&crc.to_be_bytes());
    let bomb = upload(&alice, &chat, "bomb.png", bomb).await;
    assert_eq!(bomb["kind"], "image");
    let (status, _) = send(&alice, &chat, None, &[&bomb, &text], "bomb").await;
    assert_eq!(status, StatusCode::CREATED);
    // Sent later in the same chat: its thumbnail is made after the bomb was looked at.
    let (status, _) = send(&alice, &chat, Some("pictures"), &[&photo, &drawing], "pics").await;
    assert_eq!(status, StatusCode::CREATED);

    let jpeg = thumbnail_bytes(&bob, &chat, photo["id"].as_str().unwrap()).await;
    let thumb = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (267, 400), "turned as the EXIF said, longest side 400");
    assert!(!contains(&jpeg, b"Exif") && !contains(&jpeg, secret.as_bytes()), "no metadata survives");
    let png = thumbnail_bytes(&bob, &chat, drawing["id"].as_str().unwrap()).await;
    let thumb = image::load_from_memory(&png).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (400, 200));
    assert!(!contains(&png, secret.as_bytes()));

    for (what, a) in [("the bomb", &bomb), ("a text file", &text)] {
        let path = format!("/api/v1/chats/{chat}/attachments/{}/thumbnail", a["id"].as_str().unwrap());
        let resp = fetch(&bob, &path, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{what}");
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "thumbnail_not_found", "{what}");
    }
    // The server is fine after the bomb.
    assert_eq!(alice.get("/api/v1/me").await.0, StatusCode::OK);
}

/// Polls until `what` holds (up to 20 s).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not within 20 s: {what}");
}

#[tokio::test]
async fn uploads_never_sent_expire_and_their_bytes_go_unless_a_message_holds_them() {
    let server = TestServer::start_with(|c| {
        c.workers.upload_grace_secs = 2;
        c.workers.collect_interval_secs = 1;
    })
    .await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("gc", &[&bob]).await;
    let before = server.blob_count().await;
    let (kept, lonely) = (random_bytes(30_000), random_bytes(20_000));
    let sent = upload(&alice, &chat, "sent.bin", kept.clone()).await;
    assert_eq!(send(&alice, &chat, None, &[&sent], "gc-1").await.0, StatusCode::CREATED);
    let twin = upload(&alice, &chat, "twin.bin", kept.clone()).await;
    let alone = upload(&alice, &chat, "alone.bin", lonely.clone()).await;
    assert_eq!(server.blob_count().await, before + 2);

    let path = |a: &Value| format!("/api/v1/chats/{chat}/attachments/{}", a["id"].as_str().unwrap());
    eventually("the unsent uploads expire", async || alice.get(&path(&alone)).await.0 == StatusCode::NOT_FOUND).await;
    eventually("the twin expires", async || alice.get(&path(&twin)).await.0 == StatusCode::NOT_FOUND).await;
    eventually("the lone bytes are deleted", async || server.blob_count().await == before + 1).await;
    let (status, body) = alice.get(&path(&alone)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("attachment_not_found")));
    let (status, body) = send(&alice, &chat, Some("late"), &[&alone], "gc-2").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("attachment_unavailable")));

    // The sent file is whole: its message holds the bytes the twin shared.
    assert_eq!(bob.get(&path(&sent)).await.0, StatusCode::OK);
    let resp = download(&bob, &chat, sent["id"].as_str().unwrap(), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), kept.as_slice());

    // The deleted bytes uploaded again are stored again.
    let again = upload(&alice, &chat, "again.bin", lonely.clone()).await;
    assert_eq!(send(&alice, &chat, None, &[&again], "gc-3").await.0, StatusCode::CREATED);
    assert_eq!(server.blob_count().await, before + 2);
    let resp = download(&bob, &chat, again["id"].as_str().unwrap(), None).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), lonely.as_slice());
}

#[tokio::test]
async fn a_deleted_messages_files_go_with_it_unless_another_message_holds_their_bytes() {
    let server = TestServer::start_with(|c| c.workers.collect_interval_secs = 1).await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("gc", &[&bob]).await;
    let before = server.blob_count().await;
    let (shared, own) = (random_bytes(25_000), random_bytes(15_000));
    let a = upload(&alice, &chat, "a.bin", shared.clone()).await;
    let b = upload(&alice, &chat, "b.bin", own.clone()).await;
    let (status, msg) = send(&alice, &chat, Some("two files"), &[&a, &b], "del-1").await;
    assert_eq!(status, StatusCode::CREATED, "{msg}");
    let twin = upload(&bob, &chat, "twin.bin", shared.clone()).await;
    assert_eq!(send(&bob, &chat, None, &[&twin], "del-2").await.0, StatusCode::CREATED);
    assert_eq!(server.blob_count().await, before + 2);

    let (status, tomb) = bob.delete(&format!("/api/v1/chats/{chat}/signals/{}", msg["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{tomb}");
    let (status, tomb) = alice.delete(&format!("/api/v1/chats/{chat}/signals/{}", msg["id"].as_str().unwrap())).await;
    assert_eq!((status, tomb["attachments"].clone()), (StatusCode::OK, Value::Null));
    let path = |x: &Value| format!("/api/v1/chats/{chat}/attachments/{}", x["id"].as_str().unwrap());
    for gone in [&a, &b] {
        let (status, p) = bob.get(&path(gone)).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("attachment_not_found")));
        assert_eq!(download(&bob, &chat, gone["id"].as_str().unwrap(), None).await.status(), StatusCode::NOT_FOUND);
    }
    let (_, files) = bob.get(&format!("/api/v1/chats/{chat}/attachments")).await;
    let names: Vec<&str> = files["items"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["twin.bin"], "the chat's files are the remaining ones");
    eventually("the deleted file's own bytes are deleted", async || server.blob_count().await == before + 1).await;
    // The bytes another message holds stay whole.
    let resp = download(&alice, &chat, twin["id"].as_str().unwrap(), None).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), shared.as_slice());
    let (status, body) = send(&alice, &chat, Some("again"), &[&b], "del-3").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("attachment_unavailable")));
}
