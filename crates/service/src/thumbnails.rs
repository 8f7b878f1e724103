//! Thumbnails: the `thumbnails` consumer group makes one small JPEG per image blob that a
//! message sent, off the request path. Decoding is bounded (dimensions, memory), so a
//! decompression bomb is refused, not decoded; EXIF orientation is applied and nothing of
//! the original's metadata (EXIF, GPS, ICC, comments) survives: the thumbnail is
//! re-encoded from pixels.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use domain::{AttachmentKind, BlobKey, ChatEvent, Error, ErrorKind, Event, Result, SignalBody, Thumbnail};
use futures::StreamExt;
use image::{DynamicImage, ImageDecoder, ImageReader, Rgb, RgbImage};
use ports::{BlobHolder, Blobs, Store};
use sha2::{Digest, Sha256};

use crate::workers::{DeliveryInfo, GroupHandler};

/// The consumer group of the chat-event log that makes thumbnails.
pub const THUMBNAILS_GROUP: &str = "thumbnails";
/// It reads only new messages with images: the bus never hands it the others.
pub const THUMBNAILS_INTEREST: ports::Interest = ports::Interest::Only(&[domain::EventTopic::ImageMessage]);
/// Images wider or taller than this are not decoded.
pub const MAX_SOURCE_SIDE: u32 = 16_384;
/// Memory one decode may allocate.
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;
const JPEG_QUALITY: u8 = 80;

/// A thumbnail made in memory: the JPEG's bytes and size in pixels.
#[derive(Debug)]
pub struct MadeThumbnail {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A JPEG of `image` whose longest side is at most `max_side` (never enlarged), turned as
/// its EXIF orientation says, transparency on white. An error names why none can be made.
pub fn make_thumbnail(image: &[u8], max_side: u32) -> std::result::Result<MadeThumbnail, String> {
    let mut reader = ImageReader::new(Cursor::new(image)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let orientation = decoder.orientation().map_err(|e| e.to_string())?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    picture.apply_orientation(orientation);
    if picture.width() > max_side || picture.height() > max_side {
        picture = picture.thumbnail(max_side, max_side);
    }
    let rgba = picture.to_rgba8();
    let flat = RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let on_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        Rgb([on_white(r), on_white(g), on_white(b)])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&flat)
        .map_err(|e| e.to_string())?;
    Ok(MadeThumbnail { jpeg, width: flat.width(), height: flat.height() })
}

/// The `thumbnails` group's handler. A blob with a thumbnail (or found impossible) is
/// skipped, so each is made once; a redelivered event finds it done.
pub(crate) struct Thumbnails {
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    max_side: u32,
    /// Images larger than this are not read (the upload limit).
    max_bytes: u64,
}

impl Thumbnails {
    pub(crate) fn new(store: Arc<dyn Store>, blobs: Arc<dyn Blobs>, max_side: u32, max_bytes: u64) -> Self {
        Self { store, blobs, max_side, max_bytes }
    }

    async fn make(&self, key: &BlobKey, size: u64) -> Result<()> {
        if self.store.thumbnail(key).await?.is_some() {
            return Ok(());
        }
        if size > self.max_bytes {
            return self.store.set_thumbnail(key, &Thumbnail::Impossible).await;
        }
        let mut stream = match self.blobs.read(key, None).await {
            Ok(stream) => stream,
            Err(e) if e.kind == ErrorKind::NotFound => {
                tracing::warn!(blob = %key, "thumbnails: the image's bytes are missing");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        let max_side = self.max_side;
        let made = tokio::task::spawn_blocking(move || make_thumbnail(&bytes, max_side))
            .await
            .map_err(|e| Error::internal(format!("thumbnail task failed: {e}")))?;
        let thumbnail = match made {
            Ok(made) => {
                let blob = BlobKey::from_digest(&Sha256::digest(&made.jpeg).into());
                let size = made.jpeg.len() as u64;
                // Held by its image before it is stored, as an upload holds its blob.
                if !self.store.hold_blob(&blob, &BlobHolder::ThumbnailOf(key.clone())).await? {
                    return Err(Error::unavailable("thumbnails: the collector is deleting these bytes; later"));
                }
                let mut staged = self.blobs.stage().await?;
                staged.write(Bytes::from(made.jpeg)).await?;
                staged.commit(&blob).await?;
                Thumbnail::Made { blob, width: made.width, height: made.height, size }
            }
            Err(reason) => {
                tracing::info!(blob = %key, %reason, "thumbnails: none can be made");
                Thumbnail::Impossible
            }
        };
        self.store.set_thumbnail(key, &thumbnail).await
    }
}

#[async_trait::async_trait]
impl GroupHandler for Thumbnails {
    async fn handle(&self, event: &ChatEvent, _info: DeliveryInfo<'_>) -> Result<()> {
        let Event::SignalCreated { signal, .. } = &event.event else { return Ok(()) };
        let SignalBody::Msg { attachments, .. } = &signal.signal.body else { return Ok(()) };
        let mut seen = HashSet::new();
        for a in attachments.iter().filter(|a| a.kind == AttachmentKind::Image) {
            if seen.insert(&a.sha256) {
                self.make(&a.sha256, a.size).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbaImage::from_fn(width, height, |x, _| image::Rgba([(x % 256) as u8, 0, 0, 128]));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn thumbnails_fit_the_longest_side_and_are_never_enlarged() {
        let t = make_thumbnail(&png(1000, 500), 400).unwrap();
        assert_eq!((t.width, t.height), (400, 200));
        assert_eq!(&t.jpeg[..2], &[0xFF, 0xD8], "a JPEG");
        let small = make_thumbnail(&png(30, 20), 400).unwrap();
        assert_eq!((small.width, small.height), (30, 20));
    }

    #[test]
    fn what_is_not_an_image_or_too_big_gets_none() {
        assert!(make_thumbnail(b"not an image", 400).is_err());
        // A PNG header claiming 100000 × 100000 pixels: refused before decoding.
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 6, 0, 0, 0]);
        let crc = crc32fast::hash(&bomb[12..]);
        bomb.extend_from_slice(&crc.to_be_bytes());
        let error = make_thumbnail(&bomb, 400).unwrap_err();
        assert!(error.to_lowercase().contains("limit"), "{error}");
    }
}
