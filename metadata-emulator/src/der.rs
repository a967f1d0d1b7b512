//! Just enough DER to read the two INTEGERs of a PKCS#1 `RSAPublicKey`
//! (RFC 8017 A.1.1), which is how aws-lc-rs hands out an RSA public key.

use std::io::{Error, Result};

/// `(modulus, exponent)`, big-endian without leading zeros.
pub fn rsa_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let (body, _) = element(der, 0x30)?;
    let (n, rest) = element(body, 0x02)?;
    let (e, _) = element(rest, 0x02)?;
    Ok((strip_zeros(n), strip_zeros(e)))
}

/// Splits one tag-length-value element off `input`: `(value, rest)`.
fn element(input: &[u8], tag: u8) -> Result<(&[u8], &[u8])> {
    let bad = || Error::other("malformed RSA public key DER");
    let (&found, input) = input.split_first().ok_or_else(bad)?;
    let (&first, mut input) = input.split_first().ok_or_else(bad)?;
    if found != tag {
        return Err(bad());
    }
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return Err(bad());
        }
        let (digits, rest) = input.split_at(count);
        input = rest;
        digits.iter().fold(0, |len, &d| len << 8 | usize::from(d))
    };
    if input.len() < len {
        return Err(bad());
    }
    Ok(input.split_at(len))
}

fn strip_zeros(integer: &[u8]) -> Vec<u8> {
    let start = integer.iter().take_while(|&&b| b == 0).count();
    integer[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_form_integers_and_strips_sign_bytes() {
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x03];
        assert_eq!(rsa_public_key(&der).expect("valid"), (vec![0x80], vec![0x03]));
    }

    #[test]
    fn reads_long_form_lengths() {
        let mut der = vec![0x30, 0x81, 0x86, 0x02, 0x81, 0x80];
        der.extend([0xab; 0x80]);
        der.extend([0x02, 0x01, 0x03]);
        let (n, e) = rsa_public_key(&der).expect("valid");
        assert_eq!((n.len(), e), (0x80, vec![0x03]));
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(rsa_public_key(&[0x30, 0x05, 0x02, 0x01]).is_err());
        assert!(rsa_public_key(&[]).is_err());
    }
}
