//! The `Last-Event-ID` a client sends when it reopens its event stream, as every bus reads
//! it back into a position of its per-user log: `ports::bus::parse_event_id`, for ids of
//! the form `<epoch>-<sequence>` (`ports::bus::event_id`) that bus-local (a process's
//! epoch) and bus-nats (a stream's epoch) both give.
//!
//! Input: 8 bytes of epoch, 8 bytes of sequence (little-endian), then the text of an id.
//!
//! Asserts: the id of any sequence, under an epoch written in hex as the buses write
//! theirs, reads back to that sequence, and not under another epoch; any text reads as a
//! sequence only when it is `<the epoch>-<that sequence>` in ASCII digits, and every such
//! text that fits a u64 does.

#![no_main]

mod input;

use libfuzzer_sys::fuzz_target;
use ports::bus::{event_id, parse_event_id};

fuzz_target!(|data: &[u8]| {
    let number = |at: usize| input::u64_at(data, at);
    let (epoch_number, seq) = (number(0), number(8));
    // bus-nats' epoch is a stream's creation in hex; bus-local's 8 hex digits of a u32.
    check_round_trip(&format!("{epoch_number:x}"), &format!("{:x}", epoch_number ^ 1), seq);
    check_round_trip(&format!("{:08x}", epoch_number as u32), &format!("{:08x}", (epoch_number as u32) ^ 1), seq);

    let Ok(text) = std::str::from_utf8(data.get(16..).unwrap_or_default()) else { return };
    // A fixed epoch, which the seeds name, and the text's own (everything before its first
    // `-`), so that the sequence part of any text is read.
    check_text(text, "18f");
    if let Some((own_epoch, _)) = text.split_once('-') {
        check_text(text, own_epoch);
    }
});

fn check_round_trip(epoch: &str, other_epoch: &str, seq: u64) {
    let id = event_id(epoch, seq);
    assert_eq!(parse_event_id(&id, epoch), Some(seq), "{id:?}");
    assert_eq!(parse_event_id(&id, other_epoch), None, "{id:?} read under epoch {other_epoch:?}");
}

fn check_text(text: &str, epoch: &str) {
    let digits = text.split_once('-').filter(|(e, _)| *e == epoch).map(|(_, seq)| seq);
    let is_sequence = digits.filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    match parse_event_id(text, epoch) {
        Some(seq) => {
            assert_eq!(is_sequence.map(str::parse::<u64>), Some(Ok(seq)), "{text:?} read as {seq}");
            assert_eq!(parse_event_id(&event_id(epoch, seq), epoch), Some(seq));
        }
        None => assert!(is_sequence.is_none_or(|d| d.parse::<u64>().is_err()), "{text:?} refused (epoch {epoch:?})"),
    }
}
