//! Hash slots: CRC16 (XMODEM, as Redis's `crc16.c`) of the key, or of its
//! hash tag, modulo 16384.

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), Redis's `crc16`.
pub fn crc16(bytes: &[u8]) -> u16 {
    const TABLE: [u16; 256] = {
        let mut table = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u16) << 8;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from(((crc >> 8) as u8) ^ b)]
    })
}

/// The hash slot of `key` (Redis's `keyHashSlot`): when the key has a
/// `{...}` with at least one byte between the first `{` and the next `}`,
/// only those bytes are hashed.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) & (SLOTS as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        // The XMODEM check value (Redis's crc16.c test).
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_as_redis() {
        // From redis-cli CLUSTER KEYSLOT against redis-server 7.0.15.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user}a"), 5474);
        assert_eq!(key_slot(b"user"), 5474);
        // Empty tag: the whole key is hashed; only the first `{` counts.
        assert_eq!(key_slot(b"{}a"), crc16(b"{}a") & 16383);
        assert_eq!(key_slot(b"a{{b}}"), key_slot(b"{b"));
        assert_eq!(key_slot(b"a{b"), crc16(b"a{b") & 16383);
        assert_eq!(key_slot(b""), 0);
    }
}
