//! Times clients send: RFC 3339 date-times (`2026-12-01T09:30:00Z`, any offset, any
//! fraction of a second), what the OpenAPI document calls `format: date-time`, and full
//! dates (`2026-12-01`, `format: date`). Exactly those: the document promises that every
//! value of the format is taken. Parsed by the `time` crate.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An RFC 3339 `date-time` as Unix milliseconds (before 1970: negative). `T` and `Z` may be
/// lowercase; a leap second (`:60`) is the last millisecond of `:59`; the fraction is cut
/// to milliseconds.
pub fn parse_date_time(text: &str) -> Option<i64> {
    // `time` also takes a space between date and time (which RFC 3339 lets applications
    // allow); the `date-time` format of JSON Schema does not.
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// An RFC 3339 `full-date` (`2026-12-01`) as the Unix milliseconds of its midnight, UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    if text.len() != 10 {
        return None;
    }
    parse_date_time(&format!("{text}T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-12-01T09:30:00Z", Some(1_796_117_400_000)),
            ("2026-12-01t09:30:00z", Some(1_796_117_400_000)),
            ("2026-12-01T10:30:00+01:00", Some(1_796_117_400_000)),
            ("2026-12-01T04:00:00-05:30", Some(1_796_117_400_000)),
            ("2026-12-01T09:30:00.1239Z", Some(1_796_117_400_123)),
            ("2026-12-01T09:30:00.5+00:00", Some(1_796_117_400_500)),
            ("2016-12-31T23:59:60Z", Some(1_483_228_799_999)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
            ("1969-12-31T23:59:59Z", Some(-1000)),
            ("0001-01-01T00:00:00Z", Some(-62_135_596_800_000)),
            ("9999-12-31T23:59:59.999Z", Some(253_402_300_799_999)),
            ("2023-02-29T00:00:00Z", None),
            ("2026-13-01T00:00:00Z", None),
            ("2026-04-31T00:00:00Z", None),
            ("2026-12-01T24:00:00Z", None),
            ("2026-12-01T12:99:00Z", None),
            ("2026-12-01 09:30:00Z", None),
            ("2026-12-01T09:30:00", None),
            ("2026-12-01T09:30:00.Z", None),
            ("2026-12-01T09:30:00+0100", None),
            ("2026-12-01T09:30:00+24:00", None),
            ("2026-12-01T09:30:00Zx", None),
            ("2026-12-01", None),
            ("", None),
            ("２026-12-01T09:30:00Z", None),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_date_time(text), ms, "{text:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-12-01"), Some(1_796_083_200_000));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400_000));
        for bad in ["1900-02-29", "2026-00-10", "2026-01-00", "2026-1-01", "x2026-01-31", "2026-01-31x", ""] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }
}
