//! A minimal Server-Sent Events reader: frames end at a blank line; only the `id:`,
//! `event:` and `data:` fields are kept, and comment-only frames (heartbeats) are skipped.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The event id, which resumes a stream after this event (`Last-Event-ID`).
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Turns chunks of a `text/event-stream` body into frames.
#[derive(Debug, Default)]
pub struct FrameParser {
    buf: Vec<u8>,
}

impl FrameParser {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let raw: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&raw);
            let mut event = None;
            let mut id = None;
            let mut data: Option<String> = None;
            for line in text.lines() {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim_start().to_string());
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim_start().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    match &mut data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(v);
                        }
                        None => data = Some(v.to_string()),
                    }
                }
            }
            if event.is_none() && data.is_none() {
                continue; // a heartbeat comment
            }
            return Some(Frame {
                id,
                event: event.unwrap_or_else(|| "message".into()),
                data: data.unwrap_or_default(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks_and_heartbeats_are_skipped() {
        let mut p = FrameParser::default();
        p.push(b"event: ready\ndata: {\"user_id\":1}\n\n:heartbeat\n\nid: e-1\nevent: signal.cr");
        assert_eq!(p.next_frame(), Some(Frame { id: None, event: "ready".into(), data: "{\"user_id\":1}".into() }));
        assert_eq!(p.next_frame(), None);
        p.push(b"eated\ndata: {}\n\n");
        assert_eq!(
            p.next_frame(),
            Some(Frame { id: Some("e-1".into()), event: "signal.created".into(), data: "{}".into() })
        );
        assert_eq!(p.next_frame(), None);
    }
}
