//! IPv4 CIDR blocks as written in `network:` (`10.0.0.0/16`), parsed without any regex.
//!
//! Octets are decimal 0-255 without leading zeros; the prefix is 0-32. Host bits must be
//! zero: `10.0.0.1/16` is rejected with the block it probably meant (`10.0.0.0/16`).

use crate::model::Cidr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// Not `a.b.c.d/n` at all.
    Syntax,
    /// Well-formed, but bits below the prefix are set; carries the block with them cleared.
    HostBits(Cidr),
}

fn octet(text: &str) -> Option<u32> {
    let ok = !text.is_empty()
        && text.len() <= 3
        && text.chars().all(|c| c.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    ok.then(|| text.parse().ok()).flatten().filter(|n| *n <= 255)
}

/// Parses `a.b.c.d/n`.
pub fn parse(text: &str) -> Result<Cidr, CidrError> {
    let (addr, prefix) = text.split_once('/').ok_or(CidrError::Syntax)?;
    let prefix: u8 = match prefix.parse() {
        Ok(p) if p <= 32 && !prefix.starts_with('+') && (prefix == "0" || !prefix.starts_with('0')) => p,
        _ => return Err(CidrError::Syntax),
    };
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return Err(CidrError::Syntax);
    }
    let mut value = 0u32;
    for part in parts {
        value = (value << 8) | octet(part).ok_or(CidrError::Syntax)?;
    }
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    let cidr = Cidr { addr: value & mask, prefix };
    if value & !mask != 0 {
        return Err(CidrError::HostBits(cidr));
    }
    Ok(cidr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let c = parse("10.0.0.0/16").unwrap();
        assert_eq!(c, Cidr { addr: 0x0a00_0000, prefix: 16 });
        assert_eq!(c.to_string(), "10.0.0.0/16");
        assert_eq!(parse("0.0.0.0/0").unwrap().prefix, 0);
        assert_eq!(parse("10.0.1.0/24").unwrap().to_string(), "10.0.1.0/24");
    }

    #[test]
    fn rejects_bad_blocks() {
        for bad in [
            "10.0.0/16",
            "10.0.0.0",
            "10.0.0.256/16",
            "10.0.0.0/33",
            "10.0.0.01/16",
            "a.b.c.d/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            assert_eq!(parse(bad), Err(CidrError::Syntax), "{bad}");
        }
        assert_eq!(parse("10.0.0.1/16"), Err(CidrError::HostBits(parse("10.0.0.0/16").unwrap())));
    }

    #[test]
    fn containment_and_overlap() {
        let vpc = parse("10.0.0.0/16").unwrap();
        let a = parse("10.0.1.0/24").unwrap();
        let b = parse("10.0.1.128/25").unwrap();
        assert!(vpc.contains(&a) && a.overlaps(&b) && !a.contains(&vpc));
        assert!(!vpc.contains(&parse("10.1.0.0/24").unwrap()));
    }
}
