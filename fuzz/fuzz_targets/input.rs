//! Reading a fuzz input, shared by the targets (`mod input;`).

/// The little-endian u64 of the 8 bytes of `data` at `at` (missing bytes are 0).
pub fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    let available = data.get(at..).unwrap_or_default();
    let n = available.len().min(8);
    bytes[..n].copy_from_slice(&available[..n]);
    u64::from_le_bytes(bytes)
}
